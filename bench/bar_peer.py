"""Bar tracking, ours against OpenCV's CSRT and KCF trackers, on synthetic clips with exact truth.

Ours: `BarTracker.step(t, rgb, None)` frame by frame, as `measure_clip` drives it when no pose is
given (it finds the plate by itself in the first frame). The peers, the approach most open-source
bar-path trackers take: a CSRT or KCF tracker initialised on the plate's true bounding box in the
first frame (a head start ours does not get), then `update` per frame; its box centre is its
estimate of the bar. Both see the same decoded H.264 frames; the peers get them as BGR (OpenCV's
order; the conversion is not timed).

Errors are against `ClipTruth.center_px` (the plate centre in the image, shake included), in
pixels and in millimetres at the plate's depth. A lost frame is one without an estimate (ours: no
track; a peer: `update` returned False); off-target frames have an estimate more than one plate
radius from the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.frames import FrameStore, decode_to_store
from bench.stats import Spread, finite_or_none, position_errors, rmse

PEERS = ("csrt", "kcf")
# (name, exercise, fps, render options): the README's accuracy clips (seed 3 and 4).
CLIPS: tuple[tuple[str, str, float, dict[str, Any]], ...] = (
    (
        "synthetic snatch {p}p30",
        "snatch",
        30.0,
        {"seed": 3, "motion_blur": 0.5, "noise_sigma": 2.0},
    ),
    (
        "synthetic snatch {p}p60, 6 px shake",
        "snatch",
        60.0,
        {"seed": 4, "motion_blur": 0.5, "noise_sigma": 2.0, "shake_px": 6.0},
    ),
)


@dataclass(frozen=True)
class TruthClip:
    """A rendered clip's frames and truth. center_px: (N, 2). radius_px, px_per_m: scale."""

    store: FrameStore
    truth: Path  # .npz with center_px, radius_px, px_per_m

    def load_truth(self) -> tuple[NDArray[np.float64], float, float]:
        with np.load(self.truth) as z:
            return z["center_px"], float(z["radius_px"]), float(z["px_per_m"])


def render_truth_clips(
    tmp: Path, size: tuple[int, int] = (1280, 720), hold: float = 0.8, short: bool = False
) -> list[TruthClip]:
    """Render the CLIPS (only the first, shorter, in short mode) and decode them to stores."""
    from server.synth.clip import RenderOptions, render_clip
    from server.synth.trajectory import make_trajectory

    clips = []
    for name, exercise, fps, opts in CLIPS[:1] if short else CLIPS:
        traj = make_trajectory(exercise, seed=opts["seed"], lift_start=0.6, hold=hold)
        video = tmp / f"bar-{exercise}-{fps:.0f}.mp4"
        truth = render_clip(traj, video, fps=fps, size=size, options=RenderOptions(**opts))
        store = decode_to_store(video, tmp / "frames", name.format(p=size[1]))
        if store.frames != truth.t.size:
            raise ValueError(f"{name}: decoded {store.frames} frames, rendered {truth.t.size}")
        npz = tmp / f"bar-{exercise}-{fps:.0f}-truth.npz"
        np.savez(npz, center_px=truth.center_px, radius_px=truth.radius_px, px_per_m=truth.px_per_m)
        clips.append(TruthClip(store, npz))
    return clips


Track = Callable[[int, float, NDArray[np.uint8]], NDArray[np.float64] | None]


def _ours() -> Track:
    from server.tracking.tracker import BarTracker, TrackerConfig

    tracker = BarTracker(TrackerConfig(plate_diameter_m=0.45))

    def step(_: int, t: float, rgb: NDArray[np.uint8]) -> NDArray[np.float64] | None:
        sample = tracker.step(t, rgb, None)
        return sample.center if np.isfinite(sample.center).all() else None

    return step


def opencv_tracker(kind: str) -> Any:
    """A fresh CSRT or KCF tracker (opencv-contrib: top level, or cv2.legacy in some builds)."""
    import cv2

    name = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create"}[kind]
    for module in (cv2, getattr(cv2, "legacy", None)):
        if module is not None and hasattr(module, name):
            return getattr(module, name)()
    raise RuntimeError(f"cv2 {cv2.__version__} has no {name}: install opencv-contrib-python")


def _peer(kind: str, first_center: NDArray[np.float64], radius: float) -> Track:
    tracker = opencv_tracker(kind)
    x0, y0 = first_center - radius
    box = (round(x0), round(y0), round(2 * radius), round(2 * radius))

    def step(i: int, _: float, bgr: NDArray[np.uint8]) -> NDArray[np.float64] | None:
        if i == 0:
            tracker.init(bgr, box)
            return first_center.copy()
        ok, (x, y, w, h) = tracker.update(bgr)
        return np.array([x + w / 2.0, y + h / 2.0]) if ok else None

    return step


def run(clip: TruthClip, tracker: str) -> dict[str, Any]:
    """Track the clip with `tracker` ("ours", "csrt" or "kcf"); timing and errors as a row."""
    import cv2

    center, radius, px_per_m = clip.load_truth()
    track = _ours() if tracker == "ours" else _peer(tracker, center[0], radius)
    estimates = np.full_like(center, np.nan)
    seconds: list[float] = []
    for i, (t, rgb) in enumerate(clip.store):
        image = (
            rgb if tracker == "ours" else np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), np.uint8)
        )
        t0 = time.perf_counter()
        found = track(i, t, image)
        seconds.append(time.perf_counter() - t0)
        if found is not None:
            estimates[i] = found
    errors = position_errors(estimates, center)
    error_px = rmse(errors)
    spread = Spread.of_seconds(seconds)
    lost = int(np.isnan(errors).sum())
    return {
        "clip": clip.store.name,
        "tracker": tracker,
        "frames": clip.store.frames,
        "ms_per_frame": round(spread.mean_ms, 3),
        "p90_ms": round(spread.p90_ms, 3),
        "rmse_px": finite_or_none(error_px, 3),
        "rmse_mm": finite_or_none(1000.0 * error_px / px_per_m, 2),
        "max_error_px": finite_or_none(float(np.nanmax(errors)) if lost < errors.size else np.nan),
        "lost_frames": lost,
        "off_target_frames": int((errors > radius).sum()),
        "plate_radius_px": round(radius, 1),
    }
