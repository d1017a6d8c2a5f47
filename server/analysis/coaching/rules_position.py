"""Rules on body and bar position: early arm bend, incomplete extension, bar looping, catch crash.

Each rule is a pure function Session -> Finding | None working in SI; thresholds come from
thresholds.py. A rule whose data is missing returns a "not_judged" finding that says what is
missing, never an exception.
"""

from __future__ import annotations

import numpy as np

from server.analysis.coaching import thresholds as th
from server.analysis.coaching.findings import Finding, Number, not_judged
from server.analysis.coaching.measures import (
    catch_low,
    max_height,
    peak_velocity,
    running_median,
    series_max,
    series_min,
    span,
)
from server.analysis.coaching.quantities import Quantity
from server.analysis.coaching.session import Session

NO_POSE = "no pose was found, or the joint was not selected in 'joints'"


def early_arm_bend(s: Session) -> Finding | None:
    """Elbow angle (3-sample median) below ELBOW_BEND before the second pull starts."""
    rule, title = "early_arm_bend", "Early arm bend"
    window = span(s, "first_pull", "transition")
    if window is None:
        return not_judged(rule, title, "the first pull and transition phases were not found")
    elbow = s.get("elbow_angle")
    if elbow is None or elbow.count() == 0:
        return not_judged(rule, title, f"there is no elbow angle in this session ({NO_POSE})")
    t, v = elbow.window(*window)
    if v.size < th.MEDIAN_SAMPLES:
        return not_judged(rule, title, "too few elbow angle samples before the second pull")
    smooth = running_median(v, th.MEDIAN_SAMPLES)
    i = int(np.argmin(smooth))
    when = float(t[i])
    number = Number(
        "elbow_min",
        "lowest elbow angle before the second pull",
        Quantity.ANGLE,
        float(smooth[i]),
        threshold=th.ELBOW_BEND.value,
        t=when,
    )
    phase = s.phase_at(when)
    if number.value < th.ELBOW_BEND.value:
        return Finding(
            rule,
            "warning",
            title,
            "The arms bent before the second pull: the elbow angle fell to {elbow_min}{when}, "
            "below the {elbow_min_threshold} limit.",
            (number,),
            phase,
            when,
            advice="Keep the arms long and loose until the hips and knees have finished "
            "extending; pulling with the arms early slows the bar. Try pulls and hang lifts "
            "from above the knee with straight arms.",
        )
    return Finding(
        rule,
        "ok",
        title,
        "The arms stayed long before the second pull: the elbow angle never went below "
        "{elbow_min} (limit {elbow_min_threshold}).",
        (number,),
        phase,
        when,
    )


def incomplete_extension(s: Session) -> Finding | None:
    """Hip or knee angle around peak bar velocity below the extension thresholds."""
    rule, title = "incomplete_extension", "Incomplete extension"
    peak = peak_velocity(s)
    if peak is None or peak.t is None:
        return not_judged(rule, title, "the moment of peak bar velocity is unknown")
    window = (peak.t - th.EXTENSION_WINDOW_S, peak.t + th.EXTENSION_WINDOW_S)
    numbers: list[Number] = []
    missing: list[str] = []
    for joint, limit in (("hip", th.HIP_EXTENSION), ("knee", th.KNEE_EXTENSION)):
        series = s.get(f"{joint}_angle")
        t, v = series.window(*window) if series is not None else (np.zeros(0), np.zeros(0))
        if v.size == 0:
            missing.append(joint)
            continue
        smooth = running_median(v, th.MEDIAN_SAMPLES)
        i = int(np.argmax(smooth))
        numbers.append(
            Number(
                f"{joint}_max",
                f"largest {joint} angle around peak bar velocity",
                Quantity.ANGLE,
                float(smooth[i]),
                threshold=limit.value,
                t=float(t[i]),
            )
        )
    if not numbers:
        return not_judged(
            rule, title, f"there is no hip or knee angle around peak bar velocity ({NO_POSE})"
        )
    short = [n for n in numbers if n.threshold is not None and n.value < n.threshold]
    parts = [
        f"the {n.name[:-4]} reached {{{n.name}}} (limit {{{n.name}_threshold}})" for n in numbers
    ]
    text = "Around peak bar velocity{at}, " + " and ".join(parts) + "."
    if missing:
        text += f" The {' and '.join(missing)} angle could not be judged ({NO_POSE})."
    if short:
        return Finding(
            rule,
            "warning",
            title,
            "The pull finished short of full extension. " + text,
            tuple(numbers),
            "second_pull",
            peak.t,
            advice="Finish the pull tall: drive the legs and hips all the way to straight "
            "before pulling under. Pulls to full extension and hang lifts help.",
        )
    return Finding(
        rule,
        "ok",
        title,
        "The pull reached full extension. " + text,
        tuple(numbers),
        "second_pull",
        peak.t,
    )


