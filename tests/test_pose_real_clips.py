"""The pose stage on the real side-view clips: found, on the lifter, and without implausible jumps.

Runs the product path (`measure_clip`: pose tracker with the bar tracker's hint, plausibility
gate, wrists held to a lifted bar) with the real full model on ten shared clips (snatches, a clean, deadlifts, squats) and
compares with lifter regions marked by eye in tests/data/pose_annotations.json. Skips when the
clips or the model cache are absent; tests/test_pose_decode.py and tests/test_pose_gate.py cover
the stage without them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from server.analysis.measure import Measurements, measure_clip
from server.pose import gate as jump_gate
from server.pose import types as lm
from tests.conftest import clip_path
from tests.pose_model_fixtures import real_cache_or_skip

pytestmark = [pytest.mark.realclips, pytest.mark.slow]

ANNOTATIONS = json.loads((Path(__file__).parent / "data" / "pose_annotations.json").read_text())
CLIP_NAMES = sorted(ANNOTATIONS["clips"])
HIPS = [lm.LEFT_HIP, lm.RIGHT_HIP]
WRISTS = [lm.LEFT_WRIST, lm.RIGHT_WRIST]
LIMBS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # shoulders to ankles
VISIBLE = 0.3  # the analysis's own visibility threshold (server.analysis.angles.MIN_VISIBILITY)

# Failures seen on 2026-12-01 and not fixed yet, kept strict so a fix shows up.
ARUCO_RACK = (
    "squat in a rack with a large plate hiding the torso: the landmark model misplaces the hips "
    "(on marked frames 40, 220, 280 and 350 they are 0.21-0.30 of the lifter's height from the "
    "marked ones; mediapipe 0.10.14's own pipeline, same model, is worse: 0.43 on frame 40, "
    "2026-12-03). With the wrists on a bar above the feet hidden when far from it, 14 of 810 "
    "frames still leave the lifter's box: hips in 5 of the walk-out, a wrist in 9 (at a squat's "
    "bottom the plate is 1.15 radii above the ankles, too close to the floor's 0.65 for the rule; "
    "standing, the misplaced wrist sits 1.48 radii from the plate, inside the 1.5 allowed). The "
    "person is the lifter, the fit is wrong"
)
KNOWN = {
    "annotated": {
        "squat_aruco_overlay_neython.mp4": ARUCO_RACK,
    },
    "every_frame": {
        "squat_aruco_overlay_neython.mp4": ARUCO_RACK,
    },
}


def clips(check: str = "") -> list[object]:
    """The annotated clips, those with a known failure of `check` marked strict xfail."""
    known = KNOWN.get(check, {})
    return [
        pytest.param(n, marks=pytest.mark.xfail(reason=known[n], strict=True)) if n in known else n
        for n in CLIP_NAMES
    ]


@cache
def _service():  # type: ignore[no-untyped-def]
    from server.pose.service import InferenceService
    from server.settings import Settings

    return InferenceService(Settings().model_dir, "full")


@cache
def _measure(name: str) -> Measurements:
    from server.pose.tracker import PoseTracker

    return measure_clip(clip_path(name), pose=PoseTracker(_service()))


def tracked(name: str) -> tuple[Measurements, NDArray[np.float64], NDArray[np.float64]]:
    """The clip's measurements, keypoints (N, 33, 2) in source pixels (NaN without a pose), and
    visibility (N, 33) (0 without a pose)."""
    real_cache_or_skip("pose_detection")
    real_cache_or_skip("pose_landmark_full")
    m = _measure(name)
    scale = ANNOTATIONS["clips"][name]["size"][0] / m.size[0]
    points = np.full((m.frames, lm.NUM_LANDMARKS, 2), np.nan)
    visibility = np.zeros((m.frames, lm.NUM_LANDMARKS))
    for i, pose in enumerate(m.poses):
        if pose is not None:
            points[i] = pose.keypoints * scale
            visibility[i] = pose.visibility
    return m, points, visibility


def annotated(name: str) -> dict[int, dict[str, list[float]]]:
    return {int(i): v for i, v in ANNOTATIONS["clips"][name]["frames"].items()}


def inside(point: NDArray[np.float64], box: NDArray[np.float64], margin: float) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return bool(
        box[0] - margin * w <= point[0] <= box[2] + margin * w
        and box[1] - margin * h <= point[1] <= box[3] + margin * h
    )


@pytest.mark.parametrize("name", clips())
def test_pose_found_in_95_percent_of_frames(name: str) -> None:
    m, points, _ = tracked(name)
    found = np.isfinite(points[:, 0, 0])
    assert found.mean() >= 0.95, f"pose in {found.mean():.1%} of {m.frames} frames"


@pytest.mark.parametrize("name", clips("annotated"))
def test_annotated_frames_show_the_lifter(name: str) -> None:
    """On each frame marked by eye: the visible hips and wrists lie in the lifter's box, and the
    hip midpoint is within a fifth of the lifter's height of the marked hip (the marks are a few
    percent accurate; a bystander is at least a body width away). Frames the annotation file
    lists under `pose_inaccurate` (with the reason) are held to the box only."""
    _, points, visibility = tracked(name)
    known = {int(i) for i in ANNOTATIONS["clips"][name].get("pose_inaccurate", {})}
    for index, mark in annotated(name).items():
        assert np.isfinite(points[index, 0, 0]), f"frame {index}: no pose"
        box = np.array(mark["box"], float)
        for part in [p for p in HIPS + WRISTS if visibility[index, p] >= VISIBLE]:
            assert inside(points[index, part], box, 0.1), (
                f"frame {index}: landmark {part} at {points[index, part].round()} outside {box}"
            )
        hip = points[index, HIPS].mean(axis=0)
        error = float(np.hypot(*(hip - mark["hip"]))) / (box[3] - box[1])
        assert index in known or error <= 0.2, (
            f"frame {index}: hip {hip.round()} vs marked {mark['hip']}"
        )


@pytest.mark.parametrize("name", clips("every_frame"))
def test_the_tracked_person_is_the_lifter_in_every_frame(name: str) -> None:
    """Between marked frames the lifter's box is interpolated in time (with a 20% margin for the
    motion in between): the visible hips and wrists never leave it."""
    _, points, visibility = tracked(name)
    marks = annotated(name)
    frames = sorted(marks)
    boxes = np.array([marks[i]["box"] for i in frames], float)
    outside = []
    for index in np.flatnonzero(np.isfinite(points[:, 0, 0])):
        box = np.array([np.interp(index, frames, boxes[:, j]) for j in range(4)])
        parts = [p for p in HIPS + WRISTS if visibility[index, p] >= VISIBLE]
        if not all(inside(points[index, p], box, 0.2) for p in parts):
            outside.append(int(index))
    assert not outside, f"frames off the lifter: {outside}"


@pytest.mark.parametrize("name", clips())
def test_keypoints_do_not_jump(name: str) -> None:
    """Visible landmarks move at most 1.5x the gate's physical bound between frames (the margin
    covers the gate's running torso length against this clip-wide median), and the gate hides
    few landmark-frames: it does not pass the test by hiding everything (measured 2026-12-01:
    0-6.4 % on nine clips, 10.0 % on the rack squat whose torso the plate hides)."""
    m, points, visibility = tracked(name)
    torso = float(
        np.nanmedian(np.hypot(*(points[:, [11, 12]].mean(1) - points[:, HIPS].mean(1)).T))
    )
    dt = np.diff(m.t)[:, None]
    step = np.hypot(*(points[1:, LIMBS] - points[:-1, LIMBS]).transpose(2, 0, 1)) / torso
    both = (visibility[1:, LIMBS] >= VISIBLE) & (visibility[:-1, LIMBS] >= VISIBLE)
    bound = 1.5 * (jump_gate.MAX_SPEED * dt + jump_gate.SLACK)
    jumps = np.argwhere(both & (step > bound))
    assert not len(jumps), f"jumps (frame, landmark): {[(int(i), LIMBS[j]) for i, j in jumps]}"
    found = int(np.isfinite(points[:, 0, 0]).sum())
    assert m.pose_hidden <= 0.12 * found * lm.NUM_LANDMARKS, (
        f"gate hid {m.pose_hidden} landmark-frames of {found} poses"
    )
