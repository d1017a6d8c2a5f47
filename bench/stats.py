"""Pure helpers of the benchmark: error and latency statistics, ratios, frame matching.

Nothing here times anything or touches a model, so tests drive it with literal arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# The RTP clock of video (90 kHz): the live client stamps frame i with pts = round(t_i * 90000)
# and the server's sample carries t = pts / 90000, so ticks identify a frame exactly.
RTP_HZ = 90000


def ticks(t: float) -> int:
    """A stream time in seconds as whole 90 kHz ticks (the key matching a sample to its frame)."""
    return round(t * RTP_HZ)


@dataclass(frozen=True)
class Spread:
    """Percentiles of a set of durations, milliseconds. count: how many values."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, seconds: Iterable[float]) -> Spread:
        """Spread of durations given in seconds; all zero (count 0) for no values."""
        ms = np.asarray(list(seconds), np.float64) * 1000.0
        if ms.size == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(
            int(ms.size), float(ms.mean()), float(p50), float(p90), float(p99), float(ms.max())
        )

    def rounded(self, digits: int = 2) -> dict[str, float | int]:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in vars(self).items()}


def position_errors(estimate: ArrayLike, truth: ArrayLike) -> NDArray[np.float64]:
    """(N,) Euclidean distance between (N, 2) estimates and (N, 2) truth; NaN where the estimate
    has no value (a lost frame)."""
    est = np.asarray(estimate, np.float64).reshape(-1, 2)
    ref = np.asarray(truth, np.float64).reshape(-1, 2)
    if est.shape != ref.shape:
        raise ValueError(f"estimate {est.shape} and truth {ref.shape} differ in shape")
    return np.asarray(np.hypot(*(est - ref).T), np.float64)


def rmse(errors: ArrayLike) -> float:
    """Root mean square of the finite errors (NaN: no finite value)."""
    e = np.asarray(errors, np.float64)
    e = e[np.isfinite(e)]
    return float(np.sqrt(np.mean(e**2))) if e.size else math.nan


def median_index(values: Sequence[float]) -> int:
    """Index of the median of `values` (the lower one of the middle two for an even count), so a
    caller can report the whole run that gave it."""
    if not values:
        raise ValueError("median of no values")
    return sorted(range(len(values)), key=values.__getitem__)[(len(values) - 1) // 2]


def ratio(ours: float | None, peer: float | None, digits: int = 2) -> float | None:
    """ours / peer, rounded; None when either is missing, not finite, or the peer is zero."""
    if ours is None or peer is None:
        return None
    if not (math.isfinite(ours) and math.isfinite(peer)) or peer == 0:
        return None
    return round(ours / peer, digits)


def finite_or_none(value: float, digits: int = 2) -> float | None:
    """A float for JSON: rounded, or None for NaN/inf (JSON has no NaN)."""
    return round(value, digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class Matched:
    """Samples matched to the frames they answer.

    latencies_s: (receipt - send) for each sample whose frame was sent. unmatched: samples whose
    time matches no sent frame. duplicates: samples for a frame already answered (ignored).
    """

    latencies_s: list[float]
    unmatched: int
    duplicates: int


# The server sends a sample's t rounded to 0.1 ms; frames are at least ~16 ms apart.
MATCH_TOLERANCE_S = 0.0005


def match_samples(
    sent: Mapping[int, float],
    samples: Sequence[tuple[float, float]],
    tolerance_s: float = MATCH_TOLERANCE_S,
) -> Matched:
    """Frame-to-event latency: sent maps a frame's 90 kHz tick to when it was sent; samples are
    (t, received) pairs, t the sample's stream time in seconds. A sample answers the sent frame
    nearest its t, if within tolerance_s. Both times must be read from the same clock."""
    keys = np.array(sorted(sent), np.int64)
    latencies: list[float] = []
    seen: set[int] = set()
    unmatched = duplicates = 0
    for t, received in samples:
        key = _nearest(keys, ticks(t))
        if key is None or abs(key - t * RTP_HZ) > tolerance_s * RTP_HZ:
            unmatched += 1
        elif key in seen:
            duplicates += 1
        else:
            seen.add(key)
            latencies.append(received - sent[key])
    return Matched(latencies, unmatched, duplicates)


def _nearest(keys: NDArray[np.int64], tick: int) -> int | None:
    if keys.size == 0:
        return None
    i = int(np.searchsorted(keys, tick))
    near = [int(keys[j]) for j in (i - 1, i) if 0 <= j < keys.size]
    return min(near, key=lambda k: abs(k - tick))


def rate(count: int, span_s: float) -> float:
    """Events per second over a span; 0 for an empty span."""
    return count / span_s if span_s > 0 else 0.0
