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


# The onset model's powers of the time since the start: an acceleration that is zero when the bar
# leaves rest (the pull's force just equals the load's weight) and then grows smoothly,
# a(d) = j d + k d^2 + l d^3, integrates to displacement d^3, d^4 and d^5 terms. A model without
# the d^4 and d^5 terms (a linear force ramp, then a constant pull) misses how the pull builds
# over the fitted 10 cm and found lift-off 11-20 ms late on noise-free synthetic lifts; this one
# is within 2 ms there (tests/test_analysis_pipeline.py).
ONSET_POWERS = (3, 4, 5)


def onset_fit(
    t: FloatArray, z: FloatArray, t_lo: float, t_hi: float, up: bool = True, step: float = 0.001
) -> float | None:
    """When a still signal starts to move, fitted to raw measurements.

    Model on [t_lo, t_hi]: z = b before t0; after it, b + sum_p c_p d^p with d = t - t0 and p in
    ONSET_POWERS (a smooth start from rest). b and c are fitted by least squares for each t0 on a
    `step` grid; among the fits whose displacement never goes backwards over the window (moving
    up, or down when not `up`), the smallest residual wins. None if there are too few points or
    no fit moves the right way.
    """
    sel = (t >= t_lo) & (t <= t_hi) & np.isfinite(z)
    if np.count_nonzero(sel) < 2 + 2 * len(ONSET_POWERS):
        return None
    ts, zs = t[sel], z[sel] * (1.0 if up else -1.0)
    starts = np.arange(t_lo, t_hi, step)
    if starts.size == 0:
        return None
    span = float(ts[-1] - t_lo)
    # Every t0 at once: the design matrices (K, n, 1 + P) in time scaled to the window (so the
    # powers stay well conditioned) and their normal equations, solved as one batch.
    d = np.clip(ts[None, :] - starts[:, None], 0.0, None) / span
    g = np.stack([np.ones_like(d)] + [d**p for p in ONSET_POWERS], axis=2)
    gram = np.einsum("kni,knj->kij", g, g)
    rhs = np.einsum("kni,n->ki", g, zs)
    ok = np.linalg.matrix_rank(gram) == gram.shape[1]
    coef = np.zeros_like(rhs)
    coef[ok] = np.linalg.solve(gram[ok], rhs[ok][..., None])[..., 0]
    residual = zs[None, :] - np.einsum("kni,ki->kn", g, coef)
    sse = np.where(ok, np.einsum("kn,kn->k", residual, residual), np.inf)
    # Moving the right way: the fitted velocity is >= 0 from t0 to the window's end, and the bar
    # has moved by then.
    u = np.linspace(0.0, 1.0, 33)[None, :] * ((ts[-1] - starts) / span)[:, None]
    c = coef[:, 1:, None]
    powers = np.array(ONSET_POWERS, dtype=np.float64)[None, :, None]
    speed = np.sum(powers * c * u[:, None, :] ** (powers - 1), axis=1)
    moved = np.sum(c[:, :, 0] * u[:, None, -1] ** powers[:, :, 0], axis=1)
    sse = np.where(np.all(speed >= 0.0, axis=1) & (moved > 0.0), sse, np.inf)
    best = int(np.argmin(sse))
    if not np.isfinite(sse[best]):
        return None
    return float(starts[best])
