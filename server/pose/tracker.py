"""Video-mode pose tracking of the lifter: detector only when lost, landmark ROI carried over.

Per frame: if a track exists, crop its ROI (predicted from the previous frame's auxiliary
landmarks 33/34) and run the landmark model; when presence drops below 0.5 the track is dropped
and the detector runs on the same frame, so a lost track costs no frame. When the detector sees
several people the lifter is chosen: nearest to the bar (`bar_hint`, when the caller knows the
plate centre), else the largest, most central person.

The per-frame logic is one generator (`_plan`) that yields the model runs it needs; `step` feeds
it from the synchronous service API and `step_async` from the batching async API, so both paths
share every decision.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.pose.anchors import INPUT_SIZE
from server.pose.detector import Detection, Letterbox, box_iou, decode_detections, letterbox
from server.pose.landmarks import decode_landmarks
from server.pose.roi import LANDMARK_INPUT, roi_from_keypoints, to_unit_float, warp_roi
from server.pose.service import DetectorRaw, InferenceService, Kind, LandmarkRaw
from server.pose.types import PoseFrame, Roi

MIN_PRESENCE = 0.5
# After a loss, the ROI of the last good frame, enlarged, is tried before the detector for this
# many frames: fast pulls blur the lifter out of the predicted ROI for a frame or two, and the
# detector then often latches onto a plate or a seated spectator instead.
RETRY_FRAMES = 3
RETRY_SCALE = 1.5
# The detector's box for a lifter bent over the bar (set-up position, plates hiding the legs) is
# often too tight for the landmark model (presence ~0.01 on the real competition snatch); the
# same ROI enlarged by these factors is tried, in turn, before giving up on the frame. For a
# lifter under a rack's plate the detector's ROI is about a third of the body (the real rack
# squat's first frames: presence 0.06-0.27 at 1x, 0.82-0.99 at 3x on five of six frames).
DETECT_RETRY_SCALES = (1.6, 3.0)
# The ROI predicted from a frame's auxiliary points may differ from the track's reference size
# (the detector's ROI, then a slow average of tracked ones) by at most this factor either way.
# A lifter's apparent size barely changes during a lift, but the landmark model run in a too
# wide crop predicts a too wide next ROI, and without a bound that feeds on itself (a 480x360
# snatch grew a 290 px ROI past 800 px and lost the lifter).
ROI_SIZE_LIMIT = 1.3
# After DETECT_MISSES detector runs in a row that gave no pose (and no pose in the last 15
# frames), the next DETECT_BACKOFF frames skip the detector: an empty platform is checked about
# 6 times a second at 30 fps (a lifter walking in is found within 0.2 s), and a clip without a
# person costs no detector run on most frames. One miss is not enough: the first frame has no
# bar hint yet (see NEAR_BAR_SCORE), and backing off after it lost the real rack squat's first
# five frames.
DETECT_BACKOFF = 4
DETECT_MISSES = 2
# When the detector's choice gives no pose and the bar's position is known, a weaker candidate
# (down to this score) whose box holds the bar is tried: the lifter under a rack's plate (the
# real rack squat) scores 0.3-0.49 on many frames while a coach walking behind scores 0.6 and
# is chosen, and the landmark model then finds no pose in the coach's crop. It costs nothing on
# frames that already give a pose, and the landmark model's presence still decides.
NEAR_BAR_SCORE = 0.3
ROI_SIZE_SMOOTHING = 0.1

_Need = tuple[Kind, NDArray[np.float32]]
_Plan = Generator[_Need, DetectorRaw | LandmarkRaw, PoseFrame | None]


def validate_frame(rgb: object) -> NDArray[np.uint8]:
    """The frame as an HxWx3 uint8 C-contiguous array, or InvalidInputError naming the fault."""
    if not isinstance(rgb, np.ndarray):
        raise InvalidInputError(f"frame must be a numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise InvalidInputError(f"frame must be uint8 RGB, got dtype {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidInputError(f"frame must be HxWx3 RGB, got shape {rgb.shape}")
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise InvalidInputError(f"frame is empty or degenerate: shape {rgb.shape}")
    return np.ascontiguousarray(rgb)


def validate_hint(bar_hint: object) -> NDArray[np.float64] | None:
    """None, or the bar hint as a finite (2,) pixel position."""
    if bar_hint is None:
        return None
    try:
        hint = np.asarray(bar_hint, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInputError(f"bar_hint must be (x, y) pixels, got {bar_hint!r}") from None
    if hint.shape != (2,) or not np.isfinite(hint).all():
        raise InvalidInputError(f"bar_hint must be finite (x, y) pixels, got {bar_hint!r}")
    return hint


def _distance_to_box(point: NDArray[np.float64], box: NDArray[np.float32]) -> float:
    dx = max(float(box[0]) - point[0], 0.0, point[0] - float(box[2]))
    dy = max(float(box[1]) - point[1], 0.0, point[1] - float(box[3]))
    return math.hypot(dx, dy)


def select_lifter(
    detections: Sequence[Detection],
    frame_size: tuple[int, int],
    bar_hint: NDArray[np.float64] | None = None,
) -> Detection:
    """Pick the lifter among detected people.

    frame_size: (width, height) pixels. With a bar hint: the person whose box is nearest the bar
    (0 inside the box), ties to the larger box (a judge standing behind the bar is smaller).
    Without: the largest box weighted by how central it is (spectators stand at the edges).
    """
    if not detections:
        raise InvalidInputError("select_lifter needs at least one detection")
    w, h = frame_size
    if bar_hint is not None:
        return min(detections, key=lambda d: (_distance_to_box(bar_hint, d.box), -d.area))
    centre = np.array([w / 2, h / 2])
    half_diag = math.hypot(w, h) / 2

    def weight(d: Detection) -> float:
        off = float(np.linalg.norm(d.center - centre)) / half_diag
        return d.area * max(0.05, 1.0 - off)

    return max(detections, key=weight)


class PoseTracker:
    """One video's pose track. Not thread-safe: one tracker per stream.

    service: the shared InferenceService. min_presence: landmark presence below which the track
    is dropped. min_detection_score: detector threshold.
    """

    def __init__(
        self,
        service: InferenceService,
        *,
        min_presence: float = MIN_PRESENCE,
        min_detection_score: float = 0.5,
    ) -> None:
        self._service = service
        self.min_presence = min_presence
        self.min_detection_score = min_detection_score
        self._roi: Roi | None = None
        self._frame_index = -1
        # the ROI of the last frame that gave a pose, and that frame's index
        self._last_good: tuple[Roi, int] | None = None
        # the track's reference ROI size, px (None: no track yet)
        self._ref_size: float | None = None
        # frames before this index skip the detector (it found nobody recently)
        self._detect_after = 0
        # detector runs in a row that gave no pose
        self._misses = 0
        # buffers reused every frame: the async path awaits before touching them again
        self._letterboxed = np.empty((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        self._crop_u8 = np.empty((LANDMARK_INPUT, LANDMARK_INPUT, 3), np.uint8)
        self._crop = np.empty((LANDMARK_INPUT, LANDMARK_INPUT, 3), np.float32)
        self.detector_runs = 0
        self.landmark_runs = 0

    @property
    def roi(self) -> Roi | None:
        """The ROI the next frame will be cropped with; None when the track is lost."""
        return self._roi

    def reset(self) -> None:
        """Forget the track (e.g. on a scene cut); the next step runs the detector."""
        self._roi = None
        self._last_good = None
        self._ref_size = None
        self._detect_after = 0
        self._misses = 0

    def step(
        self, rgb: NDArray[np.uint8], bar_hint: NDArray[np.floating] | None = None
    ) -> PoseFrame | None:
        """Track one HxWx3 uint8 RGB frame; None when nobody is found."""
        plan = self._plan(rgb, bar_hint)
        try:
            kind, image = next(plan)
            while True:
                batch = image[None]
                result: DetectorRaw | LandmarkRaw = (
                    self._service.detect(batch)[0]
                    if kind == "detect"
                    else self._service.landmarks(batch)[0]
                )
                kind, image = plan.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def step_async(
        self, rgb: NDArray[np.uint8], bar_hint: NDArray[np.floating] | None = None
    ) -> PoseFrame | None:
        """As `step`, with model runs batched across concurrent streams by the service."""
        plan = self._plan(rgb, bar_hint)
        try:
            kind, image = next(plan)
            while True:
                result: DetectorRaw | LandmarkRaw = (
                    await self._service.detect_async(image)
                    if kind == "detect"
                    else await self._service.landmarks_async(image)
                )
                kind, image = plan.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    # the shared per-frame logic --------------------------------------------------------------

    def _plan(self, rgb: object, bar_hint: object) -> _Plan:
        frame = validate_frame(rgb)
        hint = validate_hint(bar_hint)
        self._frame_index += 1
        if self._roi is not None:
            pose = yield from self._landmarks(frame, self._roi)
            if pose is not None:
                return pose
        if self._last_good is not None and self._pose_within(RETRY_FRAMES):
            wider = _enlarged(self._last_good[0], RETRY_SCALE)
            pose = yield from self._landmarks(frame, wider, remember=False)
            if pose is not None:
                return pose
        if self._frame_index < self._detect_after:
            return None
        detected = yield from self._detect(frame)
        roi = self._chosen(detected, frame, hint)
        pose = yield from self._from_detection(frame, roi)
        if pose is None and hint is not None:
            pose = yield from self._from_detection(frame, _near_bar(detected, hint))
        if pose is not None:
            self._misses = 0
            return pose
        self._misses += 1
        # a lifter lost a moment ago is searched for every frame
        if self._misses >= DETECT_MISSES and not self._pose_within(15):
            self._detect_after = self._frame_index + 1 + DETECT_BACKOFF
        return None

    def _from_detection(
        self, frame: NDArray[np.uint8], roi: Roi | None
    ) -> Generator[_Need, DetectorRaw | LandmarkRaw, PoseFrame | None]:
        """The pose in a detector ROI, or in the same ROI enlarged (DETECT_RETRY_SCALES)."""
        if roi is None:
            return None
        self._ref_size = roi.size
        pose = yield from self._landmarks(frame, roi)
        for scale in DETECT_RETRY_SCALES:
            if pose is not None:
                break
            wider = _enlarged(roi, scale)
            pose = yield from self._landmarks(frame, wider, remember=False)
            if pose is not None:
                self._ref_size = wider.size  # the detector's box was too tight for this person
        return pose

    def _pose_within(self, frames: int) -> bool:
        """Whether a tracked (not enlarged-retry) pose was found in the last `frames` frames."""
        return self._last_good is not None and self._frame_index - self._last_good[1] <= frames

    def _detect(
        self, frame: NDArray[np.uint8]
    ) -> Generator[_Need, DetectorRaw | LandmarkRaw, _Detected]:
        image, transform = letterbox(frame, out=self._letterboxed)
        raw = yield ("detect", image)
        assert isinstance(raw, DetectorRaw)
        self.detector_runs += 1
        return _Detected(raw, transform)

    def _chosen(
        self, detected: _Detected, frame: NDArray[np.uint8], hint: NDArray[np.float64] | None
    ) -> Roi | None:
        """The ROI of the lifter among the people detected at the detector's threshold (and
        `detected.chosen` set to that person's box); None when nobody is."""
        people = detected.people(self.min_detection_score)
        if not people:
            return None
        lifter = select_lifter(people, (frame.shape[1], frame.shape[0]), hint)
        detected.chosen = lifter.box
        return _roi_of(lifter)

    def _landmarks(
        self, frame: NDArray[np.uint8], roi: Roi, *, remember: bool = True
    ) -> Generator[_Need, DetectorRaw | LandmarkRaw, PoseFrame | None]:
        """Run the landmark model in `roi`. remember: keep `roi` as the last good one for the
        retry after a loss (False for enlarged retries, so enlargements never compound: an
        earlier version grew a 285 px ROI to 1357 px in 20 frames of a fast snatch)."""
        warp_roi(frame, roi, out=self._crop_u8)
        crop = to_unit_float(self._crop_u8, out=self._crop)
        raw = yield ("landmarks", crop)
        assert isinstance(raw, LandmarkRaw)
        self.landmark_runs += 1
        if raw.presence < self.min_presence:
            self._roi = None
            return None
        decoded = decode_landmarks(raw.landmarks, raw.presence, raw.world, roi, raw.heatmap)
        self._roi = self._bounded(decoded.next_roi)
        if remember:
            self._last_good = (roi, self._frame_index)
            if self._ref_size is not None:
                self._ref_size += ROI_SIZE_SMOOTHING * (roi.size - self._ref_size)
        return decoded.pose

    def _bounded(self, roi: Roi | None) -> Roi | None:
        """`roi` with its size held within ROI_SIZE_LIMIT of the track's reference size."""
        if roi is None or self._ref_size is None:
            return roi
        size = min(max(roi.size, self._ref_size / ROI_SIZE_LIMIT), self._ref_size * ROI_SIZE_LIMIT)
        return roi if size == roi.size else Roi(center=roi.center, size=size, rotation=roi.rotation)


