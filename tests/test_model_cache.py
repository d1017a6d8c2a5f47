"""ModelCache: a valid cache verifies; every kind of damage gives ModelMissingError with the fix.

Most tests build a small synthetic cache (the cache never parses ONNX, it checks size and sha256),
so they run without the real models. The last group damages a temporary copy of the real cache at
Settings().model_dir when it exists; the real one is never touched.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from server.errors import ModelMissingError
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
