"""The live kinematics' floor across lifts: the floor is the lowest still bar position (less the
plate radius); after a lift a bar held overhead is not taken for the new floor, a bar put down
on blocks is."""

from __future__ import annotations

import numpy as np

from server.analysis.kinematics import LiveBarKinematics

FPS = 30.0
PPM = 200.0  # px per metre
REST_Y = 400.0  # image row of the plate centre at rest on the floor


def _hold(k: LiveBarKinematics, t0: float, seconds: float, height_m: float) -> tuple[float, float]:
    """Keep the bar still at height_m (plate centre above the floor); (end time, last height)."""
    y = REST_Y - (height_m - 0.225) * PPM
    last = float("nan")
    t = t0
    for t in t0 + np.arange(int(seconds * FPS)) / FPS:
        out = k.step(float(t), y)
        if out.lagged is not None:
            last = out.lagged.p
    return float(t) + 1 / FPS, last


def _move(k: LiveBarKinematics, t0: float, h0: float, h1: float, seconds: float) -> float:
    t = t0
    for i in range(int(seconds * FPS)):
        t = t0 + i / FPS
        f = 0.5 - 0.5 * np.cos(np.pi * i / (seconds * FPS))
        k.step(t, REST_Y - (h0 + (h1 - h0) * f - 0.225) * PPM)
    return t + 1 / FPS


def test_a_bar_held_overhead_after_a_lift_is_not_the_new_floor() -> None:
    k = LiveBarKinematics(q=3000.0, lag=3)
    k.set_scale(PPM)
    t, h = _hold(k, 0.0, 1.0, 0.225)
    assert abs(h - 0.225) < 0.005
    t = _move(k, t, 0.225, 1.9, 1.2)
    t, h = _hold(k, t, 0.6, 1.9)
    k.reset_floor()  # the lift ended, held overhead
    t, h = _hold(k, t, 1.0, 1.9)
    assert abs(h - 1.9) < 0.01, h  # still 1.9 m above the floor, not 0.225
    t = _move(k, t, 1.9, 0.225, 0.6)  # lowered (or dropped) to the floor
    t, h = _hold(k, t, 1.0, 0.225)
    assert abs(h - 0.225) < 0.01, h


def test_after_a_lift_the_bar_put_on_blocks_is_the_new_rest() -> None:
    k = LiveBarKinematics(q=3000.0, lag=3)
    k.set_scale(PPM)
    t, _ = _hold(k, 0.0, 1.0, 0.225)
    k.reset_floor()  # a lift ended at the floor
    t = _move(k, t, 0.225, 0.625, 0.8)  # onto 40 cm blocks
    t, h = _hold(k, t, 1.0, 0.625)
    # The blocks' height is the new rest: the plate centre reads as at rest again.
    assert abs(h - 0.225) < 0.01, h
