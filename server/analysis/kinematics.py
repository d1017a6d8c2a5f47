"""Bar and body kinematics in metres: heights, displacement, velocity, acceleration, force, power.

Pixels in (x right, y down, full frame), metres out (x forward in the lifter's facing direction,
y up). Camera motion is removed before anything is differentiated: the caller passes the per-frame
offset of the static background (pixels), and positions are taken relative to it.

Two estimates: `bar_kinematics` is the finalised one (non-causal: Kalman filter with an
acceleration model forward, Rauch-Tung-Striebel backward, jerk density chosen by likelihood);
`LiveBarKinematics` is the causal one used while streaming (filter plus a short fixed lag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from server.analysis.kalman import LagSample, LiveAxisFilter, SmoothedAxis, fit_smoother

FloatArray = NDArray[np.float64]
G = 9.81
PLATE_RADIUS_M = 0.225
# A still bar moves less than this (m/s); used to find the rest position that defines the floor.
STILL_SPEED = 0.05
# A bar this far (m) above its lowest level has been lifted: the floor is taken before that.
CLEAR_M = 0.3
# Noise floor and ceiling of a plate centre measurement, pixels.
MIN_NOISE_PX, MAX_NOISE_PX = 0.3, 6.0


def noise_px(z_px: FloatArray) -> float:
    """Measurement noise (pixels, one sigma) estimated from the data: the robust spread of second
    differences (for white noise their variance is 6 sigma²; a lift's true second differences are
    large only in a few frames, which the median ignores)."""
    z = z_px[np.isfinite(z_px)]
    if z.size < 5:
        return 1.0
    d2 = z[2:] - 2 * z[1:-1] + z[:-2]
    sigma = 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / np.sqrt(6.0)
    return float(np.clip(sigma, MIN_NOISE_PX, MAX_NOISE_PX))


@dataclass(frozen=True)
class BarKinematics:
    """Finalised bar series, all (N,) over the clip's frames.

    t: s. height: m, bar centre above the floor. horizontal: m, displacement from the lift-off
    position (or the first position when there is no lift-off), positive in the facing
    direction. vy, ay: vertical velocity m/s and acceleration m/s². vx: horizontal m/s.
    height_std: m, posterior std of height. measured: the frame's measurement was used.
    px_per_m: the scale used. floor_y_px: image row of the floor in background coordinates.
    noise_px: measurement noise estimated (pixels). q: jerk densities chosen (y, x), m²/s⁵.
    """

    t: FloatArray
    height: FloatArray
    horizontal: FloatArray
    vy: FloatArray
    ay: FloatArray
    vx: FloatArray
    height_std: FloatArray
    measured: NDArray[np.bool_]
    px_per_m: float
    floor_y_px: float
    noise_px: float
    q: tuple[float, float]

    def with_origin(self, t_origin: float) -> BarKinematics:
        """The same series with horizontal displacement measured from the position at t_origin."""
        x0 = float(np.interp(t_origin, self.t, self.horizontal))
        return _replace(self, horizontal=self.horizontal - x0)


def _replace(k: BarKinematics, **changes: object) -> BarKinematics:
    from dataclasses import replace

    return replace(k, **changes)  # type: ignore[arg-type]


def stable_positions(center_px: FloatArray, camera_offset_px: FloatArray | None) -> FloatArray:
    """(N, 2) positions against the static background: measured minus the camera's offset."""
    if camera_offset_px is None:
        return center_px.astype(np.float64)
    off = np.nan_to_num(camera_offset_px.astype(np.float64), nan=0.0)
    return center_px.astype(np.float64) - off


def rest_level(height_up: FloatArray, vy: FloatArray) -> float:
    """The bar's rest position before the lift (m, same origin as height_up): a low percentile of
    the still positions before the bar first rises CLEAR_M above its lowest level, so a few noisy
    frames do not move the floor and a dropped bar (bouncing, rolling toward the camera: 36 px
    below its start on the 25 fps real snatch) does not either. A clip that starts with the bar
    already moving takes its lowest positions before that rise; a clip that never rises, the
    whole clip."""
    still = np.abs(vy) < STILL_SPEED
    low = float(np.percentile(height_up, 5))
    risen = np.flatnonzero(height_up > low + CLEAR_M)
    end = int(risen[0]) if risen.size else height_up.size
    if np.count_nonzero(still[:end]) >= 3:
        pool = height_up[:end][still[:end]]
    elif end >= 3:
        pool = height_up[:end]
    else:
        pool = height_up[still] if np.count_nonzero(still) >= 3 else height_up
    return float(np.percentile(pool, 5))


