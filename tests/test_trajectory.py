"""Ground-truth trajectories: exact derivatives, continuity, realistic numbers, event order."""

from __future__ import annotations

import numpy as np
import pytest

from server.errors import InvalidInputError
from server.synth.trajectory import (
    BAR_PATH_X,
    PLATE_RADIUS_M,
    Trajectory,
    make_trajectory,
    quintic_coefficients,
)

LIFTS = ("snatch", "clean", "clean_and_jerk")
PULL_ORDER = (
    "lift_off",
    "first_pull_end",
    "transition_end",
    "peak_velocity",
    "max_height",
    "catch",
    "recovery_end",
)
JERK_ORDER = (
    "recovery_end",
    "jerk_dip_start",
    "jerk_dip_end",
    "jerk_drive_end",
    "jerk_max_height",
    "jerk_catch",
    "jerk_recovery_end",
)


def test_quintic_matches_its_boundary_conditions() -> None:
    h = 0.37
    c = quintic_coefficients(h, 0.3, -1.2, 4.0, 1.1, 0.5, -7.0)
    poly = np.polynomial.Polynomial(c)
    assert poly(0) == pytest.approx(0.3) and poly(h) == pytest.approx(1.1)
    assert poly.deriv()(0) == pytest.approx(-1.2) and poly.deriv()(h) == pytest.approx(0.5)
    assert poly.deriv(2)(0) == pytest.approx(4.0) and poly.deriv(2)(h) == pytest.approx(-7.0)


@pytest.mark.parametrize("exercise", LIFTS)
@pytest.mark.parametrize("seed", [0, 7])
def test_derivatives_are_exact(exercise: str, seed: int) -> None:
    tr = make_trajectory(exercise, seed=seed, drop=True)
    t = np.linspace(0.0, tr.duration, 3001)
    eps = 1e-6
    fd_v = (tr.position(t + eps) - tr.position(t - eps)) / (2 * eps)
    fd_a = (tr.velocity(t + eps) - tr.velocity(t - eps)) / (2 * eps)
    # Knots are where a one-sided difference straddles two polynomials; both are C2 there, so
    # the tolerance only has to absorb rounding.
    assert np.max(np.abs(fd_v - tr.velocity(t))) < 1e-4
    assert np.max(np.abs(fd_a - tr.acceleration(t))) < 2e-2


@pytest.mark.parametrize("exercise", LIFTS)
def test_c2_at_every_knot(exercise: str) -> None:
    tr = make_trajectory(exercise, seed=3)
    eps = 1e-9
    left, right = tr.knot_t - eps, tr.knot_t + eps
    for f in (tr.position, tr.velocity, tr.acceleration):
        assert np.max(np.abs(f(left) - f(right))) < 1e-5


def test_rest_before_lift_off_and_after_lift() -> None:
    tr = make_trajectory("snatch", seed=1, lift_start=1.5, hold=0.8)
    before = np.linspace(0.0, 1.5, 50)
    assert np.allclose(tr.position(before), [[0.0, PLATE_RADIUS_M]])
    assert np.allclose(tr.velocity(before), 0.0)
    after = np.linspace(tr.events["lift_end"], tr.duration + 1.0, 50)
    assert np.allclose(tr.velocity(after), 0.0, atol=1e-12)
    assert tr.duration == pytest.approx(tr.events["lift_end"] + 0.8)


