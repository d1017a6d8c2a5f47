"""The live phase state machine: one bar sample in, the phases that can be known now out.

`LivePhases.step(t, height, vy)` takes the causal (fixed-lag smoothed) bar height above the
floor (m) and vertical velocity (m/s) and returns a `LiveUpdate`: phases that started (name and
the time they started, which may be a few frames back: a velocity peak is only known once the
velocity falls), and whether the lift started or ended with this sample. The offline
segmentation (`segment.py`) re-times everything at finalisation; this machine is what the athlete
sees while lifting.

Events, as in segment.py: lift-off (first_pull starts) when the bar has risen OFF_FLOOR_M off its
rest level and is moving up, timed at the last START_SPEED crossing; transition at the velocity
peak before the dip between the pulls (announced at once when that peak is below PULL_MIN_PEAK;
a faster peak may be the pull's top, so the transition waits until the velocity rises past it
again) and second_pull at the bottom of that dip; a drop that never recovers is the turnover,
and a transition or second pull not seen by then starts with it at the peak (the pulls ran
together); turnover at peak
bar velocity (only counted above PULL_MIN_PEAK); catch at the bar's highest point; recovery at
its lowest receiving point; the lift ends when the bar is still for STILL_HOLD_S (clean and jerk:
after the jerk, or when no jerk follows within JERK_WAIT_S) or is dropped (back at the floor, or
falling faster than DROP_SPEED in the last DROP_NEAR_FLOOR_M above it). A rise
that never reaches Olympic-pull speed (or never rises MIN_PULL_RISE_M) and comes back down is
not a lift: the machine resets and says the lift it started is cancelled; so is a pull faster
than MAX_PULL_SPEED (a tracking glitch). A lift-off also needs the bar settled at its rest level
for SETTLE_S before the rise (or since the stream's first sample): the rebound of a dropped bar
(or of its track) is not a pull.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.phases.segment import (
    DIP_MIN,
    JERK_DIP_SPEED,
    OFF_FLOOR_M,
    PULL_MIN_PEAK,
    START_SPEED,
    STILL_HOLD_S,
    STILL_SPEED,
)
from server.phases.types import Exercise

JERK_WAIT_S = 4.0  # standing with the bar racked this long without a dip: no jerk is coming
PULL_SPEED = 0.5  # m/s: a first-pull velocity peak below this is noise, not the knee pass
TURN_DROP = 0.1  # m/s below the running peak: the peak is behind us
# A bar falling faster than this, within DROP_NEAR_FLOOR_M of its rest level, has been let go:
# a lifter riding a catch down moves it at about 1-2 m/s, a bar dropped from overhead passes
# 3 m/s after half a metre of free fall. This ends the lift while the bar is still falling, so a
# bounce, a plate rolling away or a landing a little above the rest level (a noisy tracker, a
# bumper on a mat) cannot keep it open.
DROP_SPEED = 2.5  # m/s, downward
DROP_NEAR_FLOOR_M = 0.45


# The bar's rise above its rest level by the turnover (the peak of the pull): at the hip in a
# snatch or clean, 0.5-0.9 m above the rest level. A "peak" lower than this is a tracking glitch
# (a bounce after a drop, a re-acquired plate) or a pull to the knee, never an Olympic pull.
MIN_PULL_RISE_M = 0.3
# No barbell pull moves the bar up faster than this (elite snatches peak near 2.5 m/s): a pull
# that does is a tracker that jumped to something else, and the lift is cancelled.
MAX_PULL_SPEED = 3.5  # m/s
# A lift-off starts from a bar that was lying at its rest level (within OFF_FLOOR_M, moving
# slower than START_SPEED) for this long: a lifter sets up over the bar for a second or more. A
# dropped bar's landing is not that. The tracked plate, blurred by a 5 m/s fall, overshoots the
# floor and springs back at 1-1.3 m/s within 0.1 s of the impact (synthetic snatch dropped from
# overhead: 7 cm under the rest level, then up at 1.23 m/s); or, with a frame lost at the impact,
# the track follows something below the plate, sliding down through the rest band, and then
# snaps back up onto it. Either started a "lift" when the rebound began within the band: a CI
# run of the two-lift stream test (2026-12-03) got a third lift, peaking at 1.30 m/s, after the
# second drop. Replaying that clip twice (a frame lost around either impact, JPEG quality 15-60)
# through the live analyzer gave a false lift after a drop in 4 of 24 variants without this rule,
# in 0 of 24 with it.
SETTLE_S = 0.2


@dataclass(frozen=True)
class LiveUpdate:
    """phases: (name, start t s) that started, in order. started / ended: the lift did.
    cancelled: the lift started earlier was not one after all (the bar came back down without
    an Olympic pull); forget it."""

    phases: tuple[tuple[str, float], ...] = ()
    started: bool = False
    ended: bool = False
    cancelled: bool = False


@dataclass
class _Lift:
    state: str = "first_pull"
    peak_v: float = 0.0
    peak_t: float = 0.0
    knee_t: float | None = None  # the first pull's velocity peak, once a dip follows it
    dip_v: float = 0.0
    dip_t: float = 0.0
    top_h: float = 0.0
    top_t: float = 0.0
    low_h: float = 0.0
    low_t: float = 0.0
    still_since: float | None = None
    stood: bool = False  # stood still after the clean's recovery (a jerk may follow)
    phases: list[tuple[str, float]] = field(default_factory=list)


class LivePhases:
    """Step object, one per stream. `rest_height`: the bar's height at rest (plate radius)."""

    def __init__(self, exercise: Exercise | str, rest_height: float = 0.225) -> None:
        self.exercise = Exercise(exercise)
        self.rest_height = rest_height
        self._lift: _Lift | None = None
        self._last: tuple[float, float] | None = None  # (t, vy) of the previous sample
        self._rising_since: float | None = None
        # The bar has lain at its rest level since (s); None while it is off it. A stream's first
        # samples find it lying there already (a clip may begin a moment before the lift-off).
        self._rest_since: float | None = -float("inf")
        # The current rise began from the floor (within OFF_FLOOR_M of the rest level: not from
        # a bar still up after a cancelled glitch, nor from a track that overshot the floor after a
        # drop and comes back) and from a bar settled there for SETTLE_S.
        self._rise_from_rest = False

    @property
    def in_lift(self) -> bool:
        return self._lift is not None

    def reset(self) -> None:
        self._lift = None
        self._rising_since = None
        self._rest_since = None  # the bar must settle again before the next lift-off

    def step(self, t: float, height: float, vy: float) -> LiveUpdate:
        prev = self._last
        self._last = (t, vy)
        if self._lift is None:
            return self._idle(t, height, vy, prev)
        lift = self._lift
        new: list[tuple[str, float]] = []

        def start(name: str, when: float) -> None:
            lift.state = name
            lift.phases.append((name, when))
            new.append((name, when))

        s = lift.state
        if s in ("first_pull", "transition", "second_pull") and vy > MAX_PULL_SPEED:
            self.reset()  # faster than any barbell: a tracking glitch
            return LiveUpdate(cancelled=True)
        if s in ("first_pull", "transition", "second_pull"):
            if vy > lift.peak_v:
                if s == "transition" and vy > lift.dip_v + DIP_MIN:
                    start("second_pull", lift.dip_t)
                elif s == "first_pull" and lift.knee_t is not None:
                    # risen past a fast first peak after a dip: that was the transition
                    start("transition", lift.knee_t)
                    start("second_pull", lift.dip_t)
                lift.peak_v, lift.peak_t = vy, t
            elif s == "first_pull" and lift.peak_v > PULL_SPEED and vy < lift.peak_v - DIP_MIN:
                if lift.peak_v < PULL_MIN_PEAK:
                    start("transition", lift.peak_t)  # a knee-pass peak: say so at once
                    lift.dip_v, lift.dip_t = vy, t
                elif lift.knee_t is None:
                    # A peak this fast may be the pull's top: wait for a rise or the turnover.
                    lift.knee_t, lift.dip_v, lift.dip_t = lift.peak_t, vy, t
            dipping = lift.state == "transition" or (
                lift.state == "first_pull" and lift.knee_t is not None
            )
            if dipping and vy < lift.dip_v:
                lift.dip_v, lift.dip_t = vy, t
            if (
                lift.peak_v >= PULL_MIN_PEAK
                and vy < lift.peak_v - TURN_DROP
                and height > self.rest_height + MIN_PULL_RISE_M
            ):
                if lift.state == "first_pull":
                    # no dip and rise between the pulls: they ran together
                    start("transition", lift.peak_t)
                if lift.state == "transition":
                    start("second_pull", lift.peak_t)
                start("turnover", lift.peak_t)
                lift.top_h, lift.top_t = height, t
            elif height < self.rest_height + OFF_FLOOR_M / 2 and vy <= 0:
                self.reset()  # came back down without an Olympic pull: not a lift
                return LiveUpdate(cancelled=True)
        elif s in ("turnover", "jerk_drive"):
            if height > lift.top_h:
                lift.top_h, lift.top_t = height, t
            if vy < 0:
                start("catch" if s == "turnover" else "jerk_catch", lift.top_t)
                lift.low_h, lift.low_t = height, t
        elif s in ("catch", "jerk_catch"):
            if height < lift.low_h:
                lift.low_h, lift.low_t = height, t
            if vy > START_SPEED:
                start("recovery" if s == "catch" else "jerk_recovery", lift.low_t)
        elif s in ("recovery", "jerk_recovery", "jerk_dip"):
            if s == "recovery" and lift.stood and vy < -JERK_DIP_SPEED:
                start("jerk_dip", t)
            elif s == "jerk_dip" and vy > 0:
                start("jerk_drive", t)
                lift.top_h, lift.top_t = height, t
        ended = self._maybe_end(t, height, vy)
        return LiveUpdate(tuple(new), False, ended)

    def _idle(
        self, t: float, height: float, vy: float, prev: tuple[float, float] | None
    ) -> LiveUpdate:
        if vy > START_SPEED:
            if self._rising_since is None:
                # The crossing, interpolated between the previous sample and this one.
                if prev is not None and prev[1] < START_SPEED < vy and t > prev[0]:
                    f = (START_SPEED - prev[1]) / (vy - prev[1])
                    self._rising_since = prev[0] + f * (t - prev[0])
                else:
                    self._rising_since = t
                rest = self._rest_since
                self._rise_from_rest = (
                    abs(height - self.rest_height) <= OFF_FLOOR_M
                    and rest is not None
                    and self._rising_since - rest >= SETTLE_S
                )
        else:
            self._rising_since = None
        if abs(height - self.rest_height) <= OFF_FLOOR_M and abs(vy) <= START_SPEED:
            self._rest_since = t if self._rest_since is None else self._rest_since
        else:
            self._rest_since = None
        # A lift leaves from the floor, and a rise faster than any pull is no lift-off.
        if (
            height > self.rest_height + OFF_FLOOR_M
            and self._rising_since is not None
            and self._rise_from_rest
            and vy <= MAX_PULL_SPEED
        ):
            self._lift = _Lift()
            when = self._rising_since
            self._lift.phases.append(("first_pull", when))
            return LiveUpdate((("first_pull", when),), True, False)
        return LiveUpdate()

    def _maybe_end(self, t: float, height: float, vy: float) -> bool:
        lift = self._lift
        assert lift is not None
        if abs(vy) < STILL_SPEED:
            lift.still_since = t if lift.still_since is None else lift.still_since
        else:
            lift.still_since = None
        dropped = lift.state in (
            "catch",
            "recovery",
            "jerk_catch",
            "jerk_recovery",
            "jerk_dip",
        ) and (
            height < self.rest_height + OFF_FLOOR_M
            or (vy < -DROP_SPEED and height < self.rest_height + DROP_NEAR_FLOOR_M)
        )
        held = lift.still_since is not None and t - lift.still_since >= STILL_HOLD_S
        if held and lift.state == "recovery":
            lift.stood = True
        final = lift.state == "jerk_recovery" or (
            lift.state == "recovery" and self.exercise is not Exercise.CLEAN_AND_JERK
        )
        waited = (
            lift.state == "recovery"
            and lift.still_since is not None
            and t - lift.still_since >= JERK_WAIT_S
        )
        if dropped or (held and final) or waited:
            self.reset()
            return True
        return False
