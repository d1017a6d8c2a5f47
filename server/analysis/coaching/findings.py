"""What a rule returns: a finding that cites the numbers it rests on, rendered per unit system.

A rule works in SI and writes its text as a template whose fields name its numbers
("{elbow_min}", "{elbow_min_threshold}", "{t}", "{phase}"); rendering fills them in the requested
measurement system, so the text and the structured numbers can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from server.analysis.coaching.quantities import (
    Quantity,
    display_unit,
    format_value,
    to_display,
)

# ok: checked and within reference; info: an observation, not a fault; warning: a threshold was
# crossed (something to work on); not_judged: the data needed was missing, the rule says why.
Severity = Literal["ok", "info", "warning", "not_judged"]
SEVERITIES: tuple[Severity, ...] = ("warning", "info", "ok", "not_judged")


@dataclass(frozen=True)
class Number:
    """One measured number a finding rests on. value, threshold, low, high: SI (or degrees).

    threshold: the single bound crossed or respected; low/high: a reference range instead.
    t: seconds from the start of the video when the number belongs to one moment.
    """

    name: str
    label: str
    quantity: Quantity
    value: float
    threshold: float | None = None
    low: float | None = None
    high: float | None = None
    t: float | None = None

    def to_dict(self, units: str) -> dict[str, Any]:
        """The number in the display units of `units` (rounded as shown in the text)."""

        def shown(v: float | None) -> float | None:
            return None if v is None else to_display(self.quantity, v, units)

        reference = None
        if self.low is not None and self.high is not None:
            reference = [shown(self.low), shown(self.high)]
        return {
            "name": self.name,
            "label": self.label,
            "value": shown(self.value),
            "unit": display_unit(self.quantity, units),
            "threshold": shown(self.threshold),
            "reference_range": reference,
            "t_s": None if self.t is None else round(self.t, 3),
        }

    def fields(self, units: str) -> dict[str, str]:
        """Template fields: '<name>', '<name>_threshold', '<name>_low', '<name>_high', '<name>_t'."""
        out = {self.name: format_value(self.quantity, self.value, units)}
        for suffix, v in (("threshold", self.threshold), ("low", self.low), ("high", self.high)):
            if v is not None:
                out[f"{self.name}_{suffix}"] = format_value(self.quantity, v, units)
        if self.t is not None:
            out[f"{self.name}_t"] = f"{self.t:.2f} s"
        return out


@dataclass(frozen=True)
class Finding:
    """One rule's verdict. t: seconds from the start of the video; phase: the phase it refers to.

    template: text with {fields} from the numbers plus {t}, {phase}, {at}, {when}; advice: what to do about
    it (shown for warnings, used by the summary's "things to work on").
    """

    id: str
    severity: Severity
    title: str
    template: str
    numbers: tuple[Number, ...] = ()
    phase: str | None = None
    t: float | None = None
    advice: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"finding {self.id}: unknown severity {self.severity!r}")

    def number(self, name: str) -> Number | None:
        return next((n for n in self.numbers if n.name == name), None)

    def text(self, units: str) -> str:
        """The finding's sentence(s) with every number in the units of `units`."""
        phase = (self.phase or "").replace("_", " ")
        at = "" if self.t is None else f" at {self.t:.2f} s"
        fields: dict[str, str] = {
            "t": "an unknown time" if self.t is None else f"{self.t:.2f} s",
            "phase": phase or "unknown phase",
            # " at 1.23 s" and " at 1.23 s (second pull)", empty when unknown, so a sentence
            # never has to say "at an unknown time".
            "at": at,
            "when": at + (f" ({phase})" if phase and at else ""),
        }
        for number in self.numbers:
            fields.update(number.fields(units))
        body = self.template.format_map(fields)
        if self.severity == "warning" and self.advice:
            body = f"{body} {self.advice}"
        return body

    def to_dict(self, units: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "text": self.text(units),
            "numbers": [n.to_dict(units) for n in self.numbers],
            "phase": self.phase,
            "t_s": None if self.t is None else round(self.t, 3),
            "advice": self.advice if self.severity == "warning" else "",
        }


def not_judged(rule_id: str, title: str, why: str, phase: str | None = None) -> Finding:
    """A finding saying the rule could not judge, and why (missing pose, phases, series)."""
    escaped = why.replace("{", "{{").replace("}", "}}")
    return Finding(rule_id, "not_judged", title, f"Could not judge: {escaped}.", phase=phase)
