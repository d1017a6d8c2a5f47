"""`liftstream models prepare | status`: fetch BlazePose with the ordinary package clients, convert
it to ONNX and keep a verified cache in Settings.model_dir.

Sources (model_sources.py; never installed, only downloaded and read as archives):
  PyPI `mediapipe==0.10.14` wheel: the detector and the full landmark model;
  npm `@mediapipe/pose@0.5.1675469404` tarball (only when `npm` is on PATH): lite and heavy.

Every file is written through a temp file and a rename, and the manifest (which holds each file's
sha256) is rewritten after each model, so an interrupted run leaves either a model the manifest
vouches for or one that fails verification and is rebuilt next time. The tflite sources are kept
in `sources/` so a rebuild (say after a converter change) needs no network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

from server.errors import ModelMissingError
from server.pose.convert import CONVERTER_VERSION, atomic_write, convert_tflite
from server.pose.model_sources import FETCHERS, NPM_PACKAGE, NPM_VERSION, SOURCES, Fetcher
from server.pose.models import (
    DETECTOR,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    FileRecord,
    ModelCache,
    landmark_model_name,
)
from server.settings import Settings

LICENSE_NAME = "LICENSE-MODELS.txt"
LICENSE = "Apache-2.0"
STALE_TEMP_S = 600

log = logging.getLogger(__name__)


def _load_manifest(cache: ModelCache) -> dict[str, Any]:
    # A corrupt or missing manifest is simply a cache to rebuild, not an error here.
    try:
        return cache.manifest()
    except ModelMissingError:
        return {"format": MANIFEST_FORMAT, "converter_version": CONVERTER_VERSION, "models": {}}


def _is_current(cache: ModelCache, name: str) -> bool:
    try:
        entry = cache.manifest()["models"][name]
        cache.verify(name)
        cache.tflite_path(name)
    except (ModelMissingError, KeyError, TypeError):
        return False
    return isinstance(entry, dict) and entry.get("converter_version") == CONVERTER_VERSION


def _kept_source(cache: ModelCache, name: str) -> bytes | None:
    """The tflite bytes kept in sources/ when they still match the manifest (no download)."""
    try:
        return cache.tflite_path(name).read_bytes()
    except ModelMissingError:
        return None


def _license_text(manifest: dict[str, Any]) -> str:
    packages = sorted(
        {
            f"{m['source']['package']}=={m['source']['version']} ({m['source']['registry']})"
            for m in manifest["models"].values()
        }
    )
    lines = [
        "The model files in this folder are converted from Google's MediaPipe BlazePose models.",
        "They were obtained from these packages, whose metadata gives the licence as Apache-2.0:",
        "",
        *(f"  - {p}" for p in packages),
        "",
        "Copyright Google LLC. Licensed under the Apache License, Version 2.0 (the",
        '"License"); you may not use these files except in compliance with the License. You may',
        "obtain a copy of the License at http://www.apache.org/licenses/LICENSE-2.0",
        "",
        "Unless required by applicable law or agreed to in writing, software distributed under",
        'the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY',
        "KIND, either express or implied. See the License for the specific language governing",
        "permissions and limitations under the License.",
        "",
        "Modifications: converted from TensorFlow Lite to ONNX by LiftStream's own converter",
        f"(server/pose/convert.py, version {CONVERTER_VERSION}); float16 weights widened to",
        "float32, sparse weights densified, layout changed to NCHW inside the graph.",
        "",
    ]
    return "\n".join(lines)


def _write_manifest(model_dir: Path, manifest: dict[str, Any]) -> None:
    manifest["converter_version"] = CONVERTER_VERSION
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(model_dir / MANIFEST_NAME, text.encode())
    atomic_write(model_dir / LICENSE_NAME, _license_text(manifest).encode())


def _build_one(model_dir: Path, name: str, tflite_bytes: bytes) -> dict[str, Any]:
    source = SOURCES[name]
    tflite_rel = f"sources/{PurePosixPath(source.member).name}"
    onnx_bytes = convert_tflite(tflite_bytes).SerializeToString()  # fails before any write
    onnx_rel = f"{name}.onnx"
    atomic_write(model_dir / tflite_rel, tflite_bytes)
    atomic_write(model_dir / onnx_rel, onnx_bytes)
    return {
        "onnx": FileRecord(
            onnx_rel, hashlib.sha256(onnx_bytes).hexdigest(), len(onnx_bytes)
        ).to_json(),
        "tflite": FileRecord(
            tflite_rel, hashlib.sha256(tflite_bytes).hexdigest(), len(tflite_bytes)
        ).to_json(),
        "source": source.to_json(),
        "converter_version": CONVERTER_VERSION,
        "license": LICENSE,
    }


def _remove_stale_temps(model_dir: Path) -> None:
    # Temp files of an interrupted atomic write; young ones may belong to a run in progress.
    cutoff = time.time() - STALE_TEMP_S
    for stale in model_dir.glob("**/.*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except FileNotFoundError:
            pass


def _wanted(variants: list[str] | None) -> list[str]:
    if variants:
        chosen = [v for v in ("lite", "full", "heavy") if v in variants]
        for v in variants:
            landmark_model_name(v)  # rejects unknown names
    elif shutil.which("npm"):
        chosen = ["lite", "full", "heavy"]
    else:
        print(
            "npm not found on PATH: preparing only the full landmark model (lite and heavy come from npm)"
        )
        chosen = ["full"]
    if any(v in ("lite", "heavy") for v in chosen) and not shutil.which("npm"):
        raise ModelMissingError(
            "the lite and heavy landmark models come from the npm package "
            f"{NPM_PACKAGE}@{NPM_VERSION} and `npm` is not on PATH; install Node.js/npm or use --variant full"
        )
    return [DETECTOR, *(landmark_model_name(v) for v in chosen)]


def prepare(
    model_dir: Path,
    variants: list[str] | None = None,
    force: bool = False,
    fetchers: dict[str, Fetcher] | None = None,
) -> list[str]:
    """Make `model_dir` hold verified ONNX files for the detector and the chosen variants.

    Returns the model names that were (re)built; empty when the cache was already valid.
    `fetchers` replaces the registry downloads (tests).
    """
    fetch = FETCHERS if fetchers is None else fetchers
    names = _wanted(variants)
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(model_dir)
    cache = ModelCache(model_dir)
    todo = [n for n in names if force or not _is_current(cache, n)]
    if not todo:
        return []
    manifest = _load_manifest(cache)

    def build(name: str, tflite_bytes: bytes) -> None:
        log.info("converting %s", name)
        manifest["models"][name] = _build_one(model_dir, name, tflite_bytes)
        _write_manifest(model_dir, manifest)  # after each model, so progress survives a crash

    # Kept sources first (no network), then one download per registry, PyPI before npm, so a
    # failing npm still leaves the detector and the full model built.
    by_registry: dict[str, list[str]] = {}
    for name in todo:
        kept = None if force else _kept_source(cache, name)
        if kept is not None:
            build(name, kept)
        else:
            by_registry.setdefault(SOURCES[name].registry, []).append(name)
    for registry in sorted(by_registry, key=lambda r: r != "pypi"):
        wanted = by_registry[registry]
        package = f"{SOURCES[wanted[0]].package}=={SOURCES[wanted[0]].version}"
        log.info("downloading %s from %s for %s", package, registry, ", ".join(wanted))
        with tempfile.TemporaryDirectory(prefix="liftstream-models-") as tmp:
            got = fetch[registry](Path(tmp), [SOURCES[n].member for n in wanted])
        for name in wanted:
            build(name, got[SOURCES[name].member])
    return todo


def cli_prepare(settings: Settings, variants: list[str] | None, force: bool) -> int:
    start = time.monotonic()
    built = prepare(settings.model_dir, variants, force)
    cache = ModelCache(settings.model_dir)
    for name in built:
        record = cache.onnx_record(name)
        print(f"built {record.file} ({record.size / 1e6:.1f} MB)")
    print(f"models ready in {settings.model_dir} ({time.monotonic() - start:.1f} s)")
    return 0


def cli_status(settings: Settings) -> int:
    """Print each cached model with size, source and whether it verifies; 1 if none usable."""
    cache = ModelCache(settings.model_dir)
    try:
        manifest = cache.manifest()
    except ModelMissingError as exc:
        print(exc)
        return 1
    print(f"model cache {settings.model_dir} (converter {manifest.get('converter_version')})")
    for name, entry in sorted(manifest["models"].items()):
        try:
            record = cache.onnx_record(name)
            cache.verify(name)
        except ModelMissingError as exc:
            print(f"  {name}: {exc}")
            continue
        src = entry.get("source", {})
        print(
            f"  {name:22s} ok {record.size / 1e6:6.1f} MB sha256 {record.sha256[:12]} "
            f"from {src.get('package')}=={src.get('version')} ({src.get('registry')})"
        )
    variants = cache.available_variants()
    print(f"landmark variants available: {', '.join(variants) or 'none'}")
    try:
        cache.verify(DETECTOR)
    except ModelMissingError:
        return 1
    return 0 if variants else 1
