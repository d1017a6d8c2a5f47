"""Plate detection on synthetic frames with exact truth: sub-pixel rim fit, window and whole-frame
search, and what must not be taken for the plate."""

from __future__ import annotations

import numpy as np
import pytest

from server.synth.clip import RenderOptions, SyntheticScene
from server.tracking.plate import find_plate_near, find_plates, median, refine_rim
from tests.tracking_support import StillBar


def _frame(
    x: float, y: float, px_per_m: float, size: tuple[int, int] = (1280, 720), **opts: object
) -> tuple[np.ndarray, np.ndarray, float, SyntheticScene]:
    sc = SyntheticScene(StillBar(x, y), 30.0, size, px_per_m, RenderOptions(**opts))  # type: ignore[arg-type]
    truth = sc.truth
    return sc.frame(0), truth.center_px[0], truth.radius_px, sc


@pytest.mark.parametrize(
    ("px_per_m", "size"), [(155.0, (480, 360)), (360.0, (1280, 720)), (700.0, (1920, 1080))]
)
def test_rim_fit_is_subpixel_from_a_rough_guess(px_per_m: float, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(int(px_per_m))
    worst_c = worst_r = 0.0
    for k in range(6):
        # Random sub-pixel placements: anything that snaps to the pixel grid shows up here.
        x, y = rng.uniform(-0.3, 0.3) * size[0] / px_per_m, rng.uniform(0.3, 0.8)
        frame, center, radius, _ = _frame(x, y, px_per_m, size, seed=k)
        guess = center + rng.uniform(-0.08, 0.08, 2) * radius
        fit = refine_rim(frame, guess, radius * rng.uniform(0.93, 1.07))
        assert fit is not None
        worst_c = max(worst_c, float(np.hypot(*(fit.center - center))))
        worst_r = max(worst_r, abs(fit.radius - radius))
        assert fit.score > 0.6
    assert worst_c < 0.1
    assert worst_r < 0.1


def test_rim_fit_takes_the_outer_rim_not_the_inner_lip() -> None:
    frame, center, radius, _ = _frame(0.1, 0.5, 360.0, seed=4)
    # The plate's lip ring is at 0.88 r; a guess between the two must still end on the rim.
    fit = refine_rim(frame, center + 3.0, 0.9 * radius)
    assert fit is not None
    assert fit.radius == pytest.approx(radius, abs=0.2)


def test_rim_fit_ignores_an_occluding_bar_and_works_on_gray() -> None:
    sc = SyntheticScene(
        StillBar(0.0, 0.6, duration=2.0), 30.0, (1280, 720), 360.0, RenderOptions(occlusion=True)
    )
    truth = sc.truth
    for i in (5, 15, 30, 45, 55):
        frame = sc.frame(i)
        fit = refine_rim(frame, truth.center_px[i] + 2.0, truth.radius_px)
        gray_fit = refine_rim(
            frame.mean(axis=2).astype(np.uint8), truth.center_px[i] + 2.0, truth.radius_px
        )
        assert fit is not None and gray_fit is not None
        assert np.hypot(*(fit.center - truth.center_px[i])) < 0.3
        assert np.hypot(*(gray_fit.center - truth.center_px[i])) < 0.6


def test_nothing_is_fitted_where_there_is_no_edge() -> None:
    flat = np.full((360, 480, 3), 120, np.uint8)
    assert refine_rim(flat, np.array([240.0, 180.0]), 60.0) is None
    assert find_plates(flat) == []
    assert find_plate_near(flat, np.array([240.0, 180.0]), 60.0, 120.0) == []


def test_window_search_finds_the_plate_and_gates_the_radius() -> None:
    frame, center, radius, _ = _frame(-0.05, 0.7, 300.0, seed=8)
    pred = center + np.array([14.0, -9.0])
    fits = find_plate_near(frame, pred, radius, half_size=1.3 * radius + 30.0)
    assert fits
    assert np.hypot(*(fits[0].center - center)) < 0.1
    # Asked for a plate 40 % smaller, the same window has none.
    small = find_plate_near(frame, pred, 0.6 * radius, half_size=1.3 * radius + 30.0)
    assert all(abs(f.radius - 0.6 * radius) <= 0.2 * 0.6 * radius for f in small)
    assert all(np.hypot(*(f.center - center)) > 2.0 for f in small)


def test_whole_frame_search_prefers_the_large_plate_unless_the_wrists_say_otherwise() -> None:
    frame, center, radius, sc = _frame(0.0, 0.9, 300.0, seed=2, second_plate="static")
    truth = sc.truth
    assert truth.second_center_px is not None
    second = truth.second_center_px[0]
    fits = find_plates(frame)
    assert np.hypot(*(fits[0].center - center)) < 0.5
    assert fits[0].radius == pytest.approx(radius, rel=0.01)
    # Hands on the other bar: the plate next to them comes first.
    wrists = (second + np.array([0.3 * radius, -0.2 * radius]))[None, :]
    by_wrist = find_plates(frame, wrists_px=wrists)
    assert np.hypot(*(by_wrist[0].center - second)) < 0.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_median_equals_numpy(dtype: type) -> None:
    """The rim fit's median equals np.median (values, dtype, NaN) on 1-D and (K, 3) arrays of
    odd and even lengths, with ties and NaN; rounding makes ties, including -0.0 against 0.0,
    whose sign alone may differ."""
    rng = np.random.default_rng(7)
    for trial in range(3000):
        n = int(rng.integers(1, 90))
        shape = (n, 3) if trial % 2 else (n,)
        a = rng.normal(size=shape).astype(dtype)
        if trial % 5 == 0:
            a = np.round(a, 1)
        if trial % 7 == 0:
            a.flat[int(rng.integers(0, a.size))] = np.nan
        axis = 0 if a.ndim == 2 else None
        ours, theirs = median(a, axis=axis), np.median(a, axis=axis)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        assert np.array_equal(ours, theirs, equal_nan=True), (a, ours, theirs)
