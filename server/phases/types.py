"""Phase names, boundary event names and the events the phase stage emits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Exercise(StrEnum):
    SNATCH = "snatch"
    CLEAN = "clean"
    CLEAN_AND_JERK = "clean_and_jerk"


PULL_PHASES: tuple[str, ...] = (
    "setup",
    "first_pull",
    "transition",
    "second_pull",
    "turnover",
    "catch",
    "recovery",
)
JERK_PHASES: tuple[str, ...] = ("jerk_dip", "jerk_drive", "jerk_catch", "jerk_recovery")


def phases_for(exercise: Exercise) -> tuple[str, ...]:
    """The ordered phase names of an exercise."""
    if exercise is Exercise.CLEAN_AND_JERK:
        return PULL_PHASES + JERK_PHASES
    return PULL_PHASES


# The boundary event that ends each phase (phase_data keys in the session document). The start of
# the lift (lift-off) is "start_of_lifting", which is also setup's end.
BOUNDARY_EVENTS: dict[str, str] = {
    "setup": "start_of_lifting",
    "first_pull": "first_pull_end",
    "transition": "transition_end",
    "second_pull": "second_pull_end",
    "turnover": "turnover_end",
    "catch": "catch_end",
    "recovery": "recovery_end",
    "jerk_dip": "jerk_dip_end",
    "jerk_drive": "jerk_drive_end",
    "jerk_catch": "jerk_catch_end",
    "jerk_recovery": "jerk_recovery_end",
}


@dataclass(frozen=True)
class PhaseEvent:
    """A phase starting at time t (seconds, the frame's presentation time).

    phase: one of phases_for(exercise). frame: index of the frame where it starts.
    """

    phase: str
    t: float
    frame: int