def bar_kinematics(
    t: FloatArray,
    center_px: FloatArray,
    px_per_m: float,
    *,
    facing: int = 1,
    camera_offset_px: FloatArray | None = None,
    plate_radius_m: float = PLATE_RADIUS_M,
    noise_sigma_px: float | None = None,
) -> BarKinematics:
    """Finalised bar kinematics.

    t: (N,) s from the frames' presentation times. center_px: (N, 2) measured plate centres,
    NaN where the plate was not found. px_per_m: calibration. facing: +1 if the lifter faces
    image right, -1 if left. camera_offset_px: (N, 2) background offset per frame or None.
    noise_sigma_px: the measurement noise when the caller knows it better (e.g. estimated
    without repeated frames, whose identical values would make it look smaller); else estimated.
    """
    if px_per_m <= 0 or not np.isfinite(px_per_m):
        raise ValueError(f"px_per_m must be a positive number, got {px_per_m}")
    if facing not in (1, -1):
        raise ValueError(f"facing must be +1 or -1, got {facing}")
    stable = stable_positions(center_px, camera_offset_px)
    sigma = noise_sigma_px or max(noise_px(stable[:, 1]), noise_px(stable[:, 0]))
    r = (sigma / px_per_m) ** 2
    up = -stable[:, 1] / px_per_m
    fwd = facing * stable[:, 0] / px_per_m
    sy, keep_y = fit_smoother(t, up, r)
    sx, _ = fit_smoother(t, fwd, r)
    floor_up = rest_level(sy.p, sy.v) - plate_radius_m
    height = sy.p - floor_up
    return BarKinematics(
        t=t.astype(np.float64),
        height=height,
        horizontal=sx.p - sx.p[0],
        vy=sy.v,
        ay=sy.a,
        vx=sx.v,
        height_std=sy.p_std,
        measured=keep_y,
        px_per_m=float(px_per_m),
        floor_y_px=float(-floor_up * px_per_m),
        noise_px=sigma,
        q=(sy.q, sx.q),
    )


def bar_force(mass_kg: float, ay: FloatArray) -> FloatArray:
    """Force on the bar, N: m_bar * (g + a_bar)."""
    return mass_kg * (G + ay)


def bar_power(mass_kg: float, vy: FloatArray, ay: FloatArray) -> FloatArray:
    """Power delivered to the bar, W: F * v with F = m_bar * (g + a_bar)."""
    return bar_force(mass_kg, ay) * vy


def ground_reaction_force(
    bar_mass_kg: float, ay: FloatArray, body_mass_kg: float | None, a_hip: FloatArray | None
) -> tuple[FloatArray, str]:
    """Estimated system force, N, and which estimate it is ("bar_and_body" or "bar_only"):
    m_bar (g + a_bar) + m_body (g + a_hip) when body mass and hip acceleration are known."""
    f = bar_force(bar_mass_kg, ay)
    if body_mass_kg is None or a_hip is None:
        return f, "bar_only"
    return f + body_mass_kg * (G + a_hip), "bar_and_body"


@dataclass(frozen=True)
class BodyKinematics:
    """Body series, all (N,), NaN where no pose: hip_height, shoulder_height (m above the floor),
    hip_velocity (m/s, vertical, up positive), hip_acceleration (m/s²)."""

    hip_height: FloatArray
    shoulder_height: FloatArray
    hip_velocity: FloatArray
    hip_acceleration: FloatArray


