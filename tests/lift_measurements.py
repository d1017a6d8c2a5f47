"""Test helper: pixel measurements of a plate moving along a ground-truth trajectory.

What a plate tracker would report on a side-view clip: centres with Gaussian noise, quantised to a
sub-pixel grid, optionally with a camera that drifts, missed frames and occasional outliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from server.synth.trajectory import Trajectory

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PixelTrack:
    """t: (N,) s. center_px: (N, 2) measured, NaN when missed. radius_px: (N,) measured radius.
    offset_px: (N, 2) true camera offset. truth_px: (N, 2) true image position (with offset).
    px_per_m: true scale. floor_y_px: image row of height 0 without camera offset.
    origin_x_px: image column of x = 0. facing: +1 faces image right."""

    t: FloatArray
    center_px: FloatArray
    radius_px: FloatArray
    offset_px: FloatArray
    truth_px: FloatArray
    px_per_m: float
    floor_y_px: float
    origin_x_px: float
    facing: int


def pixel_track(
    traj: Trajectory,
    *,
    fps: float = 30.0,
    px_per_m: float = 360.0,
    noise_px: float = 1.0,
    quantum_px: float = 0.125,
    facing: int = 1,
    drift_px: float = 0.0,
    miss_rate: float = 0.0,
    outlier_rate: float = 0.0,
    seed: int = 0,
    t_jitter: bool = False,
) -> PixelTrack:
    rng = np.random.default_rng(seed)
    n = int(np.floor(traj.duration * fps)) + 1
    t = np.arange(n) / fps
    pos = traj.position(t)
    floor_y, origin_x = 680.0, 640.0
    x_img = origin_x + facing * pos[:, 0] * px_per_m
    y_img = floor_y - pos[:, 1] * px_per_m
    offset = np.zeros((n, 2))
    if drift_px:
        phase = rng.uniform(0, 2 * np.pi, 2)
        offset[:, 0] = drift_px * np.sin(2 * np.pi * 0.35 * t + phase[0])
        offset[:, 1] = drift_px * np.sin(2 * np.pi * 0.5 * t + phase[1])
    truth = np.stack([x_img, y_img], 1) + offset
    meas = truth + rng.normal(0.0, noise_px, truth.shape)
    meas = np.round(meas / quantum_px) * quantum_px
    if outlier_rate:
        bad = rng.random(n) < outlier_rate
        meas[bad] += rng.choice([-1, 1], (int(bad.sum()), 2)) * rng.uniform(
            20, 40, (int(bad.sum()), 2)
        )
    if miss_rate:
        meas[rng.random(n) < miss_rate] = np.nan
    radius = 0.225 * px_per_m * (1 + rng.normal(0, 0.01, n))
    return PixelTrack(t, meas, radius, offset, truth, px_per_m, floor_y, origin_x, facing)
