"""The per-frame pass over a recorded clip: pose, plate, camera motion, one frame at a time.

What comes out is measurements (what was seen in each frame), not estimates: the raw rim-fit
centres go to the smoother in `kinematics`, the Kalman track only steers the search and draws the
live-looking overlay. A duplicated frame (the same picture stamped again, common in phone files)
is kept in the time line; while the bar moves its unchanged fix is dropped, so it cannot read as
the bar stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from server.pose import types as lm
from server.pose.gate import JumpGate, hide
from server.pose.types import PoseFrame
from server.settings import Settings
from server.tracking.camera import (
    Box,
    CameraMotion,
    WorkImage,
    box_around,
    offsets_at,
    work_image,
)
from server.tracking.plate import RimFit
from server.tracking.tracker import BarTracker, TrackerConfig
from server.video.prefetch import prefetched
from server.video.reader import Frame, VideoReader

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
Progress = Callable[[float], None]
WRISTS = (lm.LEFT_WRIST, lm.RIGHT_WRIST)
MIN_VISIBILITY = 0.3
STILL_RADII_PER_S = 0.1  # tracked speed (plate radii/s, ~2 cm/s) below which the bar is at rest
SAME_PX = 0.05  # two fixes this close come from the same picture


class PoseStepper(Protocol):
    """What the pass needs from the pose stage: one PoseFrame (or None) per frame."""

    def step(
        self, rgb: NDArray[np.uint8], bar_hint: NDArray[np.floating] | None = None
    ) -> PoseFrame | None: ...


@dataclass
class Measurements:
    """Everything measured in one clip, all of length N = frames.

    t: (N,) s, presentation times. duplicate: (N,) the frame repeats the previous picture.
    fit_center: (N, 2) px, the accepted rim fit of each frame (NaN where none). fit_radius: (N,) px.
    track_center: (N, 2) px, the causal Kalman estimate (NaN when no track). track_radius: (N,).
    confidence: (N,) [0, 1]. camera: (N, 2, 3) the background's similarity transform since
    frame 0 (a static point p of frame 0 appears at A p + b).
    poses: N PoseFrame or None. size: (width, height) of the analysed frames. max_side: the
    reader's max_side (the render must decode with the same). warnings: from reading the file.
    pose_hidden: landmark-frames the plausibility gate hid (`server.pose.gate`).
    """

    t: FloatArray
    duplicate: NDArray[np.bool_]
    fit_center: FloatArray
    fit_radius: FloatArray
    track_center: FloatArray
    track_radius: FloatArray
    confidence: FloatArray
    camera: FloatArray
    poses: list[PoseFrame | None]
    size: tuple[int, int]
    max_side: int | None
    nominal_fps: float
    warnings: list[str] = field(default_factory=list)
    # landmark-frames the jump gate hid as implausible (server.pose.gate)
    pose_hidden: int = 0

    @property
    def frames(self) -> int:
        return int(self.t.shape[0])

    def camera_offsets(self, points: FloatArray) -> FloatArray:
        """(N, 2) px: how far the camera moved the background at each frame's point (N, 2)."""
        return offsets_at(self.camera, points)


def wrists(pose: PoseFrame | None) -> FloatArray | None:
    """(K, 2) pixel positions of the visible wrists (the hands hold the bar), or None."""
    if pose is None:
        return None
    idx = [i for i in WRISTS if pose.visibility[i] >= MIN_VISIBILITY]
    return pose.keypoints[idx].astype(np.float64) if idx else None


# While the bar is off the floor the hands hold it: in a side view a wrist projects within about
# half a plate radius of the plate centre, so one further than this many radii is a misfit (the
# landmark model put the near wrist at knee height during the real snatch's turnover). The bar is
# taken to be off the floor once it has risen a radius above the lowest it was seen, or when it
# is well above the lifter's feet (`above_feet`).
HANDS_ON_BAR_RADII = 1.5


