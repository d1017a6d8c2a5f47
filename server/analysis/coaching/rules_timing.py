"""Rules on timing and speed: phase durations, slow turnover, peak bar velocity, bar-path type.

Pure functions Session -> Finding | None in SI; references come from thresholds.py, chosen by the
exercise family (a clean and jerk's pull is judged as a clean).
"""

from __future__ import annotations

from collections.abc import Callable

from server.analysis.coaching import thresholds as th
from server.analysis.coaching.findings import Finding, Number, not_judged
from server.analysis.coaching.measures import (
    classify_bar_path,
    path_displacements,
    peak_velocity,
)
from server.analysis.coaching.quantities import Quantity
from server.analysis.coaching.session import Session

EXERCISE_NAMES: dict[str, str] = {
    "snatch": "snatch",
    "clean": "clean",
    "clean_and_jerk": "clean and jerk",
}

# What to do when a phase is too long / too short (coaching cues, not measurements).
_PHASE_ADVICE: dict[str, tuple[str, str]] = {
    "first_pull": (
        "Push the floor away with steady, rising speed: a very slow first pull leaves too "
        "little momentum for the second pull.",
        "Take the bar off the floor under control: a rushed first pull tends to shoot the hips "
        "up and put you out of position at the knee.",
    ),
    "transition": (
        "Move through the knee re-bend quickly: a long transition loses the speed built in "
        "the first pull.",
        "Let the knees slide back under the bar as it passes them: a very short transition "
        "often means the hips opened before the bar reached the thigh.",
    ),
    "second_pull": (
        "Make the finish explosive: a long second pull means a slow extension.",
        "Finish tall before pulling under: a very short second pull often cuts the extension.",
    ),
}

Rule = Callable[[Session], Finding | None]


def _family(s: Session) -> str | None:
    return th.FAMILY.get(s.exercise)


def _no_reference(rule: str, title: str, s: Session) -> Finding:
    return not_judged(rule, title, f"there is no reference for the exercise {s.exercise!r}")


def phase_timing(phase: str) -> Rule:
    """A rule judging one phase's duration against PHASE_RANGES for the exercise."""
    rule, title = f"phase_timing.{phase}", f"{phase.replace('_', ' ').capitalize()} timing"

    def judge(s: Session) -> Finding | None:
        family = _family(s)
        if family is None:
            return _no_reference(rule, title, s)
        reference = th.PHASE_RANGES[family][phase]
        duration = s.phase_durations.get(phase)
        if duration is None:
            return not_judged(rule, title, f"the {phase.replace('_', ' ')} was not found", phase)
        start = s.phases[phase][0] if phase in s.phases else None
        number = Number(
            "duration",
            f"{phase.replace('_', ' ')} duration",
            Quantity.TIME,
            duration,
            low=reference.low,
            high=reference.high,
            t=start,
        )
        name = EXERCISE_NAMES.get(s.exercise, s.exercise)
        if reference.low <= duration <= reference.high:
            return Finding(
                rule,
                "ok",
                title,
                "The {phase} took {duration}, inside the reference {duration_low} to "
                f"{{duration_high}} for a {name}.",
                (number,),
                phase,
                start,
            )
        too_long = duration > reference.high
        return Finding(
            rule,
            "warning",
            title,
            "The {phase} took {duration}, "
            + ("longer" if too_long else "shorter")
            + f" than the reference {{duration_low}} to {{duration_high}} for a {name}.",
            (number,),
            phase,
            start,
            advice=_PHASE_ADVICE[phase][0 if too_long else 1],
        )

    judge.__name__ = f"phase_timing_{phase}"
    return judge


def slow_turnover(s: Session) -> Finding | None:
    """Turnover (peak velocity to the bar's highest point) longer than the exercise's bound."""
    rule, title = "slow_turnover", "Slow turnover"
    family = _family(s)
    if family is None:
        return _no_reference(rule, title, s)
    duration = s.phase_durations.get("turnover")
    if duration is None:
        return not_judged(rule, title, "the turnover phase was not found", "turnover")
    reference = th.PHASE_RANGES[family]["turnover"]
    start = s.phases["turnover"][0] if "turnover" in s.phases else None
    numbers = [
        Number(
            "turnover",
            "turnover duration",
            Quantity.TIME,
            duration,
            threshold=reference.high,
            t=start,
        ),
    ]
    text = "The turnover (peak bar velocity to the bar's highest point) took {turnover}"
    peak = peak_velocity(s)
    if peak is not None and peak.value > 0:
        # A bar in free flight from v_peak stops rising after v_peak / g: the ballistic reference.
        numbers.append(
            Number(
                "ballistic", "free-flight time from peak velocity", Quantity.TIME, peak.value / th.G
            )
        )
        text += "; a freely flying bar would stop rising after about {ballistic}"
    if duration > reference.high:
        return Finding(
            rule,
            "warning",
            title,
            text + ". That is longer than {turnover_threshold}: you were slow to get under.",
            tuple(numbers),
            "turnover",
            start,
            advice="Once extended, pull yourself under immediately instead of pulling the bar "
            "higher with the arms. Tall snatches or cleans and high-hang lifts train it.",
        )
    return Finding(
        rule,
        "ok",
        title,
        text + ", within {turnover_threshold}.",
        tuple(numbers),
        "turnover",
        start,
    )