@pytest.mark.parametrize("seed", range(12))
def test_snatch_numbers_are_realistic(seed: int) -> None:
    tr = make_trajectory("snatch", seed=seed)
    ev = tr.events
    t = np.arange(ev["lift_off"], ev["recovery_end"], 1e-3)
    v = tr.velocity(t)[:, 1]
    a = tr.acceleration(t)[:, 1]
    y = tr.position(t)[:, 1]
    peak = float(tr.velocity(ev["peak_velocity"])[0, 1])
    assert 1.7 <= peak <= 2.1
    assert peak == pytest.approx(v.max(), abs=1e-4)
    assert 0.7 <= ev["peak_velocity"] - ev["lift_off"] <= 0.92
    h_max = float(tr.position(ev["max_height"])[0, 1])
    assert 1.1 <= h_max <= 1.3
    pull = t <= ev["catch"]
    assert h_max == pytest.approx(y[pull].max(), abs=1e-5)
    drop = h_max - float(tr.position(ev["catch"])[0, 1])
    assert 0.15 <= drop <= 0.25
    # The bar never falls faster than gravity lets it while the lifter holds it.
    assert a.min() >= -9.81
    # Vertical velocity is zero at the top, at the catch and when standing.
    for name in ("max_height", "catch", "recovery_end"):
        assert tr.velocity(ev[name])[0, 1] == pytest.approx(0.0, abs=1e-9)
    # The bar rises monotonically from lift-off to its highest point.
    rising = (t > ev["lift_off"]) & (t < ev["max_height"])
    assert np.all(v[rising] > 0)
    # Double knee bend: a velocity peak at the knee, a dip at the power position.
    v_knee = tr.velocity(ev["first_pull_end"])[0, 1]
    v_dip = tr.velocity(ev["transition_end"])[0, 1]
    assert v_dip < v_knee < peak
    standing = float(tr.position(ev["recovery_end"])[0, 1])
    assert 1.7 <= standing <= 2.2  # bar overhead, lifter standing
    assert 0.9 <= ev["recovery_end"] - ev["catch"] <= 1.6


@pytest.mark.parametrize("seed", range(8))
def test_clean_numbers_are_realistic(seed: int) -> None:
    tr = make_trajectory("clean", seed=seed)
    ev = tr.events
    peak = float(tr.velocity(ev["peak_velocity"])[0, 1])
    assert 1.4 <= peak <= 1.7
    assert 0.9 <= tr.position(ev["max_height"])[0, 1] <= 1.1
    assert 0.75 <= tr.position(ev["catch"])[0, 1] <= 1.0
    assert 1.3 <= tr.position(ev["recovery_end"])[0, 1] <= 1.6  # bar racked, standing


@pytest.mark.parametrize("exercise", LIFTS)
def test_events_in_order(exercise: str) -> None:
    ev = make_trajectory(exercise, seed=5).events
    times = [ev[name] for name in PULL_ORDER]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert ev["second_pull_end"] == ev["peak_velocity"]
    assert ev["turnover_end"] == ev["max_height"]
    assert ev["start_of_lifting"] == ev["lift_off"] == 1.0
    if exercise == "clean_and_jerk":
        jerk = [ev[name] for name in JERK_ORDER]
        assert jerk == sorted(jerk) and len(set(jerk)) == len(jerk)
        assert ev["lift_end"] == ev["jerk_recovery_end"]
    else:
        assert ev["lift_end"] == ev["recovery_end"]


def test_clean_and_jerk_dip_and_drive() -> None:
    tr = make_trajectory("clean_and_jerk", seed=2)
    ev = tr.events
    rack = float(tr.position(ev["jerk_dip_start"])[0, 1])
    bottom = float(tr.position(ev["jerk_dip_end"])[0, 1])
    assert 0.07 <= rack - bottom <= 0.13
    drive_v = float(tr.velocity(ev["jerk_drive_end"])[0, 1])
    assert 1.4 <= drive_v <= 1.9
    overhead = float(tr.position(ev["jerk_recovery_end"])[0, 1])
    assert overhead - rack > 0.4
    # Standing still between the clean's recovery and the dip.
    mid = np.linspace(ev["recovery_end"], ev["jerk_dip_start"], 20)
    assert np.allclose(tr.velocity(mid), 0.0, atol=1e-12)