def hands_on_bar(
    pose: PoseFrame | None, center: FloatArray, radius: float, lifted: bool
) -> PoseFrame | None:
    """`pose` with the wrists that cannot be on a lifted bar hidden (visibility 0)."""
    if pose is None or not lifted or not (np.isfinite(center).all() and np.isfinite(radius)):
        return pose
    far = [
        i
        for i in WRISTS
        if pose.visibility[i] >= MIN_VISIBILITY
        and float(np.hypot(*(pose.keypoints[i] - center))) > HANDS_ON_BAR_RADII * radius
    ]
    return hide(pose, far) if far else pose


# A bar whose plate centre is more than this many plate radii above the lifter's lowest ankle or
# heel is off the floor, so in the hands, even if it was never raised above where it was first
# seen (a squat or a jerk from a rack: the bar walked out at shoulder height). On the floor the
# plate centre is one radius up and the ankles about a third of one: 0.65 r apart. At the bottom
# of the rack squat clip's deep squats it is 1.15 r, where this rule does not apply.
ABOVE_FEET_RADII = 1.3
FEET = (lm.LEFT_ANKLE, lm.RIGHT_ANKLE, lm.LEFT_HEEL, lm.RIGHT_HEEL)


def above_feet(pose: PoseFrame | None, fit: RimFit) -> bool:
    """The plate `fit` is ABOVE_FEET_RADII radii above the pose's lowest visible foot point."""
    if pose is None:
        return False
    feet = [i for i in FEET if pose.visibility[i] >= MIN_VISIBILITY]
    if not feet:
        return False
    foot_y = float(np.max(pose.keypoints[feet, 1]))
    return foot_y - float(fit.center[1]) > ABOVE_FEET_RADII * float(fit.radius)


def _repeats(frame: Frame) -> bool:
    """The frame repeats the previous picture (the first frame never does)."""
    return frame.duplicate and frame.index > 0


def _stale(center: FloatArray, previous: FloatArray, velocity: FloatArray, radius: float) -> bool:
    """A repeated frame's fix is stale when it did not move although the bar was moving (a
    repeat in a slow or still stretch is a real, if unchanged, measurement)."""
    moving = bool(np.hypot(*velocity) >= STILL_RADII_PER_S * radius)
    same = bool(np.isfinite(previous).all() and np.hypot(*(center - previous)) < SAME_PX)
    return moving and same


def _exclusions(pose: PoseFrame | None, center: FloatArray, radius: float) -> list[Box]:
    """Regions that move on their own: the lifter (landmark box, grown) and the plate."""
    boxes: list[Box] = []
    if pose is not None:
        box = box_around(pose.keypoints[pose.visibility >= MIN_VISIBILITY], 0.2)
        if box is not None:
            boxes.append(box)
    if np.isfinite(center).all() and np.isfinite(radius):
        r = 1.6 * radius
        boxes.append((center[0] - r, center[1] - r, center[0] + r, center[1] + r))
    return boxes


