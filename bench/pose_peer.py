"""Pose per frame, ours against mediapipe 0.10.14's own pipeline, on the same decoded frames.

Ours: `PoseTracker` over an `InferenceService` (ONNX Runtime, CPU provider here), video mode
(detector only when the track is lost). The peer: `mediapipe.solutions.pose.Pose` with
static_image_mode=False (also video mode, its C++ graph and TFLite/XNNPACK runtime) and the
model_complexity of the same landmark variant: both load the same BlazePose weights (the tflite
files our converter reads). Each clip gets a fresh tracker / Pose after one warm-up frame on a
throwaway one, so first-run set-up is not counted; every frame of the clip is timed.

Each function runs inside a worker process (bench/worker.py) and returns builtins for JSON; the
per-frame keypoints go to an .npy file (NaN where no pose) so the harness can compare the two.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.frames import MAX_SIDE, FrameStore
from bench.stats import Spread

VARIANTS = ("lite", "full", "heavy")
# mediapipe's name for our landmark variants
MODEL_COMPLEXITY = {"lite": 0, "full": 1, "heavy": 2}
LANDMARKS = 33


def _row(store: FrameStore, seconds: list[float], found: int) -> dict[str, Any]:
    spread = Spread.of_seconds(seconds)
    return {
        "clip": store.name,
        "size": f"{store.size[0]}x{store.size[1]}",
        "frames": store.frames,
        "ms_per_frame": round(spread.mean_ms, 2),
        "p50_ms": round(spread.p50_ms, 2),
        "p90_ms": round(spread.p90_ms, 2),
        "pose_found": round(found / max(1, store.frames), 3),
    }


def ours(
    model_dir: Path, variant: str, stores: list[FrameStore], out: Path
) -> list[dict[str, Any]]:
    """Our pose path on each store; keypoints to out/ours-<variant>-<i>.npy."""
    from server.pose.service import InferenceService
    from server.pose.tracker import PoseTracker

    rows = []
    with InferenceService(model_dir, variant) as service:
        for i, store in enumerate(stores):
            _, first = next(iter(store))
            PoseTracker(service).step(first)  # warm-up: first runs of both models
            tracker = PoseTracker(service)
            seconds: list[float] = []
            points = np.full((store.frames, LANDMARKS, 2), np.nan, np.float32)
            for k, (_, rgb) in enumerate(store):
                t0 = time.perf_counter()
                pose = tracker.step(rgb)
                seconds.append(time.perf_counter() - t0)
                if pose is not None:
                    points[k] = pose.keypoints
            np.save(out / f"ours-{variant}-{i}.npy", points)
            row = _row(store, seconds, int(np.isfinite(points[:, 0, 0]).sum()))
            row.update(detector_runs=tracker.detector_runs, landmark_runs=tracker.landmark_runs)
            rows.append(row)
    return rows


def _mediapipe_points(result: Any, size: tuple[int, int]) -> NDArray[np.float32] | None:
    if result.pose_landmarks is None:
        return None
    w, h = size
    return np.array([[p.x * w, p.y * h] for p in result.pose_landmarks.landmark], np.float32)


def mediapipe(variant: str, stores: list[FrameStore], out: Path) -> list[dict[str, Any]]:
    """mediapipe Pose on each store; keypoints to out/mediapipe-<variant>-<i>.npy."""
    from mediapipe.python.solutions.pose import Pose

    complexity = MODEL_COMPLEXITY[variant]
    rows = []
    for i, store in enumerate(stores):
        _, first = next(iter(store))
        with Pose(static_image_mode=False, model_complexity=complexity) as warm:
            warm.process(first)
        seconds: list[float] = []
        points = np.full((store.frames, LANDMARKS, 2), np.nan, np.float32)
        with Pose(static_image_mode=False, model_complexity=complexity) as pose:
            for k, (_, rgb) in enumerate(store):
                t0 = time.perf_counter()
                result = pose.process(rgb)
                seconds.append(time.perf_counter() - t0)
                found = _mediapipe_points(result, store.size)
                if found is not None:
                    points[k] = found
        np.save(out / f"mediapipe-{variant}-{i}.npy", points)
        rows.append(_row(store, seconds, int(np.isfinite(points[:, 0, 0]).sum())))
    return rows


def agreement_px(ours_points: NDArray[np.float32], peer_points: NDArray[np.float32]) -> float:
    """Median over frames where both found a pose of the mean keypoint distance, px (NaN when
    no frame has both): a check that both pipelines did comparable work."""
    both = np.isfinite(ours_points[:, 0, 0]) & np.isfinite(peer_points[:, 0, 0])
    if not both.any():
        return float("nan")
    d = np.hypot(*(ours_points[both] - peer_points[both]).transpose(2, 0, 1))
    return float(np.median(d.mean(axis=1)))


def pipeline(
    model_dir: Path, variant: str, clips: list[tuple[str, Path, str]]
) -> list[dict[str, Any]]:
    """Whole offline pipeline without rendering: measure_clip (decode, pose, plate, camera
    motion) then analyze_measurements (calibration, smoothing, phases, document). decode_ms: a
    separate decode-only pass of the same clip, the part of the pipeline the peers' figures
    (taken on decoded frames) leave out."""
    from server.analysis.measure import measure_clip
    from server.analysis.pipeline import AnalysisOptions, analyze_measurements
    from server.analysis.threads import use_offline_threads
    from server.errors import LiftStreamError
    from server.pose.service import InferenceService
    from server.pose.tracker import PoseTracker
    from server.video.reader import VideoReader

    rows = []
    # As `liftstream analyze` runs it (this worker process does nothing else).
    with InferenceService(model_dir, variant, intra_threads=use_offline_threads()) as service:
        warm = np.zeros((256, 256, 3), np.uint8)
        PoseTracker(service).step(warm)
        for name, path, exercise in clips:
            t0 = time.perf_counter()
            with VideoReader(path, max_side=MAX_SIDE) as reader:
                decoded = sum(1 for _ in reader)
            decode_ms = 1000.0 * (time.perf_counter() - t0) / max(1, decoded)
            t0 = time.perf_counter()
            m = measure_clip(path, pose=PoseTracker(service), max_side=MAX_SIDE)
            t1 = time.perf_counter()
            error = None
            try:
                analyze_measurements(m, AnalysisOptions(exercise=exercise, render=False))
            except LiftStreamError as exc:  # reported, the speed still counts
                error = str(exc)
            t2 = time.perf_counter()
            rows.append(
                {
                    "clip": name,
                    "frames": m.frames,
                    "measure_s": round(t1 - t0, 3),
                    "analyze_s": round(t2 - t1, 3),
                    "decode_ms": round(decode_ms, 2),
                    "fps": round(m.frames / (t2 - t0), 2),
                    **({"error": error} if error else {}),
                }
            )
    return rows