def peak_bar_velocity(s: Session) -> Finding | None:
    """Peak vertical bar velocity against the exercise's typical range."""
    rule, title = "peak_velocity", "Peak bar velocity"
    family = _family(s)
    if family is None:
        return _no_reference(rule, title, s)
    peak = peak_velocity(s)
    if peak is None:
        return not_judged(rule, title, "there is no bar velocity in this session")
    reference = th.PEAK_VELOCITY[family]
    number = Number(
        "peak",
        "peak vertical bar velocity",
        Quantity.VELOCITY,
        peak.value,
        low=reference.low,
        high=reference.high,
        t=peak.t,
    )
    name = EXERCISE_NAMES.get(s.exercise, s.exercise)
    phase = s.phase_at(peak.t) or ("second_pull" if peak.t is not None else None)
    span_text = f"the typical {{peak_low}} to {{peak_high}} for a {name}"
    if peak.value < reference.low:
        return Finding(
            rule,
            "warning",
            title,
            f"Peak bar velocity was {{peak}}{{when}}, below {span_text}: the bar may not "
            "rise high enough to get under it.",
            (number,),
            phase,
            peak.t,
            advice="Drive the extension harder and finish it completely; if the load was near "
            "your maximum, build speed with lighter pulls and power variations.",
        )
    if peak.value > reference.high:
        return Finding(
            rule,
            "info",
            title,
            f"Peak bar velocity was {{peak}}{{when}}, above {span_text} at competition "
            "loads: the load was probably light for you.",
            (number,),
            phase,
            peak.t,
        )
    return Finding(
        rule,
        "ok",
        title,
        f"Peak bar velocity was {{peak}}{{when}}, inside {span_text}.",
        (number,),
        phase,
        peak.t,
    )


_PATH_TEXT: dict[str, str] = {
    "1": "type 1: the bar moved toward you off the floor, then crossed its start line forward "
    "in the second pull",
    "2": "type 2: the bar moved toward you, then away in the second pull, without crossing "
    "its start line",
    "3": "type 3: the bar's first move off the floor was away from you (forward of its start "
    "line) rather than toward you",
}


def bar_path_type(s: Session) -> Finding | None:
    """The Vorobyev bar-path type (an observation) with the displacements that define it."""
    rule, title = "bar_path_type", "Bar path"
    displacements = path_displacements(s)
    kind = s.bar_path_type
    source = "from the analysis"
    if kind is None and displacements is not None:
        kind, source = classify_bar_path(displacements), "from the horizontal displacements"
    if kind is None:
        return not_judged(rule, title, "there is no horizontal bar displacement to classify")
    numbers: list[Number] = []
    if displacements is not None:
        d = displacements
        numbers += [
            Number(
                "early_forward",
                "most forward in the first pull",
                Quantity.LENGTH,
                d.early_forward.value,
                t=d.early_forward.t,
            ),
            Number(
                "rearward",
                "most rearward before the second pull",
                Quantity.LENGTH,
                d.rearward.value,
                t=d.rearward.t,
            ),
            Number(
                "forward",
                "most forward from the second pull to the highest point",
                Quantity.LENGTH,
                d.forward.value,
                t=d.forward.t,
            ),
        ]
        if d.catch is not None:
            numbers.append(
                Number(
                    "catch", "position at the catch", Quantity.LENGTH, d.catch.value, t=d.catch.t
                )
            )
    else:
        numbers += [
            Number(k, k.replace("_", " "), Quantity.LENGTH, v)
            for k, v in sorted(s.bar_path_lengths.items())
        ]
    safe_kind = kind.replace("{", "(").replace("}", ")")
    described = _PATH_TEXT.get(kind, f"type {safe_kind}")
    text = f"Bar path {described} ({source})."
    if numbers:
        listed = ", ".join(f"{n.label} {{{n.name}}}" for n in numbers)
        text += (
            f" Horizontal displacements from the lift-off position (+ = away from you): {listed}."
        )
    text += (
        " All three types appear in successful elite lifts; whether the bar swung too far "
        "is judged separately."
    )
    return Finding(rule, "info", title, text, tuple(numbers), None, None)