def measure_clip(
    video: str | Path,
    *,
    pose: PoseStepper | None,
    plate_diameter_m: float = 0.45,
    max_side: int | None = 1280,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> Measurements:
    """Decode `video` once and measure every frame. pose: a PoseTracker (or None to track the
    bar alone). progress: called with the fraction of frames done (by the header's count)."""
    tracker = BarTracker(TrackerConfig(plate_diameter_m=plate_diameter_m))
    camera = CameraMotion()
    gate = JumpGate()
    t: list[float] = []
    dup: list[bool] = []
    fit_c: list[FloatArray] = []
    fit_r: list[float] = []
    trk_c: list[FloatArray] = []
    trk_r: list[float] = []
    conf: list[float] = []
    offs: list[FloatArray] = []
    poses: list[PoseFrame | None] = []
    nan2 = np.array([np.nan, np.nan])
    last_pose: PoseFrame | None = None
    last_center = nan2
    last_velocity = np.zeros(2)
    lowest = -np.inf  # the lowest plate centre seen so far (image row): the bar at rest
    with (
        VideoReader(video, max_side=max_side, settings=settings) as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="pose") as worker,
    ):
        expected = max(1, reader.info.frame_count)
        size = (0, 0)
        # The camera's grey work image is made on the decoding thread, beside the decoding.
        frames = prefetched((f, work_image(f.rgb if f.grey is None else f.grey)) for f in reader)

        def pose_of(item: tuple[Frame, WorkImage] | None) -> Future[PoseFrame | None] | None:
            """Start the frame's pose on the worker thread (onnxruntime releases the GIL). A
            repeated picture shows the lifter where the last one did: no new pose."""
            if pose is None or item is None or _repeats(item[0]):
                return None
            hint = last_center if np.isfinite(last_center).all() else None
            return worker.submit(pose.step, item[0].rgb, hint)

        item = next(frames, None)
        pending = pose_of(item)
        while item is not None:
            frame, work = item
            rgb = frame.rgb
            size = (rgb.shape[1], rgb.shape[0])
            repeat = _repeats(frame)
            # The bar and the camera are measured here while this frame's pose runs on the
            # worker; they use the previous frame's pose (the hands pick a plate, the lifter's
            # region moves on its own), as the next frame's pose uses this frame's bar position.
            sample = tracker.step(frame.t, rgb, wrists(last_pose))
            fit = tracker.last_fit
            last_center = sample.center
            # So the next frame's pose is queued now, behind this one: the worker never waits
            # for the camera step below (the same inputs as after it, so the same result).
            following = next(frames, None)
            pending_next = pose_of(following)
            exclude = _exclusions(last_pose, sample.center, sample.radius)
            transform = camera.step(work, exclude)
            if pose is None:
                current = None
            elif pending is None:
                current = poses[-1]  # a repeat is never the first frame
            else:
                current = gate.apply(pending.result(), frame.t)
                if fit is not None:
                    lowest = max(lowest, float(fit.center[1]))
                lifted = fit is not None and (
                    lowest - float(fit.center[1]) > float(fit.radius) or above_feet(current, fit)
                )
                current = hands_on_bar(current, sample.center, sample.radius, lifted)
            if current is not None:
                last_pose = current
            center = fit.center.astype(np.float64) if fit is not None else nan2
            if repeat and _stale(center, fit_c[-1], last_velocity, trk_r[-1]):
                # The same picture stamped later while the bar moves: a stale moment.
                center = nan2
            t.append(frame.t)
            dup.append(repeat)
            fit_c.append(center)
            fit_r.append(float(fit.radius) if fit is not None and not repeat else np.nan)
            trk_c.append(sample.center.astype(np.float64))
            trk_r.append(float(sample.radius))
            conf.append(float(sample.confidence))
            offs.append(transform)
            poses.append(current)
            last_velocity = np.nan_to_num(sample.velocity, nan=np.inf)
            if progress is not None and frame.index % 10 == 0:
                progress(min(1.0, (frame.index + 1) / expected))
            item, pending = following, pending_next
        warnings = [*reader.warnings, *reader.timing_warnings()]
        nominal_fps = reader.info.fps
    if camera.unmeasured > 0.2 * max(1, len(t)):
        warnings.append(
            f"camera motion could not be measured in {camera.unmeasured} of {len(t)} frames "
            "(too little static background): positions there assume a still camera"
        )
    return Measurements(
        t=np.asarray(t, np.float64),
        duplicate=np.asarray(dup, bool),
        fit_center=np.asarray(fit_c, np.float64).reshape(-1, 2),
        fit_radius=np.asarray(fit_r, np.float64),
        track_center=np.asarray(trk_c, np.float64).reshape(-1, 2),
        track_radius=np.asarray(trk_r, np.float64),
        confidence=np.asarray(conf, np.float64),
        camera=np.asarray(offs, np.float64).reshape(-1, 2, 3),
        poses=poses,
        size=size,
        max_side=max_side,
        nominal_fps=nominal_fps,
        warnings=warnings,
        pose_hidden=gate.hidden,
    )
