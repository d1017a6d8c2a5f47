"""Lift measures derived from a Session (SI): the moments and displacements the rules cite.

The analysis stage's "lift" block is preferred where it has a value (it comes from the smoothed,
finalised lift); the series and phase windows are the fallback so that a document without the
block (the seed's example, an older session) still gets judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from server.analysis.coaching.session import Moment, Session

# Below this (m) a horizontal displacement is treated as zero when classifying the bar path:
# about the plate-centre measurement error on a side-view clip.
PATH_DEAD_BAND_M = 0.005


def span(s: Session, first: str, last: str) -> tuple[float, float] | None:
    """(start of phase `first`, end of phase `last`) in seconds, when both phases are known."""
    if first not in s.phases or last not in s.phases:
        return None
    return s.phases[first][0], s.phases[last][1]


def _extreme(
    s: Session, name: str, window: tuple[float, float] | None, *, largest: bool
) -> Moment | None:
    """The largest (or smallest) known value of a series inside a window (whole series if None)."""
    series = s.get(name)
    if series is None:
        return None
    if window is not None:
        t, v = series.window(*window)
    elif series.t is not None:
        t, v = series.t[series.valid], series.values[series.valid]
    else:
        v = series.values[series.valid]
        t = np.full(v.shape, np.nan)
    if v.size == 0:
        return None
    i = int(np.argmax(v) if largest else np.argmin(v))
    when = float(t[i])
    return Moment(float(v[i]), when if np.isfinite(when) else None)


def series_max(s: Session, name: str, window: tuple[float, float] | None = None) -> Moment | None:
    return _extreme(s, name, window, largest=True)


def series_min(s: Session, name: str, window: tuple[float, float] | None = None) -> Moment | None:
    return _extreme(s, name, window, largest=False)


def pull_window(s: Session) -> tuple[float, float] | None:
    """Lift-off to the bar's highest point (first_pull start to turnover end) when known."""
    return span(s, "first_pull", "turnover")


def peak_velocity(s: Session) -> Moment | None:
    """Peak vertical bar velocity (m/s): the lift block's, else the series maximum in the pull."""
    if s.peak_velocity is not None:
        if s.peak_velocity.t is None and "second_pull" in s.phases:
            return Moment(s.peak_velocity.value, s.phases["second_pull"][1])
        return s.peak_velocity
    return series_max(s, "barbell_velocity", pull_window(s))


def max_height(s: Session) -> Moment | None:
    """The bar's highest point (m above the floor): the lift block's, else the series maximum."""
    if s.max_height is not None:
        if s.max_height.t is None and "turnover" in s.phases:
            return Moment(s.max_height.value, s.phases["turnover"][1])
        return s.max_height
    window = span(s, "first_pull", "catch") or pull_window(s)
    return series_max(s, "bar_height", window)


def catch_low(s: Session) -> Moment | None:
    """The lowest bar position in the catch phase (m), when the catch phase is known."""
    if "catch" not in s.phases:
        return None
    return series_min(s, "bar_height", s.phases["catch"])


@dataclass(frozen=True)
class PathDisplacements:
    """Horizontal bar displacements from the lift-off position, m, + = the lifter's facing side.

    early_forward: most forward in the first pull (a type-3 start moves away first).
    rearward: most rearward (toward the lifter) from lift-off to the start of the second pull.
    forward: most forward from the start of the second pull to the highest point (the loop).
    catch: the position at the end of the catch.
    """

    early_forward: Moment
    rearward: Moment
    forward: Moment
    catch: Moment | None


def path_displacements(s: Session) -> PathDisplacements | None:
    """The displacements that define the bar-path type, from the barbell_trajectory series."""
    if not all(p in s.phases for p in ("first_pull", "transition", "second_pull", "turnover")):
        return None
    early = series_max(s, "barbell_trajectory", s.phases["first_pull"])
    rear = series_min(s, "barbell_trajectory", span(s, "first_pull", "transition"))
    forward = series_max(s, "barbell_trajectory", span(s, "second_pull", "turnover"))
    if early is None or rear is None or forward is None:
        return None
    catch = None
    series = s.get("barbell_trajectory")
    if "catch" in s.phases and series is not None:
        end = s.phases["catch"][1]
        value = series.at(end)
        catch = Moment(value, end) if value is not None else None
    return PathDisplacements(early, rear, forward, catch)


def classify_bar_path(d: PathDisplacements) -> str:
    """Vorobyev type from the displacements (used when the analysis stage gave none).

    '3': the bar's first move off the floor is away from the lifter (forward past the dead band,
         before any move toward the lifter, or with none at all);
    '1': it moves toward the lifter, then crosses the start line forward in the second pull;
    '2': toward the lifter, then away, but never back across the start line.
    """
    band = PATH_DEAD_BAND_M
    if d.early_forward.value > band:
        never_back = d.rearward.value > -band
        away_first = (
            d.early_forward.t is not None
            and d.rearward.t is not None
            and d.early_forward.t < d.rearward.t
        )
        if never_back or away_first:
            return "3"
    if d.forward.value > band:
        return "1"
    return "2"


def running_median(values: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Centred running median of odd `width` (shorter at the ends): one outlier cannot win."""
    if values.size == 0 or width <= 1:
        return values.copy()
    half = width // 2
    return np.array(
        [float(np.median(values[max(0, i - half) : i + half + 1])) for i in range(values.size)],
        dtype=np.float64,
    )
