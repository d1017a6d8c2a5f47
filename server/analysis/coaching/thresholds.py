"""The coaching thresholds and reference ranges, each with its source or reasoning.

All values are SI (m, m/s, s) or degrees. The rules read them from here only, so a coach who
disagrees with a number changes it in one place. Reference figures are approximate ranges reported
for competition lifts (elite and national level, side-view 2D or 3D video analysis); a phone video
of a training lift is noisier and lighter, so every bound keeps a margin over the published spread.

| key | value | source / reasoning |
| --- | --- | --- |
| elbow_bend_deg | 160 deg | Model technique keeps the arms long (elbow ~170-180 deg) until the hips and knees have extended; a 2D elbow angle from a side view jitters by 5-10 deg (landmark noise, a wide snatch grip foreshortens the arm), so the bound sits ~15-20 deg under straight. Judged on a 3-sample running median so one bad pose frame cannot fire it. |
| hip_extension_deg | 170 deg | At the end of the second pull elite lifters reach hip angles of ~175-185 deg (torso just behind vertical); an interior 2D angle cannot exceed 180, so 170 leaves ~10 deg for pose noise. |
| knee_extension_deg | 165 deg | Knees rarely lock out at the finish: published knee angles at full extension in the snatch are ~165-175 deg; the brief's ~170 is relaxed by 5 deg so a normal finish is not flagged. |
| extension_window_s | 0.10 s | Full extension is within ~50 ms of peak bar velocity; +-0.10 s covers +-3 frames at 30 fps. |
| loop_forward_m | 0.05 m | Surveys of elite snatches (Stone et al. 1998; Cunanan et al. 2020) find the bar crossing the start line forward by at most a few cm in most successful lifts; 5 cm (about 1 plate-centre measurement error of ~1 cm plus the elite spread) marks a bar swinging away. |
| drop_max_m | 0.25 m | Bar drop from the highest point to the lowest receiving position is ~0.10-0.20 m in elite snatches and cleans (Garhammer; Gourgoulis et al. 2000); 0.25 m allows a short ride-down in a squat catch before calling it a crash. |
| turnover | see PHASE_RANGES | Peak velocity to max height is near-ballistic: t ~ v_peak / g, ~0.15-0.21 s for 1.5-2.1 m/s. A lifter who keeps pulling up with the arms instead of pulling under stretches it; the upper bound adds ~0.1 s. |
| peak_velocity | see PEAK_VELOCITY | Snatch peak vertical bar velocity at near-maximal loads is ~1.6-2.0 m/s, clean ~1.3-1.7 m/s (Garhammer 1985/1993; Akkus 2012; Cunanan et al. 2020). Physical floor: a bar leaving full extension (~0.95 m) at 1.5 m/s rises only v^2/2g = 0.11 m more, too little to get under a snatch. Faster than the upper bound usually means a light training load (an observation, not a fault). |
| first_pull | see PHASE_RANGES | Lift-off to bar at the knee: ~0.45-0.60 s in competition snatches (Gourgoulis et al. 2000; Akkus 2012; Harbili 2012), slower in heavy cleans; a deliberately controlled first pull is fine, so the bounds are wide. |
| transition | see PHASE_RANGES | Knee re-bend, bar to the upper thigh: ~0.10-0.20 s in the same studies. |
| second_pull | see PHASE_RANGES | Upper thigh to peak velocity: ~0.10-0.15 s in the same studies. |
"""

from __future__ import annotations

from dataclasses import dataclass

from server.analysis.coaching.quantities import Quantity


@dataclass(frozen=True)
class Threshold:
    """One bound a rule compares a measurement with. value: SI units of `quantity` (or deg)."""

    key: str
    value: float
    quantity: Quantity
    source: str


@dataclass(frozen=True)
class Range:
    """A reference range [low, high] in SI units of `quantity`, with where it comes from."""

    key: str
    low: float
    high: float
    quantity: Quantity
    source: str

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"range {self.key}: low {self.low} is not below high {self.high}")


