"""Helpers shared by the tracking tests: short synthetic lifts and running a tracker over them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from server.synth.clip import RenderOptions, SyntheticScene
from server.synth.trajectory import Trajectory, make_trajectory
from server.tracking.tracker import BarTracker


@lru_cache(maxsize=8)
def short_lift(exercise: str = "snatch", seed: int = 0) -> Trajectory:
    """A lift with little rest before and after, so a clip is about 3.5 s (about 105 frames)."""
    return make_trajectory(exercise, seed=seed, lift_start=0.4, hold=0.4)


@dataclass(frozen=True)
class TrackRun:
    """A tracker's output over a scene. center: (N, 2) px (NaN without a track). detected: (N,)."""

    center: NDArray[np.float64]
    detected: NDArray[np.bool_]
    radius: float

    def errors(self, truth_px: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N,) distance in px from the truth; NaN where there was no track."""
        return np.asarray(np.hypot(*(self.center - truth_px).T), np.float64)


def run_tracker(scene: SyntheticScene, tracker: BarTracker | None = None) -> TrackRun:
    bt = tracker or BarTracker()
    centers, detected = [], []
    for i in range(scene.t.size):
        s = bt.step(float(scene.t[i]), scene.frame(i))
        centers.append(s.center)
        detected.append(s.detected)
    return TrackRun(np.array(centers), np.array(detected), bt.radius)


def scene(
    options: RenderOptions | None = None,
    *,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    exercise: str = "snatch",
    px_per_m: float | None = None,
) -> SyntheticScene:
    return SyntheticScene(short_lift(exercise), fps, size, px_per_m, options or RenderOptions())


@dataclass(frozen=True)
class StillBar:
    """A trajectory that holds the bar at (x, y) metres: for single-frame detection tests."""

    x: float
    y: float
    duration: float = 0.1

    def position(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        n = np.asarray(t).size
        return np.tile(np.array([[self.x, self.y]]), (n, 1))
