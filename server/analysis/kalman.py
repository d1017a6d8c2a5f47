"""A constant-acceleration Kalman filter on one axis, its Rauch-Tung-Striebel smoother, and a
fixed-lag variant for live use.

State x = [p, v, a]: position (m), velocity (m/s), acceleration (m/s²). The model is a white-jerk
(Wiener-process acceleration) model, so the acceleration of a snatch's second pull and turnover is
followed instead of being averaged away: heavy smoothing cuts a snatch's 0.15 s velocity peak by
a fifth or more, an acceleration model with a smoother does not.

Time steps come from the frames' presentation times (irregular steps are fine); a missing
measurement (NaN) is a pure prediction step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# H: we measure position only.
_H = np.array([1.0, 0.0, 0.0])


def transition(dt: float, q: float) -> tuple[FloatArray, FloatArray]:
    """F: constant-acceleration motion over dt (s). Q: covariance of white jerk with spectral
    density q (m²/s⁵) integrated over dt."""
    f = np.array([[1.0, dt, 0.5 * dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    d2, d3, d4, d5 = dt**2, dt**3, dt**4, dt**5
    qm = q * np.array(
        [[d5 / 20, d4 / 8, d3 / 6], [d4 / 8, d3 / 3, d2 / 2], [d3 / 6, d2 / 2, dt]],
    )
    return f, qm


def _initial(z0: float, r: float) -> tuple[FloatArray, FloatArray]:
    # P0: the first fix's noise on position; loose priors on velocity (1 m/s) and acceleration.
    return np.array([z0, 0.0, 0.0]), np.diag([r, 1.0, 25.0])


@dataclass(frozen=True)
class SmoothedAxis:
    """A smoothed series on one axis. All (N,): p metres, v m/s, a m/s², p_std metres (posterior
    standard deviation of position). q, r: the model's jerk density (m²/s⁵) and measurement
    variance (m²). loglik: log-likelihood of the measurements under the model."""

    p: FloatArray
    v: FloatArray
    a: FloatArray
    p_std: FloatArray
    q: float
    r: float
    loglik: float


def rts_smooth(
    t: FloatArray,
    z: FloatArray,
    q: float | FloatArray,
    r: float,
    loglik_mask: NDArray[np.bool_] | None = None,
) -> SmoothedAxis:
    """Forward Kalman filter then Rauch-Tung-Striebel backward pass.

    t: (N,) seconds, non-decreasing. z: (N,) metres, NaN where not measured. q: jerk density,
    one value or (N,) per step (q[k] applies between frames k-1 and k). loglik_mask: (N,) frames
    whose innovations count in the log-likelihood (all when None). Raises ValueError when nothing
    was measured.
    """
    return rts_smooth_many(t, z, [q], r, loglik_mask)[0]


def rts_smooth_many(
    t: FloatArray,
    z: FloatArray,
    qs: Sequence[float | FloatArray],
    r: float,
    loglik_mask: NDArray[np.bool_] | None = None,
) -> list[SmoothedAxis]:
    """`rts_smooth` for several jerk densities (or schedules) at once, one result per entry.

    The M filters share the measurements and the time steps, so they run side by side: each step
    is one batched (M, 3, 3) product instead of M small ones (the per-call overhead of 3x3 numpy
    products is most of a single filter's cost).
    """
    n = t.shape[0]
    m = len(qs)
    qm = np.stack([np.broadcast_to(np.asarray(q, dtype=np.float64), (n,)) for q in qs])
    finite = np.flatnonzero(np.isfinite(z))
    if finite.size == 0:
        raise ValueError("rts_smooth needs at least one finite measurement")
    x0, p0 = _initial(float(z[finite[0]]), r)
    x = np.repeat(x0[None], m, axis=0)  # (M, 3)
    p = np.repeat(p0[None], m, axis=0)  # (M, 3, 3)
    xf = np.zeros((n, m, 3))
    pf = np.zeros((n, m, 3, 3))
    xp = np.zeros((n, m, 3))
    pp = np.zeros((n, m, 3, 3))
    fs = np.zeros((n, 3, 3))
    loglik = np.zeros(m)
    # F and the unit-density Q per distinct time step (frames are mostly evenly spaced)
    steps = np.maximum(np.diff(t), 0.0)
    models = {dt: transition(dt, 1.0) for dt in np.unique(steps).tolist()}
    measured = np.isfinite(z)
    for k in range(n):
        if k > 0:
            f, unit_q = models[float(steps[k - 1])]
            fs[k] = f
            x = x @ f.T
            p = f @ p @ f.T + qm[:, k, None, None] * unit_q
        xp[k], pp[k] = x, p
        if measured[k]:
            s = p[:, 0, 0] + r  # (M,)
            gain = p[:, :, 0] / s[:, None]  # (M, 3)
            innovation = float(z[k]) - x[:, 0]
            x = x + gain * innovation[:, None]
            p = p - gain[:, :, None] * p[:, None, 0, :]
            if loglik_mask is None or loglik_mask[k]:
                loglik -= 0.5 * (np.log(2 * np.pi * s) + innovation * innovation / s)
        xf[k], pf[k] = x, p
    xs, ps = xf.copy(), pf.copy()
    # C[k]: how much the future corrects step k (RTS smoother gain), P_k F' Pp_{k+1}^-1, for all
    # steps at once; Pp is symmetric positive definite (q > 0), so a solve replaces the inverse.
    gains = np.linalg.solve(pp[1:], fs[1:, None] @ pf[:-1]).transpose(0, 1, 3, 2)
    for k in range(n - 2, -1, -1):
        c = gains[k]
        xs[k] = xf[k] + (c @ (xs[k + 1] - xp[k + 1])[..., None])[..., 0]
        ps[k] = pf[k] + c @ (ps[k + 1] - pp[k + 1]) @ c.transpose(0, 2, 1)
    std = np.sqrt(np.maximum(ps[:, :, 0, 0], 0.0))
    return [
        SmoothedAxis(
            xs[:, i, 0],
            xs[:, i, 1],
            xs[:, i, 2],
            std[:, i],
            float(np.median(qm[i])),
            r,
            float(loglik[i]),
        )
        for i in range(m)
    ]


# Jerk densities tried by fit_smoother, m²/s⁵: from a slow squat to a snatch's turnover.
Q_GRID = (30.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 3000.0)
# Jerk density of a still or slowly moving bar, m²/s⁵.
Q_STILL_GRID = (10.0, 30.0)
# Frames either side of the moving part that still count when choosing q, s.
MOVING_MARGIN_S = 0.3
MOVING_SPEED = 0.1  # m/s
SPEED_CAP = 2.0  # m/s


def speed_scaled_q(q_still: float, q_move: float, v: FloatArray) -> FloatArray:
    """(N,) jerk density growing with the square of speed (per 1 m/s): the fast pull of a lift is
    where acceleration changes fastest. With one q for the whole clip the many still frames make
    the likelihood prefer a small q, which cuts the velocity peak by 2-5 %."""
    return q_still + q_move * np.clip(np.abs(v), 0.0, SPEED_CAP) ** 2


def fit_smoother(
    t: FloatArray,
    z: FloatArray,
    r: float,
    *,
    q_grid: tuple[float, ...] = Q_GRID,
    outlier_sigma: float = 5.0,
) -> tuple[SmoothedAxis, NDArray[np.bool_]]:
    """RTS smoothing with a jerk density chosen by maximum likelihood.

    r: measurement variance, m². A first pass with one q from q_grid drops measurements further
    than outlier_sigma standard deviations from the smoothed path (trackers make occasional jumps
    of tens of pixels) and gives the speed profile; the final pass uses speed_scaled_q with its two
    densities chosen by likelihood over the moving part of the series plus a margin. Returns the
    smoothed axis and the (N,) mask of measurements it kept.
    """
    keep = np.isfinite(z)
    best = _best(t, np.where(keep, z, np.nan), r, list(q_grid), None)
    for _ in range(2):
        resid = np.abs(np.where(keep, z - best.p, 0.0))
        bad = keep & (resid > outlier_sigma * np.sqrt(r + best.p_std**2))
        if not bad.any():
            break
        keep &= ~bad
        best = _best(t, np.where(keep, z, np.nan), r, list(q_grid), None)
    moving = np.abs(best.v) > MOVING_SPEED
    if not moving.any():
        return best, keep
    idx = np.flatnonzero(moving)
    window = (t >= t[idx[0]] - MOVING_MARGIN_S) & (t <= t[idx[-1]] + MOVING_MARGIN_S)
    schedules = [speed_scaled_q(qs, qm, best.v) for qm in q_grid for qs in Q_STILL_GRID]
    return _best(t, np.where(keep, z, np.nan), r, schedules, window), keep


def _best(
    t: FloatArray,
    z: FloatArray,
    r: float,
    qs: list[float] | list[FloatArray],
    mask: NDArray[np.bool_] | None,
) -> SmoothedAxis:
    fits = rts_smooth_many(t, z, qs, r, mask)
    return max(fits, key=lambda s: s.loglik)


@dataclass(frozen=True)
class LagSample:
    """A fixed-lag smoothed state: t seconds, p m, v m/s, a m/s²."""

    t: float
    p: float
    v: float
    a: float


class LiveAxisFilter:
    """Causal filtering on one axis with a fixed-lag smoothed output.

    step() returns the filtered state now and the smoothed state `lag` steps back (exactly
    E[x(t-lag) | measurements up to t], the RTS recursion over the last lag+1 steps). The lagged
    value is what live velocity and phases use: a pure filter with an acceleration model
    overshoots a snatch's velocity peak by about a tenth; three frames of lag remove that.
    """

    def __init__(self, q: float, r: float, lag: int = 3) -> None:
        if q <= 0 or r <= 0 or lag < 0:
            raise ValueError(f"LiveAxisFilter needs q > 0, r > 0, lag >= 0; got {q}, {r}, {lag}")
        self.q, self.r, self.lag = q, r, lag
        self._x: FloatArray | None = None
        self._p: FloatArray | None = None
        self._t = 0.0
        # (t, x_filtered, P_filtered, F into this step, x_predicted, P_predicted)
        self._hist: deque[tuple[float, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]]
        self._hist = deque(maxlen=lag + 1)

    def reset(self) -> None:
        self._x = self._p = None
        self._hist.clear()

    def step(self, t: float, z: float | None) -> tuple[LagSample | None, LagSample | None]:
        """Feed one frame (z in metres or None when not measured). Returns (filtered now,
        smoothed lag steps back); either is None until there is a track / enough history."""
        if self._x is None or self._p is None:
            if z is None or not np.isfinite(z):
                return None, None
            x, p = _initial(float(z), self.r)
            f = np.eye(3)
            xp, pp = x.copy(), p.copy()
        else:
            f, qm = transition(max(t - self._t, 0.0), self.q)
            x = f @ self._x
            p = f @ self._p @ f.T + qm
            xp, pp = x.copy(), p.copy()
            if z is not None and np.isfinite(z):
                s = p[0, 0] + self.r
                gain = p[:, 0] / s
                x = x + gain * (float(z) - x[0])
                p = p - np.outer(gain, p[0])
        self._x, self._p, self._t = x, p, t
        self._hist.append((t, x, p, f, xp, pp))
        now = LagSample(t, float(x[0]), float(x[1]), float(x[2]))
        if len(self._hist) < self.lag + 1:
            return now, None
        hist = list(self._hist)
        xs = hist[-1][1]
        for k in range(len(hist) - 2, -1, -1):
            _, xf, pf, _, _, _ = hist[k]
            _, _, _, f_next, xp_next, pp_next = hist[k + 1]
            c = pf @ f_next.T @ np.linalg.pinv(pp_next)
            xs = xf + c @ (xs - xp_next)
        t0 = hist[0][0]
        return now, LagSample(t0, float(xs[0]), float(xs[1]), float(xs[2]))
