"""Helpers for tests that run the converted pose models: the real cache (or a skip naming the
command that builds it), model inputs from clips or drawn images, runtime sessions, and raw
detector outputs written by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from server.errors import ModelMissingError
from server.pose.anchors import ssd_anchors
from server.pose.models import ModelCache
from server.settings import Settings

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256


def real_cache_or_skip(name: str) -> ModelCache:
    """The cache at Settings().model_dir with `name` verified; skips the test otherwise."""
    model_dir = Settings().model_dir
    cache = ModelCache(model_dir)
    try:
        cache.verify(name)
        cache.tflite_path(name)
    except ModelMissingError as exc:
        pytest.skip(
            f"{name} not in the model cache at {model_dir}: run `liftstream models prepare` ({exc})"
        )
    return cache


def read_frames(path: Path, indices: list[int]) -> list[NDArray[np.uint8]]:
    """RGB frames (H, W, 3) uint8 at the given frame indices of a video file."""
    capture = cv2.VideoCapture(str(path))
    frames: list[NDArray[np.uint8]] = []
    try:
        for index in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
            if not ok:
                raise AssertionError(f"cannot read frame {index} of {path}")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames


def letterbox(rgb: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Scale the whole frame into a size x size square, aspect kept, black border."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size, 3), np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out


def detector_input(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(224, 224, 3) float32 in [-1, 1] from a frame (letterboxed)."""
    return (letterbox(rgb, DETECTOR_SIZE).astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def landmark_input(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(256, 256, 3) float32 in [0, 1] from a frame or crop (plain resize)."""
    resized = cv2.resize(rgb, (LANDMARK_SIZE, LANDMARK_SIZE), interpolation=cv2.INTER_AREA)
    return (resized.astype(np.float32) / 255.0).astype(np.float32)


def stick_figure(size: int = 480) -> NDArray[np.uint8]:
    """A drawn, non-random test image: a standing stick figure holding a bar, plates at its ends,
    on a floor and a gradient wall (RGB uint8, size x size)."""
    img = np.zeros((size, size, 3), np.uint8)
    img[..., 0] = np.linspace(60, 200, size, dtype=np.uint8)[:, None]
    img[..., 2] = np.linspace(180, 90, size, dtype=np.uint8)[None, :]
    s = size / 480
    pts = {k: (int(x * s), int(y * s)) for k, (x, y) in {
        "head": (240, 90), "neck": (240, 130), "hip": (240, 260), "lknee": (220, 340),
        "rknee": (262, 340), "lfoot": (215, 420), "rfoot": (268, 420), "lhand": (180, 250),
        "rhand": (300, 250), "lelbow": (200, 190), "relbow": (282, 190),
    }.items()}  # fmt: skip
    cv2.rectangle(img, (0, int(420 * s)), (size, size), (90, 70, 50), -1)
    cv2.circle(img, pts["head"], int(28 * s), (230, 190, 160), -1)
    for a, b in [("neck", "hip"), ("hip", "lknee"), ("hip", "rknee"), ("lknee", "lfoot"),
                 ("rknee", "rfoot"), ("neck", "lelbow"), ("neck", "relbow"),
                 ("lelbow", "lhand"), ("relbow", "rhand")]:  # fmt: skip
        cv2.line(img, pts[a], pts[b], (40, 60, 160), int(18 * s))
    cv2.line(
        img, (int(100 * s), pts["lhand"][1]), (int(380 * s), pts["rhand"][1]), (200, 200, 200), 5
    )
    for x in (100, 380):
        cv2.circle(img, (int(x * s), pts["lhand"][1]), int(45 * s), (30, 30, 30), -1)
    return img


def onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    # Sessions alternating on 2 cores spin against each other without this (pose-model.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class TfliteRunner:
    """The original model in the LiteRT interpreter, one image at a time (batch 1 is fixed)."""

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interp = Interpreter(model_path=str(path), num_threads=2)
        self._interp.allocate_tensors()
        self._input = self._interp.get_input_details()[0]
        self._outputs = self._interp.get_output_details()
        self.input_name: str = self._input["name"]
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in self._input["shape"])

    def run(self, image: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
        self._interp.set_tensor(self._input["index"], image[None].astype(np.float32))
        self._interp.invoke()
        return {d["name"]: self._interp.get_tensor(d["index"]).copy() for d in self._outputs}


def raw_person(
    raw: np.ndarray, logits: np.ndarray, anchor: int, centre_px: tuple[float, float], size: float
) -> None:
    """Write a person into raw detector outputs at `anchor`, in 224-px letterbox units."""
    a = ssd_anchors()[anchor] * 224
    off = np.array(centre_px) - a
    raw[anchor, 0:2] = off
    raw[anchor, 2:4] = size
    # keypoint 0 at the box centre, 1 half a box above, 2 and 3 anywhere
    raw[anchor, 4:6] = off
    raw[anchor, 6:8] = off + np.array([0.0, -size / 2])
    raw[anchor, 8:12] = np.tile(off + np.array([0.0, -size / 4]), 2)
    logits[anchor] = 4.0
