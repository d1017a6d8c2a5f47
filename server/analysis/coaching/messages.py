"""The first message of each lift-analysis comment thread: one per metric of the seed.

Each message cites the numbers it rests on (value, time, phase) in the requested unit system and
adds the rule finding about that metric, if any. A metric without enough data gets a "Not enough
data" message saying what is missing; nothing here raises for missing or null series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from server.analysis.coaching import thresholds as th
from server.analysis.coaching.findings import Finding
from server.analysis.coaching.measures import peak_velocity, series_max, series_min, span
from server.analysis.coaching.quantities import check_units, format_value
from server.analysis.coaching.rules import evaluate
from server.analysis.coaching.session import METRIC_GROUPS, Moment, Series, Session

LABELS: dict[str, str] = {
    "power_output": "Power output",
    "ground_reaction_force": "Ground reaction force",
    "barbell_velocity": "Bar velocity",
    "hip_velocity": "Hip velocity",
    "shin_angle": "Shin angle",
    "hip_height": "Hip height",
    "torso_angle": "Torso angle",
    "hip_angle": "Hip angle",
    "knee_angle": "Knee angle",
    "bar_height": "Bar height",
    "barbell_trajectory": "Bar path",
    "vertical_shoulder_height": "Shoulder height",
}
# Which rule findings belong in which metric's thread.
RELATED: dict[str, tuple[str, ...]] = {
    "barbell_velocity": ("peak_velocity", "slow_turnover"),
    "hip_angle": ("incomplete_extension",),
    "knee_angle": ("incomplete_extension",),
    "bar_height": ("catch_crash",),
    "barbell_trajectory": ("bar_path_type", "bar_loop_away"),
}
_BODY = {
    "hip_velocity",
    "shin_angle",
    "hip_height",
    "torso_angle",
    "hip_angle",
    "knee_angle",
    "vertical_shoulder_height",
}


class _Ctx:
    """What every metric message needs: the session, its findings, the units, key moments."""

    def __init__(self, s: Session, findings: list[Finding], units: str) -> None:
        self.s, self.units = s, units
        self.findings = {f.id: f for f in findings}
        self.lift_off = s.phases["first_pull"][0] if "first_pull" in s.phases else None
        self.knee_pass = s.phases["first_pull"][1] if "first_pull" in s.phases else None
        peak = peak_velocity(s)
        self.peak_t = peak.t if peak is not None else None
        self.catch = s.phases.get("catch")
        self.lift = span(s, "first_pull", "catch") or span(s, "first_pull", "turnover")

    def moment(self, series: Series, m: Moment | None) -> str | None:
        """'1.85 m/s at 1.23 s (second pull)' or None when unknown."""
        if m is None:
            return None
        text = format_value(series.quantity, m.value, self.units)
        if m.t is not None:
            text += f" at {m.t:.2f} s"
            phase = self.s.phase_at(m.t)
            if phase:
                text += f" ({phase.replace('_', ' ')})"
        return text

    def at(self, series: Series, t: float | None) -> str | None:
        if t is None:
            return None
        value = series.at(t)
        return None if value is None else format_value(series.quantity, value, self.units)

    def extremes(
        self, series: Series, window: tuple[float, float] | None
    ) -> tuple[str | None, str | None]:
        """(highest, lowest) in a window, as moment texts."""
        name = series.name
        return (
            self.moment(series, series_max(self.s, name, window)),
            self.moment(series, series_min(self.s, name, window)),
        )

    def related(self, metric: str) -> str:
        texts = [
            self.findings[rule].text(self.units)
            for rule in RELATED.get(metric, ())
            if rule in self.findings and self.findings[rule].severity != "not_judged"
        ]
        return " ".join(texts)


def _join(label: str, parts: list[tuple[str, str | None]], fallback: str) -> str:
    """'Label: a x, b y.' from the known parts, or the fallback sentence if none is known."""
    known = [f"{what} {value}" for what, value in parts if value is not None]
    if not known:
        return fallback
    return f"{label}: " + "; ".join(known) + "."


def _general(c: _Ctx, series: Series, label: str) -> str:
    """Whole-lift range, used when the phases are unknown."""
    high, low = c.extremes(series, c.lift)
    return _join(label, [("highest", high), ("lowest", low)], f"{label}: no values in the lift.")


def _power(c: _Ctx, sr: Series) -> str:
    high, _ = c.extremes(sr, c.lift)
    pull = span(c.s, "first_pull", "second_pull")
    mean = None
    if pull is not None:
        _, v = sr.window(*pull)
        mean = format_value(sr.quantity, float(np.mean(v)), c.units) if v.size else None
    return _join(
        "Power output (bar force x bar velocity)",
        [("peak", high), ("average from lift-off to peak velocity", mean)],
        _general(c, sr, "Power output"),
    )


def _force(c: _Ctx, sr: Series) -> str:
    high, low = c.extremes(sr, c.lift)
    text = _join(
        "Ground reaction force",
        [("at lift-off", c.at(sr, c.lift_off)), ("peak", high), ("lowest", low)],
        _general(c, sr, "Ground reaction force"),
    )
    model = (c.s.force_model or "").lower()
    if "system" in model or "body" in model:
        text += " Estimated for bar and lifter together (body mass known)."
    elif "bar" in model:
        text += " Bar term only (bar mass x (g + bar acceleration)): the body mass is unknown."
    else:
        text += " Estimated from the bar's acceleration, plus the body's when body mass is known."
    return text


def _bar_velocity(c: _Ctx, sr: Series) -> str:
    end_first = c.at(sr, c.knee_pass)
    start_second = c.at(sr, c.s.phases["second_pull"][0]) if "second_pull" in c.s.phases else None
    text = _join(
        "Vertical bar velocity",
        [
            ("at the end of the first pull", end_first),
            ("at the start of the second pull", start_second),
        ],
        "",
    )
    if end_first is not None and start_second is not None and c.knee_pass is not None:
        v1 = sr.at(c.knee_pass) or 0.0
        v2 = sr.at(c.s.phases["second_pull"][0]) or 0.0
        if v2 < v1:
            loss = format_value(sr.quantity, v1 - v2, c.units)
            text += f" The bar slowed by {loss} through the transition."
    related = c.related("barbell_velocity")
    return " ".join(t for t in (text, related) if t) or _general(c, sr, "Vertical bar velocity")


def _hip_velocity(c: _Ctx, sr: Series) -> str:
    high, _ = c.extremes(sr, c.lift)
    lowest = series_min(c.s, sr.name, c.lift)
    down = None
    if lowest is not None and lowest.value < 0:
        # Reported as a speed: "fastest downward 1.20 m/s" reads better than a signed value.
        down = c.moment(sr, Moment(-lowest.value, lowest.t))
    text = _join(
        "Vertical hip velocity",
        [("fastest upward", high), ("fastest downward", down)],
        _general(c, sr, "Vertical hip velocity"),
    )
    top = series_max(c.s, sr.name, c.lift)
    if top is not None and top.t is not None and c.peak_t is not None:
        lag = top.t - c.peak_t
        when = "after" if lag > 0 else "before"
        text += f" The hips peaked {abs(lag):.2f} s {when} the bar's peak velocity."
    return text


def _positions(
    label: str, extra: str = "", more: Callable[[_Ctx, Series], str] | None = None
) -> Callable[[_Ctx, Series], str]:
    """Lift-off, end of first pull, peak velocity, highest and catch values of a series."""

    def describe(c: _Ctx, sr: Series) -> str:
        high, _ = c.extremes(sr, c.lift)
        catch_low = c.moment(sr, series_min(c.s, sr.name, c.catch)) if c.catch else None
        text = _join(
            f"{label}{extra}",
            [
                ("at lift-off", c.at(sr, c.lift_off)),
                ("at the end of the first pull", c.at(sr, c.knee_pass)),
                ("at peak bar velocity", c.at(sr, c.peak_t)),
                ("highest", high),
                ("lowest in the catch", catch_low),
            ],
            _general(c, sr, label),
        )
        sentences = [text, more(c, sr) if more else "", c.related(sr.name)]
        return " ".join(t for t in sentences if t)

    return describe


def _knee_rebend(c: _Ctx, sr: Series) -> str:
    """The double knee bend: the smallest knee angle in the transition."""
    if "transition" not in c.s.phases:
        return ""
    rebend = c.moment(sr, series_min(c.s, sr.name, c.s.phases["transition"]))
    return f"Knee re-bend in the transition: smallest {rebend}." if rebend else ""


def _trajectory(c: _Ctx, sr: Series) -> str:
    related = c.related("barbell_trajectory")
    return related or _general(c, sr, "Horizontal bar displacement (+ = away from you)")


_DESCRIBE: dict[str, Callable[[_Ctx, Series], str]] = {
    "power_output": _power,
    "ground_reaction_force": _force,
    "barbell_velocity": _bar_velocity,
    "hip_velocity": _hip_velocity,
    "shin_angle": _positions("Shin angle", " (90° = vertical)"),
    "hip_height": _positions("Hip height"),
    "torso_angle": _positions("Torso angle to the floor", " (90° = upright)"),
    "hip_angle": _positions("Hip angle", " (180° = straight)"),
    "knee_angle": _positions("Knee angle", " (180° = straight)", _knee_rebend),
    "bar_height": _positions("Bar height above the floor"),
    "barbell_trajectory": _trajectory,
    "vertical_shoulder_height": _positions("Shoulder height"),
}


def _not_enough(metric: str, series: Series | None) -> str | None:
    """The 'not enough data' message, or None when the series can be described."""
    label = LABELS[metric]
    if series is None:
        why = f"this session has no {metric} series"
        if metric in _BODY:
            why += " (no pose was found, or the joint was not selected)"
        return f"Not enough data for {label.lower()}: {why}."
    if series.count() < th.MIN_SAMPLES:
        return (
            f"Not enough data for {label.lower()}: only {series.count()} of "
            f"{series.values.size} frames have a value."
        )
    return None


def analysis_thread_messages(document: Mapping[str, Any], units: str) -> dict[str, str]:
    """One first message per metric key of the seed (12 keys), in `units` (metric|imperial)."""
    checked = check_units(units)
    session, findings = evaluate(document)
    ctx = _Ctx(session, findings, checked)
    out: dict[str, str] = {}
    for metric in METRIC_GROUPS:
        series = session.get(metric)
        missing = _not_enough(metric, series)
        if missing is not None or series is None:
            out[metric] = missing or ""
            continue
        out[metric] = _DESCRIBE[metric](ctx, series)
    return out
