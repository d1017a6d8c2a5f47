"""Ground-truth bar trajectories of a snatch, a clean, a clean and jerk, or no lift.

A trajectory is a chain of keyframes (time, position, velocity, acceleration) per axis joined by
quintic Hermite segments, so position, velocity and acceleration are exact polynomials and the
path is C2 (acceleration continuous) everywhere: a filter or a renderer sees a physical motion
without kinks, and tests compare against exact derivatives and event times.

Vertical keyframes are given as (height, velocity, acceleration); the time between two of them is
solved so that the segment is the integral of the cubic velocity Hermite (the quintic's fifth-order
term vanishes): Δy = h (v0 + v1) / 2 + h² (a0 - a1) / 12. Horizontal keyframes (a few centimetres of
S-curve) are set at the same times.

Coordinates, in metres: x forward in the lifter's facing direction, 0 at the bar's rest position;
y = height of the bar centre above the floor, the plate radius (0.225 m) when the bar rests on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from server.errors import InvalidInputError

G = 9.81  # m/s²
PLATE_RADIUS_M = 0.225

BarPathType = Literal["type_1", "type_2", "type_3"]
EXERCISES = ("snatch", "clean", "clean_and_jerk", "none")
NONE_VARIANTS = ("still", "shift", "deadlift")

FloatArray = NDArray[np.float64]


def quintic_coefficients(
    h: float, p0: float, v0: float, a0: float, p1: float, v1: float, a1: float
) -> FloatArray:
    """Coefficients c0..c5 of p(τ) = Σ c_k τ^k, τ in [0, h], matching value, slope and curvature at
    both ends (the quintic Hermite interpolant)."""
    d = p1 - p0
    c3 = (20 * d - (8 * v1 + 12 * v0) * h - (3 * a0 - a1) * h**2) / (2 * h**3)
    c4 = (-30 * d + (14 * v1 + 16 * v0) * h + (3 * a0 - 2 * a1) * h**2) / (2 * h**4)
    c5 = (12 * d - 6 * (v1 + v0) * h + (a1 - a0) * h**2) / (2 * h**5)
    return np.array([p0, v0, a0 / 2, c3, c4, c5])


def _segment_duration(dy: float, v0: float, v1: float, a0: float, a1: float) -> float:
    """Duration h of a vertical segment whose velocity is the cubic Hermite (v0,a0)->(v1,a1) and
    whose rise is dy: the positive root of (a0-a1)/12 h² + (v0+v1)/2 h - dy = 0."""
    qa, qb, qc = (a0 - a1) / 12.0, (v0 + v1) / 2.0, -dy
    if abs(qa) < 1e-12:
        roots = [-qc / qb] if qb != 0 else []
    else:
        disc = qb * qb - 4 * qa * qc
        if disc < 0:
            roots = []
        else:
            sq = float(np.sqrt(disc))
            roots = [(-qb + sq) / (2 * qa), (-qb - sq) / (2 * qa)]
    positive = sorted(r for r in roots if r > 1e-6)
    if not positive:
        raise InvalidInputError(
            f"no segment duration reaches a rise of {dy:.3f} m from v={v0:.2f} to {v1:.2f} m/s"
        )
    return float(positive[0])


def _integral_rise(h: float, v0: float, v1: float, a0: float, a1: float) -> float:
    """Rise of a segment of duration h whose velocity is the cubic Hermite (v0,a0)->(v1,a1)."""
    return h * (v0 + v1) / 2.0 + h * h * (a0 - a1) / 12.0


@dataclass(frozen=True)
class Trajectory:
    """An exact bar path.

    knot_t: (K,) seconds, increasing. knot_x, knot_y: (K, 3) [position m, velocity m/s,
    acceleration m/s²] at each knot; the first and last knots are at rest (velocity and
    acceleration zero), and the bar holds still before the first and after the last knot.
    events: name -> seconds (see make_trajectory). params: the numbers the path was built from.
    """

    exercise: str
    duration: float
    events: dict[str, float]
    knot_t: FloatArray
    knot_x: FloatArray
    knot_y: FloatArray
    bar_path: str | None = None
    plate_radius: float = PLATE_RADIUS_M
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self.knot_t.shape[0]
        if self.knot_x.shape != (k, 3) or self.knot_y.shape != (k, 3):
            raise ValueError(f"knots must have shape ({k}, 3), got {self.knot_x.shape}")
        if k > 1 and np.any(np.diff(self.knot_t) <= 0):
            raise ValueError(f"knot times must increase, got {self.knot_t.tolist()}")

    @cached_property
    def _coefficients(self) -> tuple[FloatArray, FloatArray]:
        """(K-1, 6) polynomial coefficients per axis (τ from each segment's start)."""
        cx, cy = [], []
        for i in range(self.knot_t.shape[0] - 1):
            h = float(self.knot_t[i + 1] - self.knot_t[i])
            cx.append(quintic_coefficients(h, *self.knot_x[i], *self.knot_x[i + 1]))
            cy.append(quintic_coefficients(h, *self.knot_y[i], *self.knot_y[i + 1]))
        return np.array(cx).reshape(-1, 6), np.array(cy).reshape(-1, 6)

    def _evaluate(self, t: ArrayLike, order: int) -> FloatArray:
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.zeros((ts.shape[0], 2))
        if self.knot_t.shape[0] < 2:
            if order == 0:
                out[:] = [self.knot_x[0, 0], self.knot_y[0, 0]]
            return out
        cx, cy = self._coefficients
        seg = np.clip(np.searchsorted(self.knot_t, ts, side="right") - 1, 0, cx.shape[0] - 1)
        tau = np.clip(ts, self.knot_t[0], self.knot_t[-1]) - self.knot_t[seg]
        powers = np.arange(6)
        # d^order/dτ^order of Σ c_k τ^k = Σ c_k k!/(k-order)! τ^(k-order)
        factor = np.array(
            [np.prod(np.arange(k - order + 1, k + 1)) if k >= order else 0.0 for k in powers]
        )
        expo = np.maximum(powers - order, 0)
        basis = factor[None, :] * tau[:, None] ** expo[None, :]
        out[:, 0] = np.sum(cx[seg] * basis, axis=1)
        out[:, 1] = np.sum(cy[seg] * basis, axis=1)
        if order > 0:
            # Outside the knots the bar is at rest.
            outside = (ts < self.knot_t[0]) | (ts > self.knot_t[-1])
            out[outside] = 0.0
        return out

    def position(self, t: ArrayLike) -> FloatArray:
        """(N, 2) metres [x forward, y height of the bar centre above the floor] at times t (s)."""
        return self._evaluate(t, 0)

    def velocity(self, t: ArrayLike) -> FloatArray:
        """(N, 2) m/s, the exact derivative of position."""
        return self._evaluate(t, 1)

    def acceleration(self, t: ArrayLike) -> FloatArray:
        """(N, 2) m/s², the exact second derivative of position."""
        return self._evaluate(t, 2)

    @property
    def lifts(self) -> int:
        """Number of lifts in the trajectory (0 for 'none')."""
        return 0 if self.exercise == "none" else 1


class _Builder:
    """Accumulates knots. Vertical knots are placed at a given time step or at a given height (the
    time then solved); each knot also carries a horizontal target position."""

    def __init__(self, t0: float, y0: float, x0: float = 0.0) -> None:
        self.t = [t0]
        self.y = [(y0, 0.0, 0.0)]
        self.x = [x0]
        self.names: dict[str, int] = {}

    def to_height(
        self, y: float, v: float, a: float, x: float | None = None, name: str = ""
    ) -> None:
        y0, v0, a0 = self.y[-1]
        self._add(_segment_duration(y - y0, v0, v, a0, a), (y, v, a), x, name)

    def after(self, dt: float, v: float, a: float, x: float | None = None, name: str = "") -> None:
        y0, v0, a0 = self.y[-1]
        self._add(dt, (y0 + _integral_rise(dt, v0, v, a0, a), v, a), x, name)

    def hold(self, dt: float, x: float | None = None, name: str = "") -> None:
        self._add(dt, (self.y[-1][0], 0.0, 0.0), x, name)

    def _add(self, dt: float, y: tuple[float, float, float], x: float | None, name: str) -> None:
        self.t.append(self.t[-1] + dt)
        self.y.append(y)
        self.x.append(self.x[-1] if x is None else x)
        if name:
            self.names[name] = len(self.t) - 1

    def time(self, name: str) -> float:
        return self.t[self.names[name]]

    @property
    def height(self) -> float:
        return self.y[-1][0]

    def knots(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(K,) times, (K, 3) horizontal and (K, 3) vertical knots."""
        t = np.array(self.t)
        xs = np.array(self.x)
        n = t.shape[0]
        # Horizontal velocity: a monotone (harmonic-mean) slope, zero at local extremes so the
        # S-curve's turning points are where the keyframes put them; acceleration zero.
        vx = np.zeros(n)
        for j in range(1, n - 1):
            s0 = (xs[j] - xs[j - 1]) / (t[j] - t[j - 1])
            s1 = (xs[j + 1] - xs[j]) / (t[j + 1] - t[j])
            if s0 * s1 > 0:
                vx[j] = 2 * s0 * s1 / (s0 + s1)
        kx = np.stack([xs, vx, np.zeros(n)], axis=1)
        return t, kx, np.array(self.y)


# Horizontal displacement (m, forward positive) from lift-off at the pull's knots, per bar-path
# type (server/analysis/barpath.py classifies them back): knee (first pull end), power position
# (transition end), most forward (max height), catch.
BAR_PATH_X: dict[str, tuple[float, float, float, float]] = {
    # toward the lifter, then forward across the start line, looped back in the catch
    "type_1": (-0.035, -0.045, 0.035, 0.005),
    # toward the lifter, forward again in the second pull but never back to the start line
    "type_2": (-0.035, -0.055, -0.020, -0.050),
    # never toward the lifter: forward from lift-off, back in the catch
    "type_3": (0.010, 0.020, 0.070, 0.035),
}

# Parameter ranges drawn from the seed: (snatch, clean). Heights in m, speeds m/s, accels m/s².
_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "peak_velocity": ((1.75, 2.05), (1.40, 1.70)),
    "max_height": ((1.12, 1.28), (0.92, 1.08)),
    "catch_drop": ((0.16, 0.24), (0.10, 0.16)),
    "knee_height": ((0.46, 0.52), (0.46, 0.52)),
    "thigh_rise": ((0.17, 0.21), (0.16, 0.20)),
    "knee_speed_ratio": ((0.52, 0.58), (0.58, 0.64)),
    "transition_dip": ((0.05, 0.12), (0.04, 0.10)),
    "top_decel": ((7.0, 8.5), (7.0, 8.5)),
    "catch_accel": ((7.0, 10.0), (8.0, 11.0)),
    "recovery_rise": ((0.80, 0.95), (0.50, 0.60)),
    "recovery_speed": ((0.9, 1.2), (0.8, 1.0)),
}
_JERK_RANGES: dict[str, tuple[float, float]] = {
    "rack_hold": (1.0, 1.6),
    "dip_depth": (0.08, 0.12),
    "dip_speed": (0.5, 0.7),
    "drive_velocity": (1.5, 1.85),
    "jerk_catch_drop": (0.04, 0.08),
    "jerk_overhead_rise": (0.45, 0.55),
}


def _pull(b: _Builder, p: dict[str, float], path: tuple[float, float, float, float]) -> None:
    """Lift-off to standing with the bar received (snatch overhead, clean on the shoulders)."""
    vp, hmax = p["peak_velocity"], p["max_height"]
    x_knee, x_power, x_front, x_catch = path
    # Turnover: acceleration falls from 0 at peak velocity to near -g within ~55 ms, then the bar
    # rises almost ballistically to its highest point, where the lifter is already pulling under.
    t1_dt, t1_acc = 0.055, -8.8
    v_t1 = vp + 0.5 * t1_acc * t1_dt
    top = p["top_decel"]
    dt_top = 2.0 * v_t1 / (abs(t1_acc) + top)
    rise = _integral_rise(t1_dt, vp, v_t1, 0.0, t1_acc) + _integral_rise(
        dt_top, v_t1, 0.0, t1_acc, -top
    )
    y_peak = hmax - rise
    v_knee = vp * p["knee_speed_ratio"]
    v_dip = v_knee - p["transition_dip"]
    # The second pull needs at least ~0.11 s: lower the power position (and knee) if the drawn
    # heights leave it less room.
    y_thigh = min(p["knee_height"] + p["thigh_rise"], y_peak - 0.11 * (v_dip + vp) / 2)
    y_knee = min(p["knee_height"], y_thigh - 0.12)
    b.after(0.06, 0.15, 4.5, x=0.15 * x_knee)
    b.to_height(y_knee, v_knee, 0.0, x=x_knee, name="first_pull_end")
    b.to_height(y_thigh, v_dip, 0.0, x=x_power, name="transition_end")
    b.to_height(y_peak, vp, 0.0, x=x_power + 0.55 * (x_front - x_power), name="peak_velocity")
    b.after(t1_dt, v_t1, t1_acc, x=x_power + 0.8 * (x_front - x_power))
    b.after(dt_top, 0.0, -top, x=x_front, name="max_height")
    y_catch = hmax - p["catch_drop"]
    b.to_height(y_catch, 0.0, p["catch_accel"], x=x_catch, name="catch")
    rec_rise = p["recovery_rise"]
    b.to_height(y_catch + 0.45 * rec_rise, p["recovery_speed"], 0.0, x=x_catch)
    b.to_height(y_catch + rec_rise, 0.0, 0.0, x=x_catch, name="recovery_end")


def _jerk(b: _Builder, j: dict[str, float], x0: float) -> None:
    """From standing with the bar on the shoulders: dip, drive, split catch, recovery."""
    y0 = b.height
    b.hold(j["rack_hold"], name="jerk_dip_start")
    half = j["dip_depth"] / 2
    b.to_height(y0 - half, -j["dip_speed"], 0.0)
    # Braking at the bottom of the dip: the legs reverse the bar within ~0.1 s.
    b.to_height(y0 - j["dip_depth"], 0.0, 14.0, x=x0 - 0.005, name="jerk_dip_end")
    vd = j["drive_velocity"]
    b.to_height(y0 + 0.04, vd, 0.0, x=x0 - 0.012, name="jerk_drive_end")
    t1_dt, t1_acc, top = 0.05, -8.5, 7.5
    v_t1 = vd + 0.5 * t1_acc * t1_dt
    b.after(t1_dt, v_t1, t1_acc)
    b.after(2.0 * v_t1 / (abs(t1_acc) + top), 0.0, -top, x=x0 - 0.018, name="jerk_max_height")
    y_catch = b.height - j["jerk_catch_drop"]
    b.to_height(y_catch, 0.0, 9.0, x=x0 - 0.02, name="jerk_catch")
    y_over = y0 + j["jerk_overhead_rise"]
    b.to_height((y_catch + y_over) / 2, 0.5, 0.0)
    b.to_height(y_over, 0.0, 0.0, name="jerk_recovery_end")


def _drop(b: _Builder) -> None:
    """The lifter lets the bar fall from where it is held: near free fall, then stopped by the
    floor (bumper plates) within a few centimetres."""
    r = PLATE_RADIUS_M
    b.after(0.12, -0.5, -8.5, name="bar_release")
    y_release, v_release, _ = b.y[-1]
    near = r + 0.06
    v_near = -float(np.sqrt(v_release**2 + 2 * 9.3 * (y_release - near)))
    b.to_height(near, v_near, -9.6)
    b.to_height(r, 0.0, 0.0, name="bar_on_floor")


def _none(b: _Builder, variant: str) -> None:
    """No Olympic lift: the bar stays on the floor, is rolled, or is deadlifted (not a lift
    pattern the analysis accepts)."""
    if variant == "still":
        b.hold(2.0)
    elif variant == "shift":
        b.hold(0.6, x=0.08)
        b.hold(1.4)
    else:  # deadlift: slow pull to lockout at hip height, a pause, and a controlled lowering
        b.after(0.08, 0.1, 2.5)
        b.to_height(0.45, 0.65, 0.0)
        b.to_height(0.78, 0.0, -2.0)
        b.hold(0.5)
        b.to_height(0.50, -0.6, 0.0)
        b.to_height(PLATE_RADIUS_M, 0.0, 0.0)


def _draw(rng: np.random.Generator, ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}


def make_trajectory(
    exercise: str,
    *,
    seed: int = 0,
    lift_start: float = 1.0,
    peak_velocity: float | None = None,
    max_height: float | None = None,
    catch_drop: float | None = None,
    bar_path: str | None = None,
    hold: float = 1.0,
    drop: bool = False,
    variant: str = "still",
) -> Trajectory:
    """A realistic bar path with exact derivatives and event times.

    exercise: "snatch", "clean", "clean_and_jerk" or "none". Unset numbers are drawn from
    realistic ranges with `seed` (the draws do not depend on which numbers are given).
    lift_start: seconds of rest before lift-off. peak_velocity: m/s, vertical, at the end of the
    second pull (snatch 1.75-2.05, clean 1.4-1.7). max_height: m, bar centre at the end of the
    turnover (snatch 1.12-1.28, clean 0.92-1.08). catch_drop: m from max height down to the lowest
    receiving point. bar_path: "type_1" | "type_2" | "type_3" (BAR_PATH_X). hold: seconds
    standing still after the lift. drop: the bar is then dropped to the floor. variant (exercise
    "none" only): "still", "shift" (bar rolled 8 cm, never lifted) or "deadlift".

    events (seconds): lift_off (= start_of_lifting), first_pull_end (bar at the knee, the first
    velocity peak), transition_end (the velocity dip at the power position), peak_velocity
    (= second_pull_end), max_height (= turnover_end), catch (= catch_end, lowest receiving
    point), recovery_end (standing still with the bar), lift_end; clean and jerk adds
    jerk_dip_start, jerk_dip_end (bottom of the dip), jerk_drive_end (peak drive velocity),
    jerk_max_height, jerk_catch (= jerk_catch_end), jerk_recovery_end (= lift_end); drop adds
    bar_release and bar_on_floor.
    """
    if exercise not in EXERCISES:
        raise InvalidInputError(f"unknown exercise {exercise!r}; expected one of {EXERCISES}")
    if variant not in NONE_VARIANTS:
        raise InvalidInputError(f"unknown variant {variant!r}; expected one of {NONE_VARIANTS}")
    if lift_start < 0 or hold < 0:
        raise InvalidInputError(f"lift_start and hold must be >= 0, got {lift_start}, {hold}")
    rng = np.random.default_rng(seed)
    which = 1 if exercise in ("clean", "clean_and_jerk") else 0
    p = _draw(rng, {k: v[which] for k, v in _RANGES.items()})
    jerk = _draw(rng, _JERK_RANGES)
    drawn_path = str(rng.choice(sorted(BAR_PATH_X)))
    for name, value in (
        ("peak_velocity", peak_velocity),
        ("max_height", max_height),
        ("catch_drop", catch_drop),
    ):
        if value is not None:
            if value <= 0:
                raise InvalidInputError(f"{name} must be > 0, got {value}")
            p[name] = float(value)
    path = bar_path or drawn_path
    if path not in BAR_PATH_X:
        raise InvalidInputError(f"unknown bar_path {path!r}; expected one of {sorted(BAR_PATH_X)}")

    b = _Builder(lift_start, PLATE_RADIUS_M)
    events: dict[str, float] = {}
    if exercise == "none":
        _none(b, variant)
        params = {"variant_" + variant: 1.0}
        path_out: str | None = None
    else:
        _pull(b, p, BAR_PATH_X[path])
        if exercise == "clean_and_jerk":
            _jerk(b, jerk, BAR_PATH_X[path][3])
            p.update(jerk)
        params, path_out = p, path
        events = {name: b.time(name) for name in b.names}
        events["lift_off"] = events["start_of_lifting"] = lift_start
        events["second_pull_end"] = events["peak_velocity"]
        events["turnover_end"] = events["max_height"]
        events["catch_end"] = events["catch"]
        if exercise == "clean_and_jerk":
            events["jerk_catch_end"] = events["jerk_catch"]
            events["lift_end"] = events["jerk_recovery_end"]
        else:
            events["lift_end"] = events["recovery_end"]
        if drop:
            b.hold(hold)
            _drop(b)
            events["bar_release"] = b.time("bar_release")
            events["bar_on_floor"] = b.time("bar_on_floor")
    b.hold(hold)
    t, kx, ky = b.knots()
    return Trajectory(
        exercise=exercise,
        duration=float(t[-1]),
        events=events,
        knot_t=t,
        knot_x=kx,
        knot_y=ky,
        bar_path=path_out,
        params=params,
    )