_ELITE_TIMING = (
    "competition lift phase durations (Gourgoulis et al. 2000; Akkus 2012; Harbili 2012)"
)

ELBOW_BEND = Threshold(
    "elbow_bend_deg",
    160.0,
    Quantity.ANGLE,
    "arms stay long until the legs and hips extend; margin for 2D pose noise",
)
HIP_EXTENSION = Threshold(
    "hip_extension_deg",
    170.0,
    Quantity.ANGLE,
    "elite hip angle at the finish ~175-185 deg; 2D interior angle caps at 180",
)
KNEE_EXTENSION = Threshold(
    "knee_extension_deg",
    165.0,
    Quantity.ANGLE,
    "elite knee angle at the finish ~165-175 deg (knees rarely lock out)",
)
EXTENSION_WINDOW_S = 0.10
LOOP_FORWARD = Threshold(
    "loop_forward_m",
    0.05,
    Quantity.LENGTH,
    "elite bars cross the start line forward by a few cm at most (Stone 1998; Cunanan 2020)",
)
DROP_MAX = Threshold(
    "drop_max_m",
    0.25,
    Quantity.LENGTH,
    "elite drop from highest point to catch ~0.10-0.20 m, plus room for a short ride-down",
)
# A 3-sample running median: one frame's bad pose estimate must not decide a fault alone.
MEDIAN_SAMPLES = 3
# Fewer valid samples than this in a series and a thread message says "not enough data".
MIN_SAMPLES = 2

# Exercise families: the clean part of a clean and jerk is judged as a clean.
FAMILY: dict[str, str] = {"snatch": "snatch", "clean": "clean", "clean_and_jerk": "clean"}

PEAK_VELOCITY: dict[str, Range] = {
    "snatch": Range(
        "peak_velocity_snatch",
        1.5,
        2.1,
        Quantity.VELOCITY,
        "snatch ~1.6-2.0 m/s at near-max loads (Garhammer; Akkus 2012; Cunanan 2020)",
    ),
    "clean": Range(
        "peak_velocity_clean",
        1.2,
        1.7,
        Quantity.VELOCITY,
        "clean ~1.3-1.7 m/s at near-max loads (Garhammer 1985/1993)",
    ),
}

# Phases judged against a reference duration. Catch and recovery are reported but not judged:
# they depend on the receiving style (power or squat) more than on technique.
JUDGED_PHASES: tuple[str, ...] = ("first_pull", "transition", "second_pull")

PHASE_RANGES: dict[str, dict[str, Range]] = {
    "snatch": {
        "first_pull": Range("first_pull_snatch", 0.35, 0.70, Quantity.TIME, _ELITE_TIMING),
        "transition": Range("transition_snatch", 0.08, 0.25, Quantity.TIME, _ELITE_TIMING),
        "second_pull": Range("second_pull_snatch", 0.08, 0.22, Quantity.TIME, _ELITE_TIMING),
        "turnover": Range(
            "turnover_snatch", 0.12, 0.30, Quantity.TIME, "near-ballistic v_peak/g ~0.15-0.21 s"
        ),
    },
    "clean": {
        "first_pull": Range("first_pull_clean", 0.40, 0.80, Quantity.TIME, _ELITE_TIMING),
        "transition": Range("transition_clean", 0.08, 0.25, Quantity.TIME, _ELITE_TIMING),
        "second_pull": Range("second_pull_clean", 0.08, 0.22, Quantity.TIME, _ELITE_TIMING),
        "turnover": Range(
            "turnover_clean", 0.10, 0.28, Quantity.TIME, "near-ballistic v_peak/g ~0.12-0.17 s"
        ),
    },
}

# Standard gravity: the near-ballistic turnover reference t = v_peak / g uses it.
G = 9.80665