def bar_loop_away(s: Session) -> Finding | None:
    """The bar swinging forward of its lift-off line by more than LOOP_FORWARD in the 2nd pull."""
    rule, title = "bar_loop_away", "Bar looping away"
    window = span(s, "second_pull", "turnover")
    if window is None:
        return not_judged(rule, title, "the second pull and turnover phases were not found")
    forward = series_max(s, "barbell_trajectory", window)
    if forward is None:
        return not_judged(rule, title, "there is no horizontal bar displacement in the second pull")
    number = Number(
        "forward",
        "most forward bar position from lift-off, second pull to highest point",
        Quantity.LENGTH,
        forward.value,
        threshold=th.LOOP_FORWARD.value,
        t=forward.t,
    )
    phase = s.phase_at(forward.t)
    if forward.value > th.LOOP_FORWARD.value:
        return Finding(
            rule,
            "warning",
            title,
            "The bar swung {forward} forward of its lift-off position{when}, beyond "
            "the {forward_threshold} limit: it looped away from the body.",
            (number,),
            phase,
            forward.t,
            advice="Keep the bar close through the finish: let it brush the hips (snatch) or "
            "upper thigh (clean) and pull the elbows up and out instead of bumping it forward.",
        )
    return Finding(
        rule,
        "ok",
        title,
        "The bar stayed close in the second pull: its most forward position was {forward} from "
        "the lift-off line (limit {forward_threshold}).",
        (number,),
        phase,
        forward.t,
    )


def catch_crash(s: Session) -> Finding | None:
    """Bar drop from its highest point to the lowest receiving position above DROP_MAX."""
    rule, title = "catch_crash", "Bar crashing in the catch"
    top = max_height(s)
    if top is None:
        return not_judged(rule, title, "the bar's highest point is unknown", "catch")
    low = catch_low(s)
    if low is None:
        return not_judged(
            rule, title, "the catch phase or the bar height in it is missing", "catch"
        )
    numbers = [
        Number("max_height", "highest bar position", Quantity.LENGTH, top.value, t=top.t),
        Number(
            "catch_height", "lowest bar position in the catch", Quantity.LENGTH, low.value, t=low.t
        ),
        Number(
            "drop",
            "bar drop from the highest point to the catch",
            Quantity.LENGTH,
            top.value - low.value,
            threshold=th.DROP_MAX.value,
        ),
    ]
    fall = series_min(s, "barbell_velocity", s.phases["catch"])
    text = (
        "The bar dropped {drop} from its highest point ({max_height}) to the catch "
        "({catch_height}{at})"
    )
    if fall is not None and fall.value < 0:
        numbers.append(
            Number(
                "fall_speed",
                "fastest downward bar speed in the catch",
                Quantity.VELOCITY,
                -fall.value,
                t=fall.t,
            )
        )
        text += ", falling at up to {fall_speed}"
    if top.value - low.value > th.DROP_MAX.value:
        return Finding(
            rule,
            "warning",
            title,
            text + "; more than the {drop_threshold} expected: the bar crashed onto you.",
            tuple(numbers),
            "catch",
            low.t,
            advice="Meet the bar higher: pull yourself under at once and fix the bar as you "
            "arrive (arms locked in the snatch, elbows fast in the clean). Tall snatches or "
            "cleans and snatch balances train it.",
        )
    return Finding(
        rule,
        "ok",
        title,
        text + "; within the {drop_threshold} expected.",
        tuple(numbers),
        "catch",
        low.t,
    )
