"""Track the near plate frame by frame: detect, gate, filter, coast, re-acquire.

`BarTracker.step(t, frame, wrists_px)` returns one `BarSample` per frame. The point tracked is the
plate centre (the bar's axis), not the sleeve tip: the sleeve end is nearer the camera, and its
image moves differently (parallax). Coordinates are full-frame image pixels, x right, y down.

Per frame, with a track:
1. predict the centre with the Kalman filter over the frame's real interval;
2. fit the rim around the prediction directly (cheap, sub-pixel); if that fails or is rejected,
   run Hough in a window of +-(1.3 r + gate) and fit each proposal;
3. accept the nearest fit whose centre is within the gate max(3 sigma, 0.3 r) and whose radius is
   within 15 % of the median of the last 15 accepted radii: a background plate, a head or a burned-in
   mark is rejected by position or size, a blurred frame by its rim score;
4. a miss damps the velocity (x0.7) instead of coasting at full speed; after 10 misses the whole
   frame is searched again, near the last fix, for a plate of the running radius.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.tracking.kalman import PlateKalman
from server.tracking.plate import RimFit, find_plate_near, find_plates, refine_rim
from server.tracking.types import BarSample

Vec = NDArray[np.float64]
_NAN2 = np.array([np.nan, np.nan])


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning, with the values the feasibility study on the real clips settled on.

    plate_diameter_m: real plate diameter (sets the pixel scale for the process noise).
    accel_sigma_mps2: unmodelled bar acceleration. gate_sigmas, gate_radius_frac: the gate is
    max(gate_sigmas * sigma, gate_radius_frac * r). radius_tol: accepted radius change against the
    running median of `radius_window` fits. damping: velocity factor per missed frame.
    reacquire_after: misses before searching the whole frame; reacquire_every: frames between
    whole-frame searches while lost; lose_after: misses before the track is dropped.
    min_score, acquire_score: rim-fit score needed to accept a measurement / start a track.
    wide_gate_frac: when nothing fits inside the gate, a second search accepts a fit this many
    radii from the prediction, held to acquire_score: a stream that drops frames (a 30 fps source
    re-timed to 25 fps jumps two source frames at once, 0.76 r in a snatch's second pull) moves
    the plate further than a constant-velocity prediction expects. Only while the bar moves at
    least FAST_STEP radii per frame, right after a hit, with half the radius tolerance: a still
    or lost track never widens its gate onto another circle.
    """

    plate_diameter_m: float = 0.45
    accel_sigma_mps2: float = 15.0
    gate_sigmas: float = 3.0
    gate_radius_frac: float = 0.3
    radius_tol: float = 0.15
    radius_window: int = 15
    damping: float = 0.7
    reacquire_after: int = 10
    reacquire_every: int = 3
    lose_after: int = 60
    min_score: float = 0.45
    acquire_score: float = 0.6
    wide_gate_frac: float = 0.8

    def __post_init__(self) -> None:
        if not 0.05 <= self.plate_diameter_m <= 1.0:
            raise InvalidInputError(
                f"plate_diameter_m must be 0.05-1.0 m, got {self.plate_diameter_m!r}"
            )
        if not 0.0 < self.damping <= 1.0:
            raise InvalidInputError(f"damping must be in (0, 1], got {self.damping!r}")


FAST_STEP = 0.15  # radii per frame: the predicted move above which the wide gate may be tried