def test_explicit_numbers_override_the_draw() -> None:
    tr = make_trajectory("snatch", seed=4, peak_velocity=1.8, max_height=1.2, catch_drop=0.2)
    ev = tr.events
    assert tr.velocity(ev["peak_velocity"])[0, 1] == pytest.approx(1.8)
    assert tr.position(ev["max_height"])[0, 1] == pytest.approx(1.2)
    assert tr.position(ev["catch"])[0, 1] == pytest.approx(1.0)
    # Other parameters keep their seed draws.
    base = make_trajectory("snatch", seed=4)
    assert base.params["knee_height"] == tr.params["knee_height"]


@pytest.mark.parametrize("path", sorted(BAR_PATH_X))
def test_bar_path_variants_have_their_horizontal_shape(path: str) -> None:
    tr = make_trajectory("snatch", seed=0, bar_path=path)
    ev = tr.events
    t = np.arange(ev["lift_off"], ev["catch"], 1e-3)
    x = tr.position(t)[:, 0]
    first = t <= ev["transition_end"]
    later = t >= ev["transition_end"]
    most_back = x[first].min()
    most_forward = x[later].max()
    x_catch = float(tr.position(ev["catch"])[0, 0])
    assert tr.bar_path == path
    if path == "type_3":
        assert most_back > -0.005  # never toward the lifter
    else:
        assert most_back < -0.03
    assert (most_forward > 0.02) == (path in ("type_1", "type_3"))
    assert most_forward - x_catch > 0.025  # looped back in the catch
    assert np.all(np.abs(x) < 0.1)  # a few centimetres, not a wander


@pytest.mark.parametrize("variant", ["still", "shift"])
def test_no_lift_bar_stays_on_the_floor(variant: str) -> None:
    tr = make_trajectory("none", variant=variant)
    t = np.linspace(0, tr.duration, 500)
    assert np.allclose(tr.position(t)[:, 1], PLATE_RADIUS_M)
    assert tr.events == {} and tr.lifts == 0
    moved = np.ptp(tr.position(t)[:, 0])
    assert moved == (pytest.approx(0.08) if variant == "shift" else 0.0)


def test_deadlift_is_a_slow_non_olympic_pull() -> None:
    tr = make_trajectory("none", variant="deadlift")
    t = np.linspace(0, tr.duration, 3000)
    y, v = tr.position(t)[:, 1], tr.velocity(t)[:, 1]
    assert 0.7 <= y.max() <= 0.85 and v.max() < 1.0
    assert y[-1] == pytest.approx(PLATE_RADIUS_M)


def test_drop_reaches_the_floor_without_going_through_it() -> None:
    tr = make_trajectory("snatch", seed=0, drop=True)
    ev = tr.events
    t = np.arange(ev["bar_release"], tr.duration, 1e-4)
    y = tr.position(t)[:, 1]
    assert y.min() >= PLATE_RADIUS_M - 1e-6
    assert tr.position(ev["bar_on_floor"])[0, 1] == pytest.approx(PLATE_RADIUS_M)
    assert tr.velocity(t)[:, 1].min() < -4.0  # falls, not lowered


def test_scalar_and_array_times() -> None:
    tr = make_trajectory("clean", seed=0)
    assert tr.position(1.3).shape == (1, 2)
    assert tr.velocity([1.0, 1.2, 1.4]).shape == (3, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"exercise": "deadlift"},
        {"exercise": "snatch", "bar_path": "type_9"},
        {"exercise": "snatch", "peak_velocity": -1.0},
        {"exercise": "none", "variant": "juggle"},
        {"exercise": "clean", "lift_start": -0.5},
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        make_trajectory(**kwargs)  # type: ignore[arg-type]


def test_trajectory_rejects_bad_knots() -> None:
    with pytest.raises(ValueError, match="increase"):
        Trajectory("snatch", 1.0, {}, np.array([0.0, 0.0]), np.zeros((2, 3)), np.zeros((2, 3)))
