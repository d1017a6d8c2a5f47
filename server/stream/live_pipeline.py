"""The real per-connection live analysis: pose (shared batching service), plate tracking, causal
kinematics and the live phase machine, one frame at a time.

Per frame: the plate search runs in a worker thread (the event loop must keep serving the other
connections) and its sample goes out at once. The pose runs after it through the shared
InferenceService (batched with other streams), at its own pace: a frame is handed to the pose,
with its bar as the hint, once its plate search is done and the previous pose is too, and the
plate search uses the hands of the latest finished pose (a frame or two old). The bar sample,
the number the lifter watches, thus waits for the plate search only, not for the pose models
(about 20-25 ms a frame here, most of a 30 fps frame interval), and a slow pose costs pose
frames, not bar frames. Started beside the search instead, the pose's threads took the cores
from it: one stream's p99 latency was 34-49 ms, against 24-33 ms this way (2026-12-02). The
scale comes from the running median plate radius, and the bar's height and velocity are the
fixed-lag smoothed estimates of `LiveBarKinematics` (three frames back: a pure filter overshoots
the velocity peak). The values sent are therefore about 0.1 s behind the picture; the finalised
session re-analyses the recording offline.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from server.analysis.kinematics import LiveBarKinematics
from server.analysis.measure import wrists
from server.errors import LiftStreamError
from server.phases.live import LivePhases
from server.pose.gate import JumpGate
from server.pose.types import PoseFrame
from server.stream.live import LiveStep
from server.stream.protocol import Start
from server.tracking.calibration import MIN_PLATE_FITS
from server.tracking.tracker import BarTracker, TrackerConfig

log = logging.getLogger(__name__)

PLATE_DIAMETER_M = 0.45
# Jerk density of the live filter, m²/s⁵. The offline smoother picks q by likelihood over the
# whole lift; live there is no whole lift, and the default 300 cut a clean's sharp velocity peak
# by ~7 % on the synthetic clips, 3000 by under 2 % (with 3 frames of lag).
LIVE_JERK_DENSITY = 3000.0
# The live pose runs at most this often per stream (stream time). The pose only guides the plate
# search (the hands) and feeds the key points the client may draw; the bar is tracked on every
# frame. At 30 fps a pose on every frame took most of a core of this 2-core machine and slowed
# the bar path beside it (GIL and cores); every other frame is plenty for both uses.
LIVE_POSE_MAX_FPS = 15.0


_BAR_POOL: ThreadPoolExecutor | None = None


def _bar_thread() -> ThreadPoolExecutor:
    """The one thread every live stream's plate search runs on, in turn."""
    global _BAR_POOL
    if _BAR_POOL is None:
        _BAR_POOL = ThreadPoolExecutor(1, thread_name_prefix="live-bar")
    return _BAR_POOL


class PipelineAnalyzer:
    """One connection's LiveAnalyzer. service: the app's InferenceService, or None to track the
    bar without a pose (the models are missing)."""

    def __init__(self, start: Start, service: Any | None) -> None:
        from server.pose.tracker import PoseTracker

        self.start = start
        self.pose = PoseTracker(service) if service is not None else None
        self.gate = JumpGate()
        self.tracker = BarTracker(TrackerConfig(plate_diameter_m=PLATE_DIAMETER_M))
        self.kinematics = LiveBarKinematics(q=LIVE_JERK_DENSITY, lag=3)
        self.phases = LivePhases(start.exercise, rest_height=PLATE_DIAMETER_M / 2)
        self._fits = 0
        self._x0_px: float | None = None
        self._last_pose: PoseFrame | None = None
        self._pose_job: asyncio.Task[PoseFrame | None] | None = None
        self._next_pose_t = -np.inf

    @classmethod
    def create(cls, start: Start, service: Any | None) -> PipelineAnalyzer:
        return cls(start, service)

    async def step(self, rgb: NDArray[np.uint8], t: float) -> LiveStep:
        pose = self._finished_pose()
        hands = wrists(self._last_pose)
        loop = asyncio.get_running_loop()
        sample = await loop.run_in_executor(_bar_thread(), self.tracker.step, t, rgb, hands)
        fit = self.tracker.last_fit
        if fit is not None:
            self._fits += 1
        center = sample.center if np.isfinite(sample.center).all() else None
        # The pose of this frame starts after its plate search, not beside it: the search (the
        # sample the lifter waits for) then has the cores to itself, and the pose gets this
        # frame's bar as its hint; it has the rest of the frame interval to finish.
        if self.pose is not None and self._pose_job is None and t >= self._next_pose_t:
            self._next_pose_t = t + 1.0 / LIVE_POSE_MAX_FPS - 1e-3
            self._pose_job = asyncio.ensure_future(self._pose_of(rgb, t, center))
        radius = self.tracker.radius
        if self._fits >= MIN_PLATE_FITS and np.isfinite(radius):
            self.kinematics.set_scale(2 * radius / PLATE_DIAMETER_M)
        y_px = float(fit.center[1]) if fit is not None else None
        live = self.kinematics.step(t, y_px)
        ppm = self.kinematics.px_per_m
        position = None
        vy = None
        phases: tuple[tuple[str, float], ...] = ()
        started = ended = cancelled = False
        lagged = live.lagged
        if lagged is not None and ppm is not None and center is not None:
            if self._x0_px is None:
                self._x0_px = float(center[0])
            position = np.array([(float(center[0]) - self._x0_px) / ppm, lagged.p])
            vy = lagged.v
            update = self.phases.step(lagged.t, lagged.p, lagged.v)
            phases, started, ended = update.phases, update.started, update.ended
            cancelled = update.cancelled
            if started:
                self._x0_px = float(center[0])
                self.kinematics.keep_floor()
            if ended:
                self.kinematics.reset_floor()
        keypoints = None
        if self.start.want_keypoints and pose is not None:
            keypoints = np.concatenate([pose.keypoints, pose.visibility[:, None]], axis=1)
        return LiveStep(
            t=t,
            center_px=center,
            position_m=position,
            vy_mps=vy,
            confidence=float(sample.confidence),
            keypoints=keypoints,
            phases=phases,
            lift_started=started,
            lift_ended=ended,
            lift_cancelled=cancelled,
        )

    async def _pose_of(
        self, rgb: NDArray[np.uint8], t: float, bar_hint: NDArray[np.float64] | None
    ) -> PoseFrame | None:
        assert self.pose is not None
        try:
            return self.gate.apply(await self.pose.step_async(rgb, bar_hint), t)
        except (LiftStreamError, ValueError) as exc:
            log.warning("live pose skipped a frame at t=%.3f s: %s", t, exc)
            return None

    def _finished_pose(self) -> PoseFrame | None:
        """The pose that finished since the last frame (None if none did, or it found no one)."""
        job = self._pose_job
        if job is None or not job.done():
            return None
        self._pose_job = None
        pose = None if job.cancelled() else job.result()
        if pose is not None:
            self._last_pose = pose
        return pose

    async def aclose(self) -> None:
        """Wait for a pose still running (it holds a frame and a place in the shared service)."""
        job, self._pose_job = self._pose_job, None
        if job is not None:
            await asyncio.gather(job, return_exceptions=True)

    def end_lift(self, t: float) -> tuple[tuple[str, float], ...]:
        del t
        self.phases.reset()
        self.kinematics.reset_floor()
        return ()