def body_kinematics(
    t: FloatArray,
    hip_px: FloatArray,
    shoulder_px: FloatArray,
    px_per_m: float,
    floor_y_px: float,
    camera_offset_px: FloatArray | None = None,
) -> BodyKinematics:
    """Hip and shoulder heights and the hip's vertical velocity. hip_px, shoulder_px: (N, 2)
    pixel midpoints, NaN where no pose. floor_y_px: the floor row in background coordinates."""
    hip = stable_positions(hip_px, camera_offset_px)
    shoulder = stable_positions(shoulder_px, camera_offset_px)
    hip_h = (floor_y_px - hip[:, 1]) / px_per_m
    sh_h = (floor_y_px - shoulder[:, 1]) / px_per_m
    nan = np.full(t.shape, np.nan)
    have = np.isfinite(hip_h)
    if np.count_nonzero(have) < 3:
        return BodyKinematics(hip_h, sh_h, nan, nan.copy())
    sigma = noise_px(hip[:, 1])
    s: SmoothedAxis
    s, _ = fit_smoother(t, hip_h, (sigma / px_per_m) ** 2)
    # Only report where the pose was seen (and between seen frames), not extrapolated far out.
    first, last = np.flatnonzero(have)[[0, -1]]
    inside = np.zeros(t.shape, dtype=bool)
    inside[first : last + 1] = True
    return BodyKinematics(
        hip_height=np.where(inside, s.p, np.nan),
        shoulder_height=sh_h,
        hip_velocity=np.where(inside, s.v, np.nan),
        hip_acceleration=np.where(inside, s.a, np.nan),
    )


@dataclass(frozen=True)
class LiveBarSample:
    """One frame's causal bar estimate (heights above the current floor estimate, m; None until
    known). now: the filter at this frame. lagged: the fixed-lag smoothed state a few frames
    back, the one live velocity and phases use (its own t)."""

    t: float
    height: float | None
    vy: float | None
    lagged: LagSample | None


# Blocks and boxes a lift may start from stand at most this high; anything held higher after a
# lift (overhead, racked on the shoulders) is not a new rest position.
MAX_BLOCK_M = 0.6


class LiveBarKinematics:
    """Causal bar kinematics while streaming.

    The filter runs in pixels (y up) so a scale that is still being learned does not corrupt its
    state; outputs are converted with the current scale. The floor is the lowest still position
    seen so far minus the plate radius (see reset_floor for the next lift). q: jerk density in
    m²/s⁵ (converted to pixels²).
    """

    def __init__(self, *, q: float = 300.0, noise_px: float = 1.0, lag: int = 3) -> None:
        self.q, self.noise, self.lag = q, noise_px, lag
        self._filter: LiveAxisFilter | None = None
        self._rest_up_px: float | None = None
        self._relearn = False  # see reset_floor
        self._px_per_m: float | None = None

    def set_scale(self, px_per_m: float) -> None:
        if self._filter is None:
            self._filter = LiveAxisFilter(self.q * px_per_m**2, self.noise**2, self.lag)
        self._px_per_m = px_per_m

    @property
    def px_per_m(self) -> float | None:
        return self._px_per_m

    def floor_up_px(self) -> float | None:
        if self._rest_up_px is None or self._px_per_m is None:
            return None
        return self._rest_up_px - PLATE_RADIUS_M * self._px_per_m

    def step(self, t: float, y_px: float | None) -> LiveBarSample:
        """y_px: the bar centre row against the background (pixels, y down) or None."""
        if self._filter is None or self._px_per_m is None:
            return LiveBarSample(t, None, None, None)
        z = None if y_px is None else -float(y_px)
        now, lagged = self._filter.step(t, z)
        if now is None:
            return LiveBarSample(t, None, None, None)
        ppm = self._px_per_m
        if lagged is not None and abs(lagged.v) / ppm < STILL_SPEED:
            rest = self._rest_up_px
            if (
                rest is None
                or lagged.p < rest
                or (self._relearn and lagged.p < rest + MAX_BLOCK_M * ppm)
            ):
                self._rest_up_px = lagged.p
        floor = self.floor_up_px()
        if floor is None:
            return LiveBarSample(t, None, now.v / ppm, None)
        lag_m = None
        if lagged is not None:
            lag_m = LagSample(lagged.t, (lagged.p - floor) / ppm, lagged.v / ppm, lagged.a / ppm)
        return LiveBarSample(t, (now.p - floor) / ppm, now.v / ppm, lag_m)

    def reset_floor(self) -> None:
        """A new lift may start from another height (blocks, the hang): from now until
        `keep_floor`, each still position less than MAX_BLOCK_M above the current rest becomes
        the rest (lower ones always do). A bar held overhead or racked after a lift is thus not
        taken for the floor (every height would read about 1.5 m low until the bar was still on
        the floor again)."""
        self._relearn = True

    def keep_floor(self) -> None:
        """A lift started: its rest position is the floor until the next reset_floor."""
        self._relearn = False