class BarTracker:
    """Step object: one instance per video stream; feed frames in time order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._kf: PlateKalman | None = None
        self._radii: deque[float] = deque(maxlen=self.config.radius_window)
        self._t = 0.0
        self._misses = 0
        self._hits = 0
        self._frames_lost = 0
        self._last_fix = _NAN2
        self._confidence = 0.0
        self.last_fit: RimFit | None = None
        """The rim fit accepted in the latest step, None when the step detected nothing."""

    @property
    def radius(self) -> float:
        """Running median radius, px (NaN before the first detection)."""
        return float(np.median(self._radii)) if self._radii else float("nan")

    def step(self, t: float, frame: NDArray[np.uint8], wrists_px: Vec | None = None) -> BarSample:
        """Process one frame. frame: (H, W) gray or (H, W, 3) RGB uint8. wrists_px: (K, 2) wrist
        positions from the pose, used to choose among plates when (re-)acquiring."""
        if frame.ndim not in (2, 3):
            raise InvalidInputError(f"frame must be (H, W) or (H, W, 3), got shape {frame.shape}")
        self.last_fit = None
        if self._kf is None:
            return self._acquire(t, frame, wrists_px)
        kf, cfg = self._kf, self.config
        dt = max(t - self._t, 0.0)
        kf.predict(t - self._t)
        self._t = max(self._t, t)
        r = self.radius
        sigma = kf.gate_sigma()
        gate = max(cfg.gate_sigmas * sigma, cfg.gate_radius_frac * r)
        pred = kf.center
        fit = self._measure(frame, pred, r, gate)
        if (
            fit is None
            and self._misses <= 1
            and cfg.wide_gate_frac * r > gate
            and float(np.hypot(*kf.velocity)) * dt >= FAST_STEP * r  # moving fast
        ):
            gate = cfg.wide_gate_frac * r
            fit = self._measure(
                frame, pred, r, gate, min_score=cfg.acquire_score, radius_tol=cfg.radius_tol / 2
            )
        if fit is None and self._misses >= cfg.reacquire_after:
            fit = self._reacquire(frame, wrists_px)
        if fit is None:
            return self._miss(t, frame.shape)
        self._accept(fit)
        d = float(np.hypot(*(fit.center - pred)))
        self._confidence = fit.score * (1.0 - 0.5 * min(1.0, d / gate)) * min(1.0, self._hits / 3.0)
        return BarSample(t, kf.center, kf.velocity, self.radius, self._confidence, True)

    def _measure(
        self,
        frame: NDArray[np.uint8],
        pred: Vec,
        r: float,
        gate: float,
        min_score: float | None = None,
        radius_tol: float | None = None,
    ) -> RimFit | None:
        score = self.config.min_score if min_score is None else min_score
        tol = self.config.radius_tol if radius_tol is None else radius_tol
        direct = refine_rim(frame, pred, r, band=0.2)
        if direct is not None and self._admissible(direct, pred, r, gate, score, tol):
            return direct
        fits = find_plate_near(frame, pred, r, half_size=1.3 * r + gate, radius_tol=0.2)
        ok = [f for f in fits if self._admissible(f, pred, r, gate, score, tol)]
        return min(ok, key=lambda f: float(np.hypot(*(f.center - pred)))) if ok else None

    def _admissible(
        self, fit: RimFit, pred: Vec, r: float, gate: float, min_score: float, radius_tol: float
    ) -> bool:
        return (
            fit.score >= min_score
            and abs(fit.radius - r) <= radius_tol * r
            and float(np.hypot(*(fit.center - pred))) <= gate
        )

    def _accept(self, fit: RimFit) -> None:
        assert self._kf is not None
        # A fitted centre is as good as its rim: residual over the root of the rays used.
        n = max(1.0, fit.inliers * 72.0)
        self._kf.update(fit.center, sigma_px=max(0.25, 2.0 * fit.residual_px / np.sqrt(n)))
        self._radii.append(fit.radius)
        self._misses = 0
        self._hits += 1
        self._last_fix = fit.center.copy()
        self.last_fit = fit

    def _miss(self, t: float, shape: tuple[int, ...]) -> BarSample:
        assert self._kf is not None
        cfg = self.config
        self._misses += 1
        self._kf.damp_velocity(cfg.damping)
        self._confidence *= 0.8
        c = self._kf.center
        h, w = shape[:2]
        r = self.radius
        outside = c[0] < -r or c[1] < -r or c[0] > w + r or c[1] > h + r
        if self._misses > cfg.lose_after or (outside and self._misses >= cfg.reacquire_after):
            # Keep the radius history: a plate found again must still be this plate's size.
            self._kf = None
            self._hits = 0
            return BarSample(t, _NAN2.copy(), _NAN2.copy(), r, 0.0, False)
        return BarSample(t, c, self._kf.velocity, r, self._confidence, False)

    def _acquire(self, t: float, frame: NDArray[np.uint8], wrists: Vec | None) -> BarSample:
        cfg = self.config
        self._frames_lost += 1
        lost_before = bool(self._radii)
        # Searching the whole frame costs 10-20 ms: once a track has been held, do it every few
        # frames only.
        if lost_before and self._frames_lost % cfg.reacquire_every != 1:
            return BarSample(t, _NAN2.copy(), _NAN2.copy(), self.radius, 0.0, False)
        fits = [f for f in find_plates(frame, wrists) if f.score >= cfg.acquire_score]
        if lost_before:
            r = self.radius
            fits = [f for f in fits if abs(f.radius - r) <= 0.25 * r]
        if not fits:
            return BarSample(t, _NAN2.copy(), _NAN2.copy(), self.radius, 0.0, False)
        fit = fits[0]
        self._start(t, fit)
        self._confidence = fit.score / 3.0
        return BarSample(t, fit.center.copy(), np.zeros(2), fit.radius, self._confidence, True)

    def _reacquire(self, frame: NDArray[np.uint8], wrists: Vec | None) -> RimFit | None:
        """Whole-frame search after repeated misses, for a plate of this size near the last fix."""
        cfg = self.config
        if (self._misses - cfg.reacquire_after) % cfg.reacquire_every != 0:
            return None
        r = self.radius
        near = [
            f
            for f in find_plates(frame, wrists)
            if f.score >= cfg.acquire_score
            and abs(f.radius - r) <= 0.2 * r
            and float(np.hypot(*(f.center - self._last_fix))) <= 4.0 * r
        ]
        if not near:
            return None
        fit = min(near, key=lambda f: float(np.hypot(*(f.center - self._last_fix))))
        self._start(self._t, fit)
        self._radii.pop()  # _start recorded it; _accept records it again
        return fit

    def _start(self, t: float, fit: RimFit) -> None:
        px_per_m = fit.radius / (self.config.plate_diameter_m / 2.0)
        self._kf = PlateKalman(fit.center, px_per_m, accel_sigma_mps2=self.config.accel_sigma_mps2)
        self._t = t
        self._misses = 0
        self._hits = 1
        self._frames_lost = 0
        self._radii.append(fit.radius)
        self._last_fix = fit.center.copy()
        self.last_fit = fit
