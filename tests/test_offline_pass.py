"""The offline pass's threads and schedule: thread counts per machine size, and what the pose is
given while it runs a frame ahead of the camera step (`server/analysis/measure.py`)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from server.analysis import threads
from server.analysis.measure import measure_clip
from server.pose.types import PoseFrame
from server.synth.clip import RenderOptions, render_clip
from tests.tracking_support import short_lift


@pytest.mark.parametrize(
    ("cores", "pose", "opencv"),
    [(1, 1, 1), (2, 1, 1), (3, 1, None), (4, 2, None), (6, 4, None), (16, 4, None)],
)
def test_thread_counts_follow_the_cores(cores: int, pose: int, opencv: int | None) -> None:
    assert threads.pose_threads(cores) == pose
    assert threads.opencv_threads(cores) == opencv


def test_offline_threads_puts_opencv_back() -> None:
    before = cv2.getNumThreads()
    with threads.offline_threads() as pose:
        assert pose == threads.pose_threads()
        expected = threads.opencv_threads()
        if expected is not None:
            assert cv2.getNumThreads() == expected
    assert cv2.getNumThreads() == before


class RecordingPose:
    """A pose stage that finds nobody and records what it was asked, and on which thread."""

    def __init__(self) -> None:
        self.hints: list[NDArray[np.floating] | None] = []
        self.threads: set[str] = set()

    def step(
        self, rgb: NDArray[np.uint8], bar_hint: NDArray[np.floating] | None = None
    ) -> PoseFrame | None:
        self.hints.append(None if bar_hint is None else np.array(bar_hint, np.float64))
        self.threads.add(threading.current_thread().name)
        return None


def test_each_pose_gets_the_previous_frames_bar(tmp_path: Path) -> None:
    """The next frame's pose is queued right after this frame's plate search: its hint must be
    this frame's tracked centre, exactly as if the frames ran one after another."""
    path = tmp_path / "lift.mp4"
    truth = render_clip(
        short_lift(), path, size=(640, 360), options=RenderOptions(seed=2, noise_sigma=2.0)
    )
    pose = RecordingPose()
    m = measure_clip(path, pose=pose)
    assert m.frames == truth.t.size
    # A repeated picture gets no pose of its own; every other frame gets one, in order.
    asked = [i for i in range(m.frames) if i == 0 or not m.duplicate[i]]
    assert len(asked) > m.frames // 2  # the still lead-in repeats its picture
    assert len(pose.hints) == len(asked)
    assert pose.hints[0] is None
    tracked = np.isfinite(m.track_center).all(axis=1)
    assert tracked.mean() > 0.9  # the comparison below is about real positions
    for i, hint in zip(asked[1:], pose.hints[1:], strict=True):
        if tracked[i - 1]:
            assert hint is not None
            np.testing.assert_array_equal(hint, m.track_center[i - 1])
        else:
            assert hint is None
    assert all(name.startswith("pose") for name in pose.threads)
