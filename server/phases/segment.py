"""Offline phase segmentation of whole, smoothed series (at finalisation).

Input: bar height above the floor (m), vertical velocity (m/s) and acceleration (m/s²) per frame,
optionally the knee angle (degrees). Output: one `LiftSegments` per lift found.

A lift is an excursion of the bar off its rest level whose first upward surge reaches Olympic-pull
speed and that has a turnover (a highest point followed by the bar coming down onto the lifter).
Within it: lift-off (the bar leaves rest), first pull end (first knee extension if the knee is
known, else the velocity peak before the dip between the pulls), transition end (knee re-bend /
the dip), second pull end (peak bar velocity), turnover end (bar's highest point), catch end
(lowest receiving point), recovery end (standing still); clean and jerk adds the jerk's dip,
drive, catch and recovery. An excursion that is not that pattern (a deadlift, a curl) raises
NoLiftError; a clip where the bar never leaves the floor gives no lifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from server.errors import NoLiftError
from server.phases.events import (
    crossing_time,
    local_extrema,
    next_crossing,
    onset_fit,
    previous_crossing,
    refined_extremum,
    still_from,
)
from server.phases.types import BOUNDARY_EVENTS, Exercise, PhaseEvent, phases_for

FloatArray = NDArray[np.float64]

PLATE_RADIUS_M = 0.225
OFF_FLOOR_M = 0.05  # above rest: the bar is off the floor
MIN_RISE_M = 0.25  # an excursion that rises less is a shift or a wobble, not an attempt
PULL_MIN_PEAK = 1.1  # m/s: a deadlift peaks near 0.6-0.9, an Olympic pull above 1.2
START_SPEED = 0.1  # m/s: velocity threshold whose crossing is extrapolated back to lift-off
STILL_SPEED = 0.05  # m/s
STILL_HOLD_S = 0.3
DIP_MIN = 0.02  # m/s: a velocity dip between the pulls smaller than this is noise
JERK_DIP_SPEED = 0.15  # m/s downward: the jerk's dip has started
JERK_DRIVE_SPEED = 0.8  # m/s upward: a drive, not a wobble
# Backward extrapolation from the START_SPEED crossing to the moment the bar left the floor:
# with force building up continuously, velocity grows about quadratically from lift-off
# (v = j τ²/2, a = j τ), so τ = 2 v / a.
ONSET_FACTOR = 2.0
ONSET_SPAN_M = 0.1  # the onset fit uses positions up to this far from rest
ONSET_LOOKBACK_S = 0.3


@dataclass(frozen=True)
class LiftSegments:
    """One lift. events: boundary event name (BOUNDARY_EVENTS values) -> t (s), plus the bar
    events lift_off, peak_velocity, max_height, catch, lift_end. phases: phase -> (start, end) s.
    frames: event -> nearest frame index. warnings: what was guessed."""

    exercise: Exercise
    events: dict[str, float]
    phases: dict[str, tuple[float, float]]
    frames: dict[str, int]
    warnings: tuple[str, ...] = field(default=())

    def phase_events(self) -> list[PhaseEvent]:
        """One PhaseEvent per phase start, in order."""
        out = []
        for name, (start, _) in self.phases.items():
            out.append(PhaseEvent(name, start, self.frames.get(f"{name}:start", 0)))
        return out


def _nearest(t: FloatArray, when: float) -> int:
    return int(np.argmin(np.abs(t - when)))


def excursions(height: FloatArray, rest: float) -> list[tuple[int, int]]:
    """[start, stop) index runs where the bar is off the floor."""
    off = height > rest + OFF_FLOOR_M
    runs, i, n = [], 0, height.shape[0]
    while i < n:
        if not off[i]:
            i += 1
            continue
        j = i
        while j < n and off[j]:
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _onset(
    t: FloatArray,
    v: FloatArray,
    a: FloatArray,
    i_fast: int,
    lo: int,
    up: bool,
    measured: FloatArray | None,
    height: FloatArray,
) -> float:
    """When a movement started. From the smoothed series: the last START_SPEED crossing before
    i_fast, extrapolated back. With raw measurements, refined by an onset fit on the positions
    around it (a smoother spreads the start over several frames)."""
    sign = 1.0 if up else -1.0
    i = previous_crossing(sign * v, i_fast, lo, rising=True, level=START_SPEED)
    if i is None:
        return float(t[lo])
    tc = crossing_time(t, sign * v, i, START_SPEED)
    ac = sign * float(np.interp(tc, t, a))
    back = ONSET_FACTOR * START_SPEED / ac if ac > 0.2 else 0.0
    guess = max(float(t[lo]), tc - min(back, 0.3))
    if measured is None:
        return guess
    # Fit from well before the guess to where the bar has moved ONSET_SPAN_M.
    base = float(np.interp(guess, t, height))
    moved = np.flatnonzero((sign * (height - base) > ONSET_SPAN_M) & (t > guess))
    t_hi = float(t[moved[0]]) if moved.size else guess + 0.2
    t_lo = max(float(t[lo]), guess - ONSET_LOOKBACK_S)
    fit = onset_fit(t, measured, t_lo, t_hi, up=up)
    return guess if fit is None else fit


def _first_pull(
    t: FloatArray,
    v: FloatArray,
    a: FloatArray,
    knee: FloatArray | None,
    i_off: int,
    i_peak: int,
    warnings: list[str],
) -> tuple[float, float]:
    """(first_pull_end, transition_end) times."""
    if knee is not None:
        k = knee[i_off : i_peak + 1]
        if k.size >= 5 and np.mean(np.isfinite(k)) > 0.6:
            kk = np.interp(np.arange(k.size), np.flatnonzero(np.isfinite(k)), k[np.isfinite(k)])
            maxima = local_extrema(kk, 1, kk.size - 1, maxima=True)
            for m in maxima:
                minima = [j for j in local_extrema(kk, m + 1, kk.size - 1, maxima=False)]
                if minima and kk[m] - kk[minima[0]] > 2.0:
                    return float(t[i_off + m]), float(t[i_off + minima[0]])
            warnings.append("knee angle shows no re-bend between the pulls; phases from bar speed")
    # The velocity dip of the double knee bend: the local maximum followed by the deepest drop
    # before the second pull (noise makes small wiggles; the deepest one is the knee).
    best, best_drop = None, DIP_MIN
    for m in local_extrema(v, i_off + 2, i_peak, maxima=True):
        drop = float(v[m] - np.min(v[m:i_peak]))
        if drop >= best_drop:
            best, best_drop = m, drop
    if best is not None:
        low = best + int(np.argmin(v[best:i_peak]))
        return refined_extremum(t, v, best)[0], refined_extremum(t, v, low)[0]
    # No dip: the knee passes where the bar's acceleration is lowest between the pulls.
    warnings.append("no velocity dip between the pulls; first pull end from the acceleration")
    lo = i_off + max(2, (i_peak - i_off) // 5)
    if i_peak - lo < 2:
        mid = float((t[i_off] + t[i_peak]) / 2)
        return mid, mid
    i_min = lo + int(np.argmin(a[lo:i_peak]))
    a_max = float(np.max(a[i_min : i_peak + 1]))
    level = (float(a[i_min]) + a_max) / 2
    j = next_crossing(t, a, i_min, i_peak + 1, rising=True, level=level)
    t_tr = crossing_time(t, a, j, level) if j is not None else float(t[i_min])
    return float(t[i_min]), t_tr


def _turnover_and_catch(
    t: FloatArray, v: FloatArray, i_peak: int, stop: int
) -> tuple[float, int, float, int] | None:
    """(max_height time, index, catch time, index) after the velocity peak, or None."""
    i_top = next_crossing(t, v, i_peak, stop, rising=False)
    if i_top is None:
        return None
    t_top = crossing_time(t, v, i_top)
    i_low = next_crossing(t, v, i_top + 1, stop, rising=True)
    if i_low is None:
        return None
    return t_top, i_top, crossing_time(t, v, i_low), i_low


def _recovery_end(
    t: FloatArray, v: FloatArray, i_low: int, stop: int, warnings: list[str]
) -> tuple[float, int]:
    i_rise = i_low + 1
    # Skip the first moments after the lowest point, where the speed passes zero anyway.
    while i_rise < stop - 1 and abs(v[i_rise]) < STILL_SPEED and t[i_rise] - t[i_low] < 0.3:
        i_rise += 1
    i_still = still_from(t[:stop], v[:stop], i_rise, STILL_SPEED, STILL_HOLD_S)
    if i_still is not None:
        return float(t[i_still]), i_still
    fall = next_crossing(t, v, i_rise, stop, rising=False, level=-0.5)
    if fall is not None:
        warnings.append("bar dropped before the lifter stood still")
        return float(t[fall]), fall
    warnings.append("recording ends before the lifter stood still")
    return float(t[stop - 1]), stop - 1


def _jerk(
    t: FloatArray,
    height: FloatArray,
    v: FloatArray,
    a: FloatArray,
    measured: FloatArray | None,
    start: int,
    stop: int,
    warnings: list[str],
) -> dict[str, float] | None:
    i_dip = next_crossing(t, v, start, stop, rising=False, level=-JERK_DIP_SPEED)
    if i_dip is None:
        return None
    i_bottom = next_crossing(t, v, i_dip, stop, rising=True)
    if i_bottom is None:
        return None
    i_drive = next_crossing(t, v, i_bottom, stop, rising=True, level=JERK_DRIVE_SPEED)
    if i_drive is None:
        return None
    t_dip = _onset(t, v, a, i_dip + 1, start, False, measured, height)
    seg = _turnover_and_catch(t, v, i_drive, stop)
    if seg is None:
        return None
    _, i_top, t_catch, i_low = seg
    i_peak = i_bottom + int(np.argmax(v[i_bottom : i_top + 1]))
    t_rec, _ = _recovery_end(t, v, i_low, stop, warnings)
    return {
        "jerk_dip_start": t_dip,
        "jerk_dip_end": crossing_time(t, v, i_bottom),
        "jerk_drive_end": refined_extremum(t, v, i_peak)[0],
        "jerk_max_height": seg[0],
        "jerk_catch_end": t_catch,
        "jerk_recovery_end": t_rec,
    }


def _segment_one(
    t: FloatArray,
    height: FloatArray,
    v: FloatArray,
    a: FloatArray,
    knee: FloatArray | None,
    measured: FloatArray | None,
    exercise: Exercise,
    lo: int,
    start: int,
    stop: int,
    setup_start: float,
) -> LiftSegments:
    warnings: list[str] = []
    seg_stop = min(stop + 1, t.shape[0])
    i_fast = (
        start + int(np.argmax(v[start:seg_stop] > 0.3))
        if np.any(v[start:seg_stop] > 0.3)
        else start
    )
    t_off = _onset(t, v, a, i_fast, lo, True, measured, height)
    i_off = _nearest(t, t_off)
    i_top0 = next_crossing(t, v, i_fast, seg_stop, rising=False)
    i_end = i_top0 if i_top0 is not None else seg_stop - 1
    i_peak = i_off + int(np.argmax(v[i_off : i_end + 1]))
    t_peak, v_peak = refined_extremum(t, v, i_peak)
    if v_peak < PULL_MIN_PEAK:
        raise NoLiftError(
            f"the bar moved but not like a snatch or clean: peak bar velocity {v_peak:.2f} m/s "
            f"(an Olympic pull exceeds {PULL_MIN_PEAK} m/s)"
        )
    tc = _turnover_and_catch(t, v, i_peak, seg_stop)
    if tc is None:
        raise NoLiftError(
            f"the bar rose at {v_peak:.2f} m/s but was never received (no turnover and catch)"
        )
    t_top, _, t_catch, i_low = tc
    t_fp, t_tr = _first_pull(t, v, a, knee, i_off, i_peak, warnings)
    t_rec, i_rec = _recovery_end(t, v, i_low, seg_stop, warnings)
    ev = {
        "start_of_lifting": t_off,
        "first_pull_end": t_fp,
        "transition_end": t_tr,
        "second_pull_end": t_peak,
        "turnover_end": t_top,
        "catch_end": t_catch,
        "recovery_end": t_rec,
    }
    lift_end = t_rec
    if exercise is Exercise.CLEAN_AND_JERK:
        jerk = _jerk(t, height, v, a, measured, i_rec, seg_stop, warnings)
        if jerk is None:
            warnings.append("no jerk found after the clean; jerk phases left out")
        else:
            ev.update(jerk)
            lift_end = jerk["jerk_recovery_end"]
    bounds = {"setup": (setup_start, t_off)}
    order = [p for p in phases_for(exercise) if p != "setup"]
    prev = t_off
    for phase in order:
        end_name = BOUNDARY_EVENTS[phase]
        if end_name not in ev:
            continue
        begin = ev["jerk_dip_start"] if phase == "jerk_dip" else prev
        bounds[phase] = (begin, ev[end_name])
        prev = ev[end_name]
    ev.update(
        lift_off=t_off,
        peak_velocity=t_peak,
        max_height=t_top,
        catch=t_catch,
        lift_end=lift_end,
    )
    frames = {name: _nearest(t, when) for name, when in ev.items()}
    frames.update({f"{p}:start": _nearest(t, s) for p, (s, _) in bounds.items()})
    return LiftSegments(exercise, ev, bounds, frames, tuple(warnings))


def segment(
    t: FloatArray,
    height: FloatArray,
    vy: FloatArray,
    ay: FloatArray,
    exercise: Exercise | str,
    knee_angle: FloatArray | None = None,
    measured_height: FloatArray | None = None,
    rest_height: float = PLATE_RADIUS_M,
) -> list[LiftSegments]:
    """All lifts in the series, in order. Raises NoLiftError when the bar moves in a way that is
    not a snatch/clean(/jerk) pattern; returns [] when the bar never leaves the floor.

    t: (N,) s. height, vy, ay: smoothed bar series (m, m/s, m/s²). knee_angle: (N,) degrees, NaN
    where unknown. measured_height: (N,) the raw bar heights (m, NaN where missed), used to time
    the starts of movements more precisely than the smoothed series can.
    """
    ex = Exercise(exercise)
    lifts: list[LiftSegments] = []
    lo, setup_start = 0, float(t[0])
    rejected: NoLiftError | None = None
    for start, stop in excursions(height, rest_height):
        if float(np.max(height[start:stop])) - rest_height < MIN_RISE_M:
            continue
        try:
            lift = _segment_one(
                t, height, vy, ay, knee_angle, measured_height, ex, lo, start, stop, setup_start
            )
        except NoLiftError as exc:
            rejected = rejected or exc
        else:
            lifts.append(lift)
            setup_start = lift.events["lift_end"]
        lo = stop
    if not lifts and rejected is not None:
        raise rejected
    return lifts
