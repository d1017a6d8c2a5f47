"""The lift analysis report: an overall verdict, the key numbers and every rule's finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from server.analysis.coaching.findings import SEVERITIES, Finding, Number
from server.analysis.coaching.measures import (
    catch_low,
    max_height,
    peak_velocity,
    pull_window,
    series_max,
    span,
)
from server.analysis.coaching.quantities import Quantity, check_units, format_value
from server.analysis.coaching.rules import evaluate
from server.analysis.coaching.rules_timing import EXERCISE_NAMES
from server.analysis.coaching.session import Session

# Warnings above which a lift "needs work" rather than being "fair".
NEEDS_WORK_WARNINGS = 3


def exercise_name(s: Session) -> str:
    return EXERCISE_NAMES.get(s.exercise, s.exercise or "lift")


def key_numbers(s: Session) -> tuple[Number, ...]:
    """The headline numbers of the lift, each only when it could be measured."""
    out: list[Number] = []
    peak = peak_velocity(s)
    if peak is not None:
        out.append(
            Number(
                "peak_bar_velocity", "peak bar velocity", Quantity.VELOCITY, peak.value, t=peak.t
            )
        )
    top = max_height(s)
    if top is not None:
        out.append(
            Number("max_bar_height", "highest bar position", Quantity.LENGTH, top.value, t=top.t)
        )
        low = catch_low(s)
        if low is not None:
            out.append(
                Number(
                    "bar_drop",
                    "bar drop into the catch",
                    Quantity.LENGTH,
                    top.value - low.value,
                    t=low.t,
                )
            )
    window = pull_window(s)
    power = series_max(s, "power_output", window)
    if power is not None:
        out.append(Number("peak_power", "peak power", Quantity.POWER, power.value, t=power.t))
    force = series_max(s, "ground_reaction_force", window)
    if force is not None:
        out.append(
            Number(
                "peak_force", "peak ground reaction force", Quantity.FORCE, force.value, t=force.t
            )
        )
    pull = span(s, "first_pull", "second_pull")
    if pull is not None:
        out.append(
            Number(
                "pull_time",
                "lift-off to peak velocity",
                Quantity.TIME,
                pull[1] - pull[0],
                t=pull[0],
            )
        )
    lift = span(s, "first_pull", "catch")
    if lift is not None:
        out.append(
            Number(
                "lift_time", "lift-off to the catch", Quantity.TIME, lift[1] - lift[0], t=lift[0]
            )
        )
    return tuple(out)


def _titles(findings: Sequence[Finding]) -> str:
    return ", ".join(f.title.lower() for f in findings)


def verdict(s: Session, findings: Sequence[Finding], units: str) -> dict[str, Any]:
    """{"rating": good | fair | needs_work | insufficient_data, "text": ...}."""
    name = exercise_name(s).capitalize()
    judged = [f for f in findings if f.severity != "not_judged"]
    faults = [f for f in findings if f.severity == "warning"]
    skipped = [f for f in findings if f.severity == "not_judged"]
    if not judged:
        return {
            "rating": "insufficient_data",
            "text": f"{name}: not enough data to judge this lift ({len(skipped)} checks could "
            "not be made; see the findings for what is missing).",
            "warnings": 0,
            "checks": 0,
        }
    if not faults:
        rating, lead = "good", f"{name}: no faults found in {len(judged)} checks."
    else:
        rating = "fair" if len(faults) < NEEDS_WORK_WARNINGS else "needs_work"
        things = "thing" if len(faults) == 1 else "things"
        lead = (
            f"{name}: {len(faults)} {things} to work on in {len(judged)} checks "
            f"({_titles(faults)})."
        )
    numbers = {n.name: n for n in key_numbers(s)}
    facts = [
        f"{numbers[key].label.capitalize()} {format_value(numbers[key].quantity, numbers[key].value, units)}."
        for key in ("peak_bar_velocity", "max_bar_height")
        if key in numbers
    ]
    text = " ".join([lead, *facts])
    if skipped:
        text += f" Not judged for lack of data: {_titles(skipped)}."
    return {"rating": rating, "text": text, "warnings": len(faults), "checks": len(judged)}


def report_from(s: Session, findings: Sequence[Finding], units: str) -> dict[str, Any]:
    """The report dict for an already evaluated session (units already checked)."""
    counts = {sev: sum(f.severity == sev for f in findings) for sev in SEVERITIES}
    return {
        "exercise": s.exercise,
        "units": units,
        "verdict": verdict(s, findings, units),
        "key_numbers": [n.to_dict(units) for n in key_numbers(s)],
        "findings": [f.to_dict(units) for f in findings],
        "counts": counts,
        "phase_durations_s": {k: round(v, 3) for k, v in s.phase_durations.items()},
        "force_model": s.force_model,
        "calibration": dict(s.calibration),
        "warnings": list(s.warnings),
    }


def build_report(document: Mapping[str, Any], units: str) -> dict[str, Any]:
    """The lift analysis report of a session-data document in the `units` measurement system.

    units: 'metric' or 'imperial' (InvalidInputError otherwise). Never raises for missing data:
    each check that lacks its data is listed as not judged, with the reason.
    """
    checked = check_units(units)
    session, findings = evaluate(document)
    return report_from(session, findings, checked)
