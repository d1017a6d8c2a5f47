"""The session summary (key numbers, strengths, things to work on) and the summary threads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from server.analysis.coaching import thresholds as th
from server.analysis.coaching.findings import Finding, Number
from server.analysis.coaching.quantities import Quantity, check_units, format_value
from server.analysis.coaching.report import exercise_name, key_numbers, verdict
from server.analysis.coaching.rules import evaluate
from server.analysis.coaching.session import Session

SUMMARY_TOPICS: tuple[str, ...] = (
    "overview",
    "key_numbers",
    "strengths",
    "areas_to_improve",
    "phase_timing",
    "next_steps",
)
_LIFTER_FIELDS: tuple[str, ...] = ("display_name", "age", "weight", "height")


def _numbers_sentence(numbers: Sequence[Number], units: str) -> str:
    parts = []
    for n in numbers:
        text = f"{n.label} {format_value(n.quantity, n.value, units)}"
        if n.t is not None and n.name not in ("pull_time", "lift_time"):
            text += f" (at {n.t:.2f} s)"
        parts.append(text)
    return "; ".join(parts)


def _by(findings: Sequence[Finding], severity: str) -> list[Finding]:
    return [f for f in findings if f.severity == severity]


def _lifter(s: Session, user_info: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(s.user_information)
    merged.update(user_info or {})
    return {k: merged[k] for k in _LIFTER_FIELDS if merged.get(k) not in (None, "")}


def _phase_timing_text(s: Session, units: str) -> str:
    family = th.FAMILY.get(s.exercise)
    if not s.phase_durations:
        return "Phase timing: no lift phases were found in this session."
    parts = []
    for phase, duration in s.phase_durations.items():
        text = f"{phase.replace('_', ' ')} {format_value(Quantity.TIME, duration, units)}"
        reference = th.PHASE_RANGES.get(family or "", {}).get(phase)
        if reference is not None:
            low = format_value(Quantity.TIME, reference.low, units)
            high = format_value(Quantity.TIME, reference.high, units)
            inside = reference.low <= duration <= reference.high
            text += f" (reference {low} to {high}{'' if inside else ', outside'})"
        parts.append(text)
    return "Phase timing: " + "; ".join(parts) + "."


def _summary(
    s: Session, findings: list[Finding], units: str, user_info: Mapping[str, Any] | None
) -> dict[str, Any]:
    lifter = _lifter(s, user_info)
    numbers = key_numbers(s)
    judgement = verdict(s, findings, units)
    strengths = [{"id": f.id, "title": f.title, "text": f.text(units)} for f in _by(findings, "ok")]
    work_on = [
        {"id": f.id, "title": f.title, "text": f.text(units), "advice": f.advice}
        for f in _by(findings, "warning")
    ]
    name = exercise_name(s)
    who = f"{lifter['display_name']}'s" if "display_name" in lifter else "This"
    # The verdict opens with "Snatch: "; the summary names the lifter instead.
    verdict_text = str(judgement["text"]).removeprefix(f"{name.capitalize()}: ")
    text = f"{who} {name}: {verdict_text}"
    if numbers:
        text += f" Key numbers: {_numbers_sentence(numbers, units)}."
    return {
        "exercise": s.exercise,
        "exercise_name": name,
        "session_date": s.session_date,
        "units": units,
        "lifter": lifter,
        "verdict": judgement,
        "key_numbers": [n.to_dict(units) for n in numbers],
        "strengths": strengths,
        "things_to_work_on": work_on,
        "observations": [
            {"id": f.id, "title": f.title, "text": f.text(units)} for f in _by(findings, "info")
        ],
        "not_judged": [
            {"id": f.id, "title": f.title, "text": f.text(units)}
            for f in _by(findings, "not_judged")
        ],
        "text": text,
    }


def build_summary(
    document: Mapping[str, Any], units: str, user_info: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The session summary in `units` (metric|imperial): exercise, date, key numbers, strengths,
    things to work on. user_info (display_name, age, weight, height) overrides the document's
    user_information. Missing data is reported as not judged, never raised."""
    checked = check_units(units)
    session, findings = evaluate(document)
    return _summary(session, findings, checked, user_info)


def summary_thread_messages(document: Mapping[str, Any], units: str) -> dict[str, str]:
    """One first message per summary topic (SUMMARY_TOPICS), in `units` (metric|imperial)."""
    checked = check_units(units)
    session, findings = evaluate(document)
    summary = _summary(session, findings, checked, None)
    numbers = key_numbers(session)
    strengths = [f"{f['title']}: {f['text']}" for f in summary["strengths"]]
    faults = [f"{f['title']}: {f['text']}" for f in summary["things_to_work_on"]]
    advice = [f"{f['title']}: {f['advice']}" for f in summary["things_to_work_on"] if f["advice"]]
    return {
        "overview": summary["text"],
        "key_numbers": (
            f"Key numbers: {_numbers_sentence(numbers, checked)}."
            if numbers
            else "Not enough data for key numbers: no bar measurements in this session."
        ),
        "strengths": (
            "Strengths: " + " ".join(strengths)
            if strengths
            else "No strengths could be confirmed: no check passed with the data available."
        ),
        "areas_to_improve": (
            "Things to work on: " + " ".join(faults)
            if faults
            else "Nothing to work on stood out in the checks that could be made."
        ),
        "phase_timing": _phase_timing_text(session, checked),
        "next_steps": (
            "Next steps: " + " ".join(advice)
            if advice
            else "Next steps: keep this technique as the load goes up, and film the heavier "
            "sets from the side so they can be compared with this one."
        ),
    }
