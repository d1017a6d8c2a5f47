"""Frame timing checks: duplicated frames, gaps, uneven cadences.

Real files lie about time in a few recurring ways: a frame repeated (the encoder got the same
picture twice), frames dropped (a gap in the timestamps), or frames dropped in a regular cadence and
the rest re-stamped evenly (a 30 fps recording with every sixth frame dropped, stamped as 25 fps).
The last one cannot be seen in the timestamps at all; it shows up as a jump in picture change every
fifth frame. These functions take plain per-frame series so a test can drive them with literals.

`change` everywhere is the mean absolute grey-level difference (0-255) between a frame's thumbnail
and the previous frame's, as computed by `thumbnail_change`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

# Largest width of the grey thumbnail used to compare frames: small enough to cost under a
# millisecond at 720p and to average sensor noise away, large enough to see a bar move.
THUMB_WIDTH = 160
# Below this change (grey levels) two thumbnails are the same picture re-encoded. Static tripod
# scenes measured 0.13 at least on the shared clips, a re-encoded repeated frame 0.003-0.08.
IDENTICAL_CHANGE = 0.08
# A frame whose change is this small a fraction of both neighbours' changes is a repeat in the middle
# of motion (the next frame then carries two frames' worth of motion).
DIP_RATIO = 0.2
DIP_MAX_CHANGE = 0.5
# An interval this much longer than the typical one is a gap (at least one frame missing).
GAP_RATIO = 1.5
# Cadence search: periods (frames) and how clear the periodic jump must be.
CADENCE_PERIODS = range(3, 11)
CADENCE_MIN_CYCLES = 5
CADENCE_JUMP_RATIO = 1.25
CADENCE_MIN_FRACTION = 0.7
CADENCE_MIN_MEDIAN_RATIO = 1.3


def grey_thumbnail(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A thumbnail at most THUMB_WIDTH wide of an (H, W) uint8 grey frame.

    Each thumbnail pixel is the mean of a k x k block (k = ceil(W / THUMB_WIDTH)); the last
    W mod k columns and H mod k rows are left out. An integer factor takes OpenCV's fast area path,
    a tenth of the cost of an arbitrary one (0.3 against 2.6 ms on a 720x900 frame here).
    """
    height, width = grey.shape
    k = max(1, -(-width // THUMB_WIDTH))
    if height < k:
        k = max(1, height)
    cropped = grey[: height // k * k, : width // k * k]
    small = cv2.resize(cropped, (width // k, height // k), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


def thumbnail_change(current: NDArray[np.uint8], previous: NDArray[np.uint8]) -> float:
    """Mean absolute grey-level difference (0-255) between two thumbnails of equal shape."""
    return float(cv2.mean(cv2.absdiff(current, previous))[0])


def is_duplicate(change: float, prev_change: float | None, next_change: float | None) -> bool:
    """Whether a frame with this change repeats the previous picture.

    prev_change / next_change: the changes of the neighbouring frames (None when absent). A smooth
    slow-down (the bottom of a squat) also has a low change, but its neighbours are low too; a
    repeated frame is a sharp dip or (near) zero.
    """
    if change < IDENTICAL_CHANGE:
        return True
    neighbours = [c for c in (prev_change, next_change) if c is not None]
    if not neighbours or change >= DIP_MAX_CHANGE:
        return False
    return change < DIP_RATIO * min(neighbours)


@dataclass(frozen=True)
class Cadence:
    """A periodic jump in a per-frame series.

    period: frames per cycle. phase: index (mod period) of the jumping element in the series.
    fraction: share of cycles in which the element jumped. median_ratio: its median size relative
    to the mean of its two neighbours.
    """

    period: int
    phase: int
    fraction: float
    median_ratio: float


def find_cadence(values: Sequence[float] | NDArray[np.float64]) -> Cadence | None:
    """The clearest periodic jump in a series (changes or intervals), or None.

    Each element is compared with the mean of its two neighbours; a period and phase whose elements
    jump in most cycles (and the others do not) is a cadence. Smooth motion, ramps and one-off
    spikes do not qualify.
    """
    series = np.asarray(values, dtype=np.float64)
    if series.size < 3:
        return None
    ratio = np.full(series.size, np.nan)
    ratio[1:-1] = series[1:-1] / np.maximum(0.5 * (series[:-2] + series[2:]), 1e-9)
    best: tuple[float, Cadence] | None = None
    for period in CADENCE_PERIODS:
        for phase in range(period):
            picked = np.zeros(series.size, dtype=bool)
            picked[phase::period] = True
            mine = ratio[picked & np.isfinite(ratio)]
            rest = ratio[~picked & np.isfinite(ratio)]
            if mine.size < CADENCE_MIN_CYCLES or rest.size == 0:
                continue
            fraction = float(np.mean(mine > CADENCE_JUMP_RATIO))
            score = fraction - float(np.mean(rest > CADENCE_JUMP_RATIO))
            if best is None or score > best[0]:
                best = (score, Cadence(period, phase, fraction, float(np.median(mine))))
    if best is None:
        return None
    cadence = best[1]
    if cadence.fraction < CADENCE_MIN_FRACTION or cadence.median_ratio < CADENCE_MIN_MEDIAN_RATIO:
        return None
    return cadence


def _frame_list(indices: NDArray[np.intp], limit: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (", ..." if indices.size > limit else "")


def _interval_warnings(t: NDArray[np.float64]) -> list[str]:
    warnings: list[str] = []
    dt = np.diff(t)
    bad = np.flatnonzero(dt <= 0) + 1
    if bad.size:
        warnings.append(
            f"timestamps do not increase at {bad.size} frame(s) (frames {_frame_list(bad)}); "
            "those frames share or reverse time"
        )
    positive = dt[dt > 0]
    if positive.size < 2:
        return warnings
    typical = float(np.median(positive))
    cadence = find_cadence(positive) if positive.size >= 3 * CADENCE_MIN_CYCLES else None
    if cadence is not None:
        warnings.append(
            f"uneven frame timing: one interval in every {cadence.period} is about "
            f"{cadence.median_ratio:.1f}x the typical {typical * 1e3:.1f} ms "
            f"(about 1 frame in {cadence.period + 1} dropped)"
        )
        return warnings
    gaps = np.flatnonzero(dt > GAP_RATIO * typical) + 1
    off = np.abs(positive - typical) > 0.25 * typical
    if float(np.mean(off)) > 0.2:
        warnings.append(
            f"variable frame rate: intervals range from {positive.min() * 1e3:.1f} to "
            f"{positive.max() * 1e3:.1f} ms (typical {typical * 1e3:.1f} ms)"
        )
    elif gaps.size:
        worst = int(gaps[np.argmax(dt[gaps - 1])])
        warnings.append(
            f"{gaps.size} gap(s) in the timestamps longer than {GAP_RATIO}x the typical "
            f"{typical * 1e3:.1f} ms interval (frames dropped before frames {_frame_list(gaps)}; "
            f"largest {dt[worst - 1] * 1e3:.0f} ms before t={t[worst]:.3f} s)"
        )
    return warnings


def timing_report(
    ts: Sequence[float],
    *,
    duplicate: Sequence[bool] | None = None,
    change: Sequence[float | None] | None = None,
) -> list[str]:
    """Warnings (plain sentences) when frame timing looks irregular; empty when it looks regular.

    ts: each frame's presentation time, seconds. duplicate: per frame, whether it repeats the
    previous picture. change: per frame, the thumbnail change against the previous frame (None for
    the first). Catches non-increasing timestamps, gaps, cadenced drops visible in the timestamps,
    variable frame rate, repeated frames, and cadenced drops hidden by even timestamps (the picture
    jumps every n-th frame).
    """
    t = np.asarray(ts, dtype=np.float64)
    warnings = _interval_warnings(t) if t.size >= 2 else []
    intervals_regular = not warnings
    if duplicate is not None:
        dups = np.flatnonzero(np.asarray(duplicate, dtype=bool))
        if dups.size:
            warnings.append(
                f"{dups.size} of {len(duplicate)} frames repeat the previous picture "
                f"(frames {_frame_list(dups)}): they add no new moment, so the time between real "
                "picture changes is longer there"
            )
    # With honest timestamps a dropped frame already shows as a gap; only look for a hidden cadence
    # when the intervals look even.
    if change is not None and intervals_regular:
        values = [c for c in change if c is not None]
        cadence = find_cadence(values) if len(values) >= 3 * CADENCE_MIN_CYCLES else None
        if cadence is not None:
            warnings.append(
                f"the picture jumps once every {cadence.period} frames (about "
                f"{cadence.median_ratio:.1f}x the change of its neighbours) although the "
                f"timestamps are even: about 1 frame in {cadence.period + 1} looks dropped and the "
                "rest re-stamped, so frame-to-frame speeds are uneven; smooth over several frames"
            )
    return warnings
