"""The pose tracker's per-frame decisions, with a scripted stand-in for the models.

The real models run in tests/test_pose_real_clips.py; here the service answers from a script so
each rule (retry scales, the weaker candidate at the bar, the detector back-off) is checked on
its own: which model runs happen, in which ROI, and what comes out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from server.pose import tracker as pose_tracker
from server.pose.anchors import NUM_ANCHORS, ssd_anchors
from server.pose.service import DetectorRaw, LandmarkRaw
from server.pose.tracker import DETECT_BACKOFF, DETECT_RETRY_SCALES, PoseTracker
from server.pose.types import Roi
from tests.pose_model_fixtures import raw_person

FRAME = np.zeros((448, 448, 3), np.uint8)  # letterbox scale 0.5, no padding


def detections(*people: tuple[tuple[float, float], float]) -> DetectorRaw:
    """People given by centre (224-px letterbox units) and detector logit."""
    raw = np.zeros((NUM_ANCHORS, 12), np.float32)
    logits = np.full((NUM_ANCHORS, 1), -8.0, np.float32)
    anchors = ssd_anchors() * 224
    for centre, logit in people:  # 40 px tall, at the nearest anchor
        anchor = int(np.argmin(np.hypot(*(anchors - np.array(centre)).T)))
        raw_person(raw, logits, anchor, centre, 40.0)
        logits[anchor] = logit
    return DetectorRaw(boxes=raw, scores=logits)


def landmarks(presence: float) -> LandmarkRaw:
    """Every landmark at the crop centre, the auxiliary scale point above it (a valid next ROI)."""
    lm5 = np.zeros((39, 5), np.float32)
    lm5[:, :2] = 128.0
    lm5[34, :2] = (128.0, 64.0)
    lm5[:, 3:] = 4.0
    return LandmarkRaw(
        landmarks=lm5.reshape(-1),
        presence=presence,
        heatmap=np.zeros((64, 64, 39), np.float32),
        world=np.zeros(117, np.float32),
    )


class ScriptedService:
    """Answers detector runs with `detector` and landmark runs with successive presences."""

    def __init__(self, detector: DetectorRaw, presences: list[float]) -> None:
        self.detector = detector
        self.presences: Iterator[float] = iter(presences)
        self.calls: list[str] = []

    def detect(self, batch: np.ndarray) -> list[DetectorRaw]:
        self.calls.append("detect")
        return [self.detector]

    def landmarks(self, batch: np.ndarray) -> list[LandmarkRaw]:
        self.calls.append("landmarks")
        return [landmarks(next(self.presences, 0.0))]


@pytest.fixture
def rois(monkeypatch: pytest.MonkeyPatch) -> list[Roi]:
    """The ROI of every landmark run, in order."""
    seen: list[Roi] = []
    warp = pose_tracker.warp_roi

    def recording(frame: np.ndarray, roi: Roi, out: np.ndarray | None = None) -> np.ndarray:
        seen.append(roi)
        return warp(frame, roi, out=out)

    monkeypatch.setattr(pose_tracker, "warp_roi", recording)
    return seen


def test_a_tight_detector_roi_is_retried_enlarged(rois: list[Roi]) -> None:
    service = ScriptedService(detections(((112.0, 112.0), 4.0)), [0.1, 0.1, 0.9])
    pose = PoseTracker(service).step(FRAME)  # type: ignore[arg-type]
    assert pose is not None
    assert service.calls == ["detect", "landmarks", "landmarks", "landmarks"]
    sizes = [r.size / rois[0].size for r in rois]
    assert sizes == pytest.approx([1.0, *DETECT_RETRY_SCALES])


def test_a_weaker_candidate_holding_the_bar_is_tried_when_the_choice_gives_no_pose(
    rois: list[Roi],
) -> None:
    # a confident person on the left (score 0.98), the lifter at the bar on the right (0.38)
    raw = detections(((50.0, 112.0), 4.0), ((170.0, 112.0), -0.5))
    bar = np.array([340.0, 224.0])  # frame pixels: the right person's centre
    rejected = [0.1] * (1 + len(DETECT_RETRY_SCALES))
    service = ScriptedService(raw, [*rejected, 0.9])
    pose = PoseTracker(service).step(FRAME, bar_hint=bar)  # type: ignore[arg-type]
    assert pose is not None
    assert len(rois) == len(rejected) + 1
    assert rois[0].center[0] < 224 < rois[-1].center[0]
    assert np.hypot(*(rois[-1].center - bar)) < 40


def test_without_the_bar_the_weaker_candidate_is_not_tried(rois: list[Roi]) -> None:
    raw = detections(((50.0, 112.0), 4.0), ((170.0, 112.0), -0.5))
    service = ScriptedService(raw, [0.1] * 10)
    assert PoseTracker(service).step(FRAME) is None  # type: ignore[arg-type]
    assert len(rois) == 1 + len(DETECT_RETRY_SCALES)
    assert all(r.center[0] < 224 for r in rois)


def test_an_empty_scene_backs_off_after_two_misses() -> None:
    service = ScriptedService(detections(), [])
    tracker = PoseTracker(service)  # type: ignore[arg-type]
    for _ in range(12):
        assert tracker.step(FRAME) is None
    # frames 0 and 1 miss, then one run every DETECT_BACKOFF + 1 frames: 6, 11
    assert tracker.detector_runs == 2 + len(range(2 + DETECT_BACKOFF, 12, DETECT_BACKOFF + 1))
    assert service.calls == ["detect"] * tracker.detector_runs


def test_one_miss_does_not_back_off() -> None:
    service = ScriptedService(detections(), [])
    tracker = PoseTracker(service)  # type: ignore[arg-type]
    assert tracker.step(FRAME) is None
    service.detector = detections(((112.0, 112.0), 4.0))
    service.presences = iter([0.9])
    assert tracker.step(FRAME) is not None  # found on the next frame, not five frames later
    assert tracker.detector_runs == 2
