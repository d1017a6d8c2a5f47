"""Small helpers for finding events in sampled series: interpolated zero crossings, refined
extrema and "still from here on" searches. All times are seconds; series are (N,) arrays."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def crossing_time(t: FloatArray, y: FloatArray, i: int, level: float = 0.0) -> float:
    """Time where y crosses `level` between samples i and i+1 (linear interpolation)."""
    y0, y1 = float(y[i]) - level, float(y[i + 1]) - level
    if y1 == y0:
        return float(t[i])
    frac = np.clip(-y0 / (y1 - y0), 0.0, 1.0)
    return float(t[i] + frac * (t[i + 1] - t[i]))


def next_crossing(
    t: FloatArray, y: FloatArray, start: int, stop: int, rising: bool, level: float = 0.0
) -> int | None:
    """First i in [start, stop-1) where y goes from below to at/above level (rising) or from
    above to at/below (falling) between i and i+1; None if none."""
    stop = min(stop, y.shape[0])
    for i in range(max(start, 0), stop - 1):
        a, b = y[i] - level, y[i + 1] - level
        if (rising and a < 0 <= b) or (not rising and a > 0 >= b):
            return i
    return None


def previous_crossing(
    y: FloatArray, start: int, stop: int, rising: bool, level: float = 0.0
) -> int | None:
    """Last i in [stop, start) scanning backwards where y crosses level between i and i+1."""
    for i in range(min(start, y.shape[0] - 1) - 1, max(stop, 0) - 1, -1):
        a, b = y[i] - level, y[i + 1] - level
        if (rising and a < 0 <= b) or (not rising and a > 0 >= b):
            return i
    return None


def refined_extremum(t: FloatArray, y: FloatArray, i: int) -> tuple[float, float]:
    """(time, value) of the extremum at sample i refined by the parabola through i-1, i, i+1."""
    if i <= 0 or i >= y.shape[0] - 1:
        return float(t[i]), float(y[i])
    y0, y1, y2 = float(y[i - 1]), float(y[i]), float(y[i + 1])
    t0, t1, t2 = float(t[i - 1]), float(t[i]), float(t[i + 1])
    # Fit y = a (t - t1)² + b (t - t1) + c through the three (possibly uneven) samples.
    d0, d2 = t0 - t1, t2 - t1
    den = d0 * d2 * (d0 - d2)
    if den == 0:
        return t1, y1
    a = (d2 * (y0 - y1) - d0 * (y2 - y1)) / den
    b = (d0 * d0 * (y2 - y1) - d2 * d2 * (y0 - y1)) / den
    if a == 0:
        return t1, y1
    dt = float(np.clip(-b / (2 * a), d0, d2))
    return t1 + dt, y1 + b * dt + a * dt * dt


def still_from(t: FloatArray, v: FloatArray, start: int, speed: float, hold_s: float) -> int | None:
    """First index >= start from which |v| stays below speed for at least hold_s seconds (or to
    the end of the series if that is at least half of hold_s away); None if never."""
    n = v.shape[0]
    i = start
    while i < n:
        if abs(v[i]) >= speed:
            i += 1
            continue
        j = i
        while j + 1 < n and abs(v[j + 1]) < speed:
            j += 1
        span = t[j] - t[i]
        if span >= hold_s or (j == n - 1 and span >= hold_s / 2):
            return i
        i = j + 1
    return None


def local_extrema(y: FloatArray, start: int, stop: int, maxima: bool) -> list[int]:
    """Indices of strict local maxima (or minima) of y in [start, stop)."""
    out = []
    s = 1 if maxima else -1
    for i in range(max(start, 1), min(stop, y.shape[0] - 1)):
        if s * y[i] > s * y[i - 1] and s * y[i] >= s * y[i + 1]:
            out.append(i)
    return out


def ramp_onset_shape(dt: FloatArray, tau: float) -> FloatArray:
    """Displacement per unit acceleration after a start at dt = 0 when the acceleration ramps
    linearly from 0 to its full value over tau seconds, then holds (tau = 0: a step)."""
    d = np.clip(dt, 0.0, None)
    if tau <= 0:
        return np.asarray(0.5 * d * d, dtype=np.float64)
    ramp = d**3 / (6 * tau)
    after = tau * tau / 6 + 0.5 * tau * (d - tau) + 0.5 * (d - tau) ** 2
    return np.where(d < tau, ramp, after)


# Ramp times tried by onset_fit, s: from a jerky start to force building over a sixth of a second.
ONSET_RAMPS = (0.0, 0.03, 0.06, 0.1, 0.16)


def onset_fit(
    t: FloatArray, z: FloatArray, t_lo: float, t_hi: float, up: bool = True, step: float = 0.002
) -> float | None:
    """When a still signal starts to move, fitted to raw measurements.

    Model on [t_lo, t_hi]: z = b before t0; after it, the displacement of an acceleration A that
    ramps up over tau (ramp_onset_shape). b and A >= 0 are fitted by least squares for each t0 on
    a `step` grid and each tau in ONSET_RAMPS; the smallest residual wins. None if there are too
    few points.
    """
    sel = (t >= t_lo) & (t <= t_hi) & np.isfinite(z)
    if np.count_nonzero(sel) < 6:
        return None
    ts, zs = t[sel], z[sel] * (1.0 if up else -1.0)
    starts = np.arange(t_lo, t_hi, step)
    if starts.size == 0:
        return None
    # Every (t0, tau) at once, t0-major as the grid is searched: shapes g (K, n). With the
    # constant, the least-squares A is cov(g, z) / var(g) and b = mean(z) - A mean(g).
    g = np.concatenate(
        [ramp_onset_shape(ts[None, :] - starts[:, None], tau)[:, None, :] for tau in ONSET_RAMPS],
        axis=1,
    ).reshape(-1, ts.size)
    gc = g - g.mean(axis=1, keepdims=True)
    zc = zs - zs.mean()
    var = np.einsum("kn,kn->k", gc, gc)
    cov = gc @ zc
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(var > 0, cov / var, 0.0)
    residual = zc - slope[:, None] * gc
    sse = np.einsum("kn,kn->k", residual, residual)
    sse = np.where(slope > 0, sse, np.inf)
    best = int(np.argmin(sse))
    if not np.isfinite(sse[best]):
        return None
    return float(starts[best // len(ONSET_RAMPS)])
