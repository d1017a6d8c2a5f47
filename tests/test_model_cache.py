"""ModelCache: a valid cache verifies; every kind of damage gives ModelMissingError with the fix.

Most tests build a small synthetic cache (the cache never parses ONNX, it checks size and sha256),
so they run without the real models. The last group damages a temporary copy of the real cache at
Settings().model_dir when it exists; the real one is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from server.errors import InvalidInputError, ModelMissingError
from server.pose import model_sources, prepare
from server.pose.models import MANIFEST_NAME, MODEL_NAMES, ModelCache
from server.settings import Settings

COMMAND = "liftstream models prepare"


def _record(root: Path, rel: str, payload: bytes) -> dict[str, object]:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return {"file": rel, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}


def _synthetic_cache(root: Path, names: tuple[str, ...]) -> Path:
    models: dict[str, object] = {}
    for i, name in enumerate(names):
        models[name] = {
            "onnx": _record(root, f"{name}.onnx", f"onnx-{name}-{i}".encode() * 100),
            "tflite": _record(root, f"sources/{name}.tflite", f"tfl-{name}".encode() * 50),
            "source": {"registry": "pypi", "package": "mediapipe", "version": "0.10.14"},
            "converter_version": "1",
            "license": "Apache-2.0",
        }
    manifest = {"format": 1, "converter_version": "1", "models": models}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return root


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return _synthetic_cache(tmp_path / "models", ("pose_detection", "pose_landmark_full"))


def test_valid_cache_verifies_and_gives_paths(cache_dir: Path) -> None:
    cache = ModelCache(cache_dir)
    cache.verify("pose_detection")
    assert cache.onnx_path("pose_landmark_full") == cache_dir / "pose_landmark_full.onnx"
    assert cache.tflite_path("pose_detection") == cache_dir / "sources/pose_detection.tflite"
    assert cache.available_variants() == ["full"]
    assert set(cache.manifest()["models"]) == {"pose_detection", "pose_landmark_full"}


def test_all_variants_listed_in_order(tmp_path: Path) -> None:
    cache = ModelCache(_synthetic_cache(tmp_path, MODEL_NAMES))
    assert cache.available_variants() == ["lite", "full", "heavy"]


def _assert_missing(exc: pytest.ExceptionInfo[ModelMissingError], *needles: str) -> None:
    message = str(exc.value)
    assert COMMAND in message
    for needle in needles:
        assert needle in message, message


def test_missing_dir(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "nowhere")
    with pytest.raises(ModelMissingError) as exc:
        cache.onnx_path("pose_detection")
    _assert_missing(exc, MANIFEST_NAME)
    assert cache.available_variants() == []


def test_missing_file(cache_dir: Path) -> None:
    (cache_dir / "pose_landmark_full.onnx").unlink()
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(cache_dir).verify("pose_landmark_full")
    _assert_missing(exc, "pose_landmark_full.onnx", "missing")
    assert ModelCache(cache_dir).available_variants() == []


def test_variant_not_prepared_names_the_flag(cache_dir: Path) -> None:
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(cache_dir).onnx_path("pose_landmark_heavy")
    _assert_missing(exc, "pose_landmark_heavy", "--variant heavy")


def test_unknown_name_rejected(cache_dir: Path) -> None:
    with pytest.raises(ModelMissingError, match="pose_landmark_huge"):
        ModelCache(cache_dir).verify("pose_landmark_huge")


def test_truncated_file(cache_dir: Path) -> None:
    path = cache_dir / "pose_detection.onnx"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(cache_dir).verify("pose_detection")
    _assert_missing(exc, "pose_detection.onnx", "truncated")


def test_same_size_garbage(cache_dir: Path) -> None:
    path = cache_dir / "pose_landmark_full.onnx"
    path.write_bytes(b"\x00" * path.stat().st_size)
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(cache_dir).onnx_path("pose_landmark_full")
    _assert_missing(exc, "pose_landmark_full.onnx", "sha256")


def test_damage_after_a_good_check_is_still_caught(cache_dir: Path) -> None:
    cache = ModelCache(cache_dir)
    cache.verify("pose_landmark_full")
    path = cache_dir / "pose_landmark_full.onnx"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelMissingError, match="sha256"):
        cache.verify("pose_landmark_full")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"format": 99, "models": {}}',
        b'{"format": 1}',
    ],
    ids=["syntax", "binary", "list", "format", "no-models"],
)
def test_corrupt_manifest(cache_dir: Path, content: bytes) -> None:
    (cache_dir / MANIFEST_NAME).write_bytes(content)
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(cache_dir).verify("pose_detection")
    _assert_missing(exc, MANIFEST_NAME)


def test_bad_record_in_manifest(cache_dir: Path) -> None:
    manifest = json.loads((cache_dir / MANIFEST_NAME).read_text())
    manifest["models"]["pose_detection"]["onnx"]["file"] = "../../etc/passwd"
    (cache_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(cache_dir).verify("pose_detection")
    _assert_missing(exc, "corrupt")


# --- the real cache, damaged in a temporary copy -------------------------------------------------


@pytest.fixture
def real_cache_copy(tmp_path: Path) -> Path:
    real = Settings().model_dir
    try:
        ModelCache(real).verify("pose_detection")
    except ModelMissingError as exc:
        pytest.skip(f"no valid model cache at {real} ({exc}); run `{COMMAND}` first")
    copy = tmp_path / "copy"
    shutil.copytree(real, copy, ignore=shutil.ignore_patterns("sources", "pose_landmark_heavy*"))
    return copy


def test_real_cache_copy_valid(real_cache_copy: Path) -> None:
    cache = ModelCache(real_cache_copy)
    cache.verify("pose_detection")
    assert "full" in cache.available_variants()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete", "manifest"])
def test_real_cache_copy_damaged(real_cache_copy: Path, damage: str) -> None:
    target = real_cache_copy / "pose_detection.onnx"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "garbage":
        target.write_bytes(bytes(range(256)) * (target.stat().st_size // 256))
    elif damage == "delete":
        target.unlink()
    else:
        (real_cache_copy / MANIFEST_NAME).write_text('{"format": 1, "models": {"pose_det')
    with pytest.raises(ModelMissingError) as exc:
        ModelCache(real_cache_copy).onnx_path("pose_detection")
    _assert_missing(exc, MANIFEST_NAME if damage == "manifest" else "pose_detection.onnx")


# --- `liftstream models prepare` without the network (sources from the real cache) -------------

SMALL = ("pose_detection", "pose_landmark_full")


def _no_network(tmp: Path, members: list[str]) -> dict[str, bytes]:
    raise AssertionError(f"prepare tried to download {members}")


@pytest.fixture
def small_cache(tmp_path: Path) -> Path:
    """A copy of the real cache holding only the detector and the full model (fast to copy)."""
    real = Settings().model_dir
    try:
        for name in SMALL:
            ModelCache(real).tflite_path(name)
    except ModelMissingError as exc:
        pytest.skip(f"no valid model cache at {real} ({exc}); run `{COMMAND}` first")
    copy = tmp_path / "small"
    (copy / "sources").mkdir(parents=True)
    for name in SMALL:
        for rel in (f"{name}.onnx", f"sources/{name}.tflite"):
            shutil.copy2(real / rel, copy / rel)
    shutil.copy2(real / MANIFEST_NAME, copy / MANIFEST_NAME)
    return copy


def test_prepare_valid_cache_is_a_no_op(
    small_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.stat().st_mtime_ns for p in small_cache.rglob("*")}
    fetchers = {"pypi": _no_network, "npm": _no_network}
    assert prepare.prepare(small_cache, ["full"], fetchers=fetchers) == []
    assert {p: p.stat().st_mtime_ns for p in small_cache.rglob("*")} == before
    assert prepare.cli_prepare(Settings(model_dir=small_cache), ["full"], force=False) == 0
    assert f"models ready in {small_cache}" in capsys.readouterr().out


def test_prepare_rebuilds_missing_and_corrupt_from_kept_sources(small_cache: Path) -> None:
    (small_cache / "pose_detection.onnx").unlink()
    full = small_cache / "pose_landmark_full.onnx"
    good = full.read_bytes()
    full.write_bytes(good[: len(good) // 3])
    stale = small_cache / "sources" / ".pose_landmark_full.onnx.x1.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))  # from a run an hour ago
    fetchers = {"pypi": _no_network, "npm": _no_network}
    assert prepare.prepare(small_cache, ["full"], fetchers=fetchers) == list(SMALL)
    cache = ModelCache(small_cache)
    cache.verify("pose_detection")
    assert cache.onnx_path("pose_landmark_full").read_bytes() == good
    assert not list(small_cache.rglob("*.tmp"))
    assert "Apache" in (small_cache / "LICENSE-MODELS.txt").read_text()


def test_prepare_downloads_once_per_registry_into_empty_dir(
    small_cache: Path, tmp_path: Path
) -> None:
    sources = {
        model_sources.SOURCES[n].member: (small_cache / f"sources/{n}.tflite").read_bytes()
        for n in SMALL
    }
    calls: list[list[str]] = []

    def fake_pypi(tmp: Path, members: list[str]) -> dict[str, bytes]:
        calls.append(members)
        return {m: sources[m] for m in members}

    target = tmp_path / "fresh"
    built = prepare.prepare(target, ["full"], fetchers={"pypi": fake_pypi, "npm": _no_network})
    assert built == list(SMALL)
    assert calls == [[model_sources.SOURCES[n].member for n in SMALL]]
    manifest = ModelCache(target).manifest()
    entry = manifest["models"]["pose_landmark_full"]
    assert entry["source"] == {"registry": "pypi", "package": "mediapipe", "version": "0.10.14",
                               "member": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"}  # fmt: skip
    assert entry["license"] == "Apache-2.0"
    assert (
        entry["tflite"]["sha256"] == hashlib.sha256(sources[entry["source"]["member"]]).hexdigest()
    )
    assert ModelCache(target).available_variants() == ["full"]


def test_prepare_failure_keeps_finished_models_valid(small_cache: Path, tmp_path: Path) -> None:
    good = (small_cache / "sources/pose_detection.tflite").read_bytes()

    def half_broken(tmp: Path, members: list[str]) -> dict[str, bytes]:
        # The landmark model arrives as garbage: its conversion must fail after the detector's.
        return {m: good if "pose_detection" in m else b"garbage" * 10 for m in members}

    target = tmp_path / "partial"
    with pytest.raises(InvalidInputError):
        prepare.prepare(target, ["full"], fetchers={"pypi": half_broken, "npm": _no_network})
    cache = ModelCache(target)
    cache.verify("pose_detection")
    with pytest.raises(ModelMissingError, match="pose_landmark_full"):
        cache.verify("pose_landmark_full")
    assert not (target / "sources/pose_landmark_full.tflite").exists()
    assert not list(target.rglob("*.tmp"))


def test_prepare_lite_without_npm_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(prepare.shutil, "which", lambda name: None)
    with pytest.raises(ModelMissingError, match="npm"):
        prepare.prepare(tmp_path, ["lite"], fetchers={})


def test_pip_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(model_sources.sys, "executable", "/bin/false")
    with pytest.raises(ModelMissingError, match=r"mediapipe==0\.10\.14.*exit 1"):
        model_sources.fetch_pypi(tmp_path, ["x"])
    monkeypatch.setattr(model_sources.sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(ModelMissingError, match="not found"):
        model_sources.fetch_pypi(tmp_path, ["x"])


def test_status_reports_cache(small_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert prepare.cli_status(Settings(model_dir=small_cache)) == 0
    out = capsys.readouterr().out
    assert "pose_landmark_full" in out and "ok" in out
    assert prepare.cli_status(Settings(model_dir=small_cache / "absent")) == 1


def test_npm_failure_still_builds_the_pypi_models(
    small_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare.shutil, "which", lambda name: f"/usr/bin/{name}")
    sources = {
        model_sources.SOURCES[n].member: (small_cache / f"sources/{n}.tflite").read_bytes()
        for n in SMALL
    }

    def npm_down(tmp: Path, members: list[str]) -> dict[str, bytes]:
        raise ModelMissingError("downloading @mediapipe/pose from npm failed (test)")

    target = tmp_path / "npm-down"
    fetchers = {"pypi": lambda tmp, members: {m: sources[m] for m in members}, "npm": npm_down}
    with pytest.raises(ModelMissingError, match="npm"):
        prepare.prepare(target, None, fetchers=fetchers)
    assert ModelCache(target).available_variants() == ["full"]
    ModelCache(target).verify("pose_detection")
