"""What the stream layer needs from the analysis stages, as small typed interfaces.

A LiveAnalyzer turns one frame into a LiveStep (bar sample, phase events, lift start / end); a
Finaliser turns a recorded lift into a stored session. The app wires the real ones
(server/stream/wiring.py: FramePipeline + analyze_video + the store); tests can pass their own.
LiftLog accumulates a lift's steps into the lift_summary message.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from server.stream.protocol import LiftSummary, Start


@dataclass(frozen=True)
class LiveStep:
    """The analysis of one frame.

    t: s, stream clock. center_px: (2,) bar centre, pixels (x right, y down); None when no bar.
    position_m: (2,) metres (x facing direction, y up above the floor); None before calibration.
    vy_mps: vertical bar velocity, m/s, up positive; None before calibration.
    confidence: [0, 1]. keypoints: (33, 3) [x_px, y_px, visibility] or None when no pose.
    phases: (name, t) of phases that started with this frame, in order.
    lift_started / lift_ended: lift-off seen / the lift is over (standing still or bar dropped).
    lift_cancelled: the lift started earlier was not one (the bar came back down without an
    Olympic pull).
    bar_path_type: the path classification, when the analyzer knows it at lift end.
    """

    t: float
    center_px: NDArray[np.float64] | None
    position_m: NDArray[np.float64] | None
    vy_mps: float | None
    confidence: float
    keypoints: NDArray[np.float32] | None = None
    phases: tuple[tuple[str, float], ...] = ()
    lift_started: bool = False
    lift_ended: bool = False
    lift_cancelled: bool = False
    bar_path_type: str | None = None


class LiveAnalyzer(Protocol):
    """One connection's causal per-frame analysis (pose, bar tracking, live phases)."""

    async def step(self, rgb: NDArray[np.uint8], t: float) -> LiveStep:
        """rgb: (H, W, 3) uint8 RGB frame; t: its presentation time, s."""
        ...

    def end_lift(self, t: float) -> tuple[tuple[str, float], ...]:
        """The client ended the lift at t: reset for the next one; returns phases closed now."""
        ...


AnalyzerFactory = Callable[[Start], LiveAnalyzer]


@dataclass(frozen=True)
class FinaliseRequest:
    """A recorded lift to turn into a stored session.

    video: the original recording (MP4). start: the client's start message. lift: index on the
    connection. user_id: owner. lift_start_t / lift_end_t: s, stream clock (None if unknown).
    video_t0: the stream time of the recording's first frame, s. base_url: the origin the
    client reached, for public URLs ("" = the configured one).
    """

    video: Path
    start: Start
    lift: int
    user_id: str
    connection_id: str
    video_t0: float
    lift_start_t: float | None
    lift_end_t: float | None
    base_url: str = ""


@dataclass(frozen=True)
class FinalisedSession:
    """A stored session: its id and the URLs a client follows (REST resources and media)."""

    session_id: str
    urls: dict[str, str]


Finaliser = Callable[[FinaliseRequest], Awaitable[FinalisedSession]]


@dataclass
class LiftLog:
    """Collects one lift's live values for its summary (all SI)."""

    lift: int
    start_t: float
    peak_velocity_mps: float | None = None
    max_height_m: float | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)
    bar_path_type: str | None = None

    def add(self, step: LiveStep) -> None:
        if step.vy_mps is not None and (
            self.peak_velocity_mps is None or step.vy_mps > self.peak_velocity_mps
        ):
            self.peak_velocity_mps = step.vy_mps
        if step.position_m is not None:
            y = float(step.position_m[1])
            if self.max_height_m is None or y > self.max_height_m:
                self.max_height_m = y
        self.phases.extend(step.phases)
        if step.bar_path_type is not None:
            self.bar_path_type = step.bar_path_type

    def summary(self, end_t: float) -> LiftSummary:
        """Each phase lasts until the next one starts; the last one until end_t."""
        durations: dict[str, float] = {}
        bounds = [*self.phases, ("", end_t)]
        for (name, t0), (_, t1) in itertools.pairwise(bounds):
            durations[name] = round(max(0.0, t1 - t0), 4)
        return LiftSummary(
            lift=self.lift,
            peak_velocity_mps=self.peak_velocity_mps,
            max_height_m=self.max_height_m,
            phase_durations_s=durations,
            bar_path_type=self.bar_path_type,
            start_t=self.start_t,
            end_t=end_t,
        )
