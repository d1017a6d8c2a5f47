"""The lift-off onset fit against exact synthetic bar paths (noise-free and noisy)."""

from __future__ import annotations

import numpy as np
import pytest

from server.phases.events import onset_fit
from server.synth.trajectory import make_trajectory

SPAN_M = 0.1  # the fit window segment.py uses: up to where the bar has moved 10 cm


def _sampled(
    exercise: str, seed: int, fps: float, phase: float
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Times and exact bar heights, the true lift-off, and the fit window's end."""
    traj = make_trajectory(exercise, seed=seed, lift_start=0.8, hold=0.5)
    t = np.arange(0.0, 2.0, 1.0 / fps) + phase / fps
    z = traj.position(t)[:, 1]
    t_hi = float(t[np.flatnonzero(z - z[0] > SPAN_M)[0]])
    return t, z, float(traj.events["lift_off"]), t_hi


@pytest.mark.parametrize("exercise", ["snatch", "clean", "clean_and_jerk"])
@pytest.mark.parametrize("fps", [30.0, 60.0])
def test_onset_fit_finds_lift_off_on_exact_paths(exercise: str, fps: float) -> None:
    for seed, phase in ((0, 0.0), (1, 0.3), (2, 0.7)):
        t, z, t0, t_hi = _sampled(exercise, seed, fps, phase)
        found = onset_fit(t, z, t0 - 0.3, t_hi)
        assert found is not None
        assert abs(found - t0) <= 0.003, (seed, found - t0)


def test_onset_fit_with_measurement_noise_stays_within_a_frame_at_60_fps() -> None:
    rng = np.random.default_rng(7)
    errors = []
    for seed in range(12):
        t, z, t0, t_hi = _sampled(("snatch", "clean")[seed % 2], seed, 60.0, rng.uniform())
        noisy = z + rng.normal(0.0, 0.0003, z.size)  # 0.3 mm, as measured on the synthetic clips
        found = onset_fit(t, noisy, t0 - 0.3, t_hi)
        assert found is not None
        errors.append(found - t0)
    assert abs(float(np.mean(errors))) < 0.004  # no bias
    assert float(np.max(np.abs(errors))) <= 1 / 60


def test_onset_fit_downwards_and_refusals() -> None:
    t, z, t0, t_hi = _sampled("snatch", 0, 60.0, 0.0)
    down = onset_fit(t, -z, t0 - 0.3, t_hi, up=False)
    assert down is not None and abs(down - t0) <= 0.003
    # A bar that only moves down is not an upward start; too few points is no fit.
    assert onset_fit(t, -z, t0 - 0.3, t_hi, up=True) is None
    assert onset_fit(t[:5], z[:5], float(t[0]), float(t[4])) is None
