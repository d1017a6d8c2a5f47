"""The converted-model cache: where each ONNX file lives and whether it can be trusted.

`liftstream models prepare` (server/pose/prepare.py) fills a folder with the converted models, the
tflite sources they came from, and `manifest.json`, which records a sha256 for every file. This
module only reads that folder: a model is usable when its file exists and hashes to the value in
the manifest. Anything else (missing file, unreadable manifest, truncated or replaced file) raises
ModelMissingError naming the file and the command that rebuilds it, so a server never starts on a
half-written or foreign model.

Manifest layout (format 1)::

    {
      "format": 1,
      "converter_version": "1",
      "models": {
        "pose_landmark_full": {
          "onnx":   {"file": "pose_landmark_full.onnx", "sha256": "<hex>", "size": 12800000},
          "tflite": {"file": "sources/pose_landmark_full.tflite", "sha256": "<hex>", "size": 6440512},
          "source": {"registry": "pypi", "package": "mediapipe", "version": "0.10.14",
                     "member": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"},
          "converter_version": "1",
          "license": "Apache-2.0"
        },
        ...
      }
    }
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.errors import ModelMissingError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
DETECTOR = "pose_detection"
LANDMARK_VARIANTS: tuple[str, ...] = ("lite", "full", "heavy")
MODEL_NAMES: tuple[str, ...] = (DETECTOR, *(f"pose_landmark_{v}" for v in LANDMARK_VARIANTS))
PREPARE_HINT = "run `liftstream models prepare` to build the model cache"


def landmark_model_name(variant: str) -> str:
    """ "full" -> "pose_landmark_full"; rejects unknown variants."""
    if variant not in LANDMARK_VARIANTS:
        raise ModelMissingError(
            f"unknown landmark variant {variant!r}; expected one of {', '.join(LANDMARK_VARIANTS)}"
        )
    return f"pose_landmark_{variant}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (the heavy model is ~55 MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _variant_flag(name: str) -> str:
    # A missing landmark variant is usually lite/heavy skipped for lack of npm: say which flag.
    if name == DETECTOR:
        return ""
    return f" (this model: `liftstream models prepare --variant {name.rsplit('_', 1)[1]}`)"


@dataclass(frozen=True)
class FileRecord:
    """One file of the cache as the manifest records it: path relative to the cache, hex sha256,
    size in bytes."""

    file: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "size": self.size}


def _file_record(entry: object, where: str, manifest_path: Path) -> FileRecord:
    if not isinstance(entry, dict):
        raise ModelMissingError(
            f"{manifest_path} is corrupt: {where} is not an object; {PREPARE_HINT}"
        )
    file, digest, size = entry.get("file"), entry.get("sha256"), entry.get("size")
    ok = (
        isinstance(file, str)
        and file
        and not Path(file).is_absolute()
        and ".." not in Path(file).parts
        and isinstance(digest, str)
        and len(digest) == 64
        and isinstance(size, int)
        and size >= 0
    )
    if not ok:
        raise ModelMissingError(
            f"{manifest_path} is corrupt: bad file record at {where} ({entry!r}); {PREPARE_HINT}"
        )
    assert isinstance(file, str) and isinstance(digest, str) and isinstance(size, int)
    return FileRecord(file=file, sha256=digest.lower(), size=size)


class ModelCache:
    """Read-only view of the model folder (Settings.model_dir).

    Hash checks are remembered per (file, size, mtime) so a process that asks for the same model
    several times hashes it once.
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        self._verified: dict[Path, tuple[int, int, str]] = {}

    @property
    def manifest_path(self) -> Path:
        return self.model_dir / MANIFEST_NAME

    def manifest(self) -> dict[str, Any]:
        """The parsed manifest; ModelMissingError when it is absent, unreadable or malformed."""
        path = self.manifest_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelMissingError(f"model manifest {path} not found; {PREPARE_HINT}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelMissingError(
                f"model manifest {path} unreadable ({exc}); {PREPARE_HINT}"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelMissingError(
                f"model manifest {path} is corrupt ({exc}); {PREPARE_HINT}"
            ) from None
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ModelMissingError(
                f"model manifest {path} is corrupt or of an unknown format; {PREPARE_HINT}"
            )
        if not isinstance(data.get("models"), dict):
            raise ModelMissingError(f"model manifest {path} has no 'models' table; {PREPARE_HINT}")
        return data

    def _entry(self, name: str) -> dict[str, Any]:
        if name not in MODEL_NAMES:
            raise ModelMissingError(
                f"unknown model name {name!r}; expected one of {', '.join(MODEL_NAMES)}"
            )
        models = self.manifest()["models"]
        entry = models.get(name)
        if not isinstance(entry, dict):
            raise ModelMissingError(
                f"model {name} ({self.model_dir / (name + '.onnx')}) is not in the cache; "
                f"{PREPARE_HINT}{_variant_flag(name)}"
            )
        return entry

    def onnx_record(self, name: str) -> FileRecord:
        """The manifest's record of the ONNX file for `name` (not verified)."""
        return _file_record(
            self._entry(name).get("onnx"), f"models.{name}.onnx", self.manifest_path
        )

    def tflite_record(self, name: str) -> FileRecord:
        """The manifest's record of the tflite source kept for `name` (not verified)."""
        return _file_record(
            self._entry(name).get("tflite"), f"models.{name}.tflite", self.manifest_path
        )

    def _check(self, record: FileRecord) -> Path:
        path = self.model_dir / record.file
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ModelMissingError(f"model file {path} is missing; {PREPARE_HINT}") from None
        if not path.is_file():
            raise ModelMissingError(f"model file {path} is not a regular file; {PREPARE_HINT}")
        if stat.st_size != record.size:
            raise ModelMissingError(
                f"model file {path} has {stat.st_size} bytes, the manifest says {record.size} "
                f"(truncated or replaced); {PREPARE_HINT}"
            )
        key = (stat.st_size, stat.st_mtime_ns, record.sha256)
        if self._verified.get(path) == key:
            return path
        actual = sha256_file(path)
        if actual != record.sha256:
            raise ModelMissingError(
                f"model file {path} is corrupt: sha256 {actual[:12]}… does not match the manifest's "
                f"{record.sha256[:12]}…; {PREPARE_HINT}"
            )
        self._verified[path] = key
        return path

    def verify(self, name: str) -> None:
        """Raise ModelMissingError unless `name`'s ONNX file exists and matches the manifest."""
        self._check(self.onnx_record(name))

    def onnx_path(self, name: str) -> Path:
        """Path of the verified ONNX file for `name` ("pose_detection", "pose_landmark_full", ...).

        Verifies it first (size and sha256 against the manifest), so the returned path is safe to
        hand to onnxruntime.
        """
        return self._check(self.onnx_record(name))

    def tflite_path(self, name: str) -> Path:
        """Path of the verified original tflite file for `name` (kept for parity tests/rebuilds)."""
        return self._check(self.tflite_record(name))

    def available_variants(self) -> list[str]:
        """Landmark variants ("lite", "full", "heavy", in that order) whose ONNX file verifies.

        Empty when the manifest is missing or corrupt: this is a query, not a check; call
        verify() or onnx_path() to get the reason.
        """
        found: list[str] = []
        for variant in LANDMARK_VARIANTS:
            try:
                self.verify(landmark_model_name(variant))
            except ModelMissingError:
                continue
            found.append(variant)
        return found