@dataclass
class _Detected:
    """One frame's detector output. chosen: the box of the person tried first, if any."""

    raw: DetectorRaw
    transform: Letterbox
    chosen: NDArray[np.float32] | None = None

    def people(self, min_score: float) -> list[Detection]:
        return decode_detections(self.raw.boxes, self.raw.scores, self.transform, min_score)


def _near_bar(detected: _Detected, hint: NDArray[np.float64]) -> Roi | None:
    """The ROI of the best weaker candidate (NEAR_BAR_SCORE) whose box holds the bar, other than
    the person already tried; None when there is none."""
    for d in detected.people(NEAR_BAR_SCORE):  # best score first
        if _distance_to_box(hint, d.box) > 0:
            continue
        if detected.chosen is not None and float(box_iou(detected.chosen, d.box[None])[0]) > 0.5:
            continue
        return _roi_of(d)
    return None


def _roi_of(person: Detection) -> Roi | None:
    """The landmark ROI of a detected person; None for coincident keypoints (nothing to crop)."""
    try:
        return roi_from_keypoints(person.keypoints[0], person.keypoints[1])
    except InvalidInputError:
        return None


def _enlarged(roi: Roi, factor: float) -> Roi:
    return Roi(center=roi.center, size=roi.size * factor, rotation=roi.rotation)
