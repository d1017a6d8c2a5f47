"""Joint angles, shin and torso angles, and the lifter's facing direction, from one pose.

Definitions (DESIGN.md, Measurements): interior angles, 180 = straight: knee = hip-knee-ankle,
hip = shoulder-hip-knee, elbow = shoulder-elbow-wrist, shoulder = hip-shoulder-elbow,
ankle = knee-ankle-foot index. shin_angle: the ankle->knee line against the floor, torso_angle:
the hip->shoulder line against the floor, both measured from the floor in front of the lifter
(90 = vertical, below 90 = leaning forward). The camera is taken to be level (image rows parallel
to the floor). Keypoints are pixels, x right, y down (PoseFrame).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from server.pose import types as lm
from server.pose.types import PoseFrame

Side = Literal["left", "right"]
JOINTS: tuple[str, ...] = ("ankle", "knee", "elbow", "hip", "shoulder")
DEFAULT_JOINTS: tuple[str, ...] = ("hip", "knee")

# joint -> (end, vertex, end) landmark indices per side
_TRIPLETS: dict[str, dict[Side, tuple[int, int, int]]] = {
    "knee": {
        "left": (lm.LEFT_HIP, lm.LEFT_KNEE, lm.LEFT_ANKLE),
        "right": (lm.RIGHT_HIP, lm.RIGHT_KNEE, lm.RIGHT_ANKLE),
    },
    "hip": {
        "left": (lm.LEFT_SHOULDER, lm.LEFT_HIP, lm.LEFT_KNEE),
        "right": (lm.RIGHT_SHOULDER, lm.RIGHT_HIP, lm.RIGHT_KNEE),
    },
    "elbow": {
        "left": (lm.LEFT_SHOULDER, lm.LEFT_ELBOW, lm.LEFT_WRIST),
        "right": (lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW, lm.RIGHT_WRIST),
    },
    "shoulder": {
        "left": (lm.LEFT_HIP, lm.LEFT_SHOULDER, lm.LEFT_ELBOW),
        "right": (lm.RIGHT_HIP, lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW),
    },
    "ankle": {
        "left": (lm.LEFT_KNEE, lm.LEFT_ANKLE, lm.LEFT_FOOT_INDEX),
        "right": (lm.RIGHT_KNEE, lm.RIGHT_ANKLE, lm.RIGHT_FOOT_INDEX),
    },
}
_SIDE_POINTS: dict[Side, tuple[int, ...]] = {
    "left": (lm.LEFT_SHOULDER, lm.LEFT_HIP, lm.LEFT_KNEE, lm.LEFT_ANKLE),
    "right": (lm.RIGHT_SHOULDER, lm.RIGHT_HIP, lm.RIGHT_KNEE, lm.RIGHT_ANKLE),
}
# Below this visibility a landmark is not used for an angle.
MIN_VISIBILITY = 0.3


def interior_angle(
    a: NDArray[np.floating], b: NDArray[np.floating], c: NDArray[np.floating]
) -> float:
    """Angle a-b-c at vertex b in degrees, in [0, 180]; NaN if a segment has zero length."""
    u = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    w = np.asarray(c, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    nu, nw = float(np.hypot(*u)), float(np.hypot(*w))
    if nu == 0.0 or nw == 0.0:
        return float("nan")
    cos = float(np.dot(u, w)) / (nu * nw)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def angle_to_floor(start: NDArray[np.floating], end: NDArray[np.floating], facing: int) -> float:
    """Angle of the line start->end against the floor ahead of the lifter, degrees in [0, 180]:
    90 = vertical, under 90 = the end is ahead of the start (leaning forward). Pixels, y down."""
    d = np.asarray(end, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    forward, up = float(d[0]) * facing, -float(d[1])
    if forward == 0.0 and up == 0.0:
        return float("nan")
    return float(np.degrees(np.arctan2(up, forward)))


def near_side(pose: PoseFrame) -> Side:
    """The side facing the camera: the one whose body landmarks are more visible."""
    left = float(np.sum(pose.visibility[list(_SIDE_POINTS["left"])]))
    right = float(np.sum(pose.visibility[list(_SIDE_POINTS["right"])]))
    return "left" if left >= right else "right"


def facing_direction(pose: PoseFrame) -> int | None:
    """+1 if the lifter faces image right, -1 if image left, None if it cannot be told.

    Votes: toes ahead of heels (both feet) and the nose ahead of the shoulder midpoint, each
    weighted by the landmarks' visibility; a vote shorter than a few pixels does not count.
    """
    k, vis = pose.keypoints.astype(np.float64), pose.visibility.astype(np.float64)
    votes = 0.0
    for toe, heel in ((lm.LEFT_FOOT_INDEX, lm.LEFT_HEEL), (lm.RIGHT_FOOT_INDEX, lm.RIGHT_HEEL)):
        dx = k[toe, 0] - k[heel, 0]
        if abs(dx) > 2.0:
            votes += np.sign(dx) * min(vis[toe], vis[heel])
    mid_shoulder = (k[lm.LEFT_SHOULDER] + k[lm.RIGHT_SHOULDER]) / 2
    dx = k[lm.NOSE, 0] - mid_shoulder[0]
    if abs(dx) > 2.0:
        votes += np.sign(dx) * vis[lm.NOSE]
    if abs(votes) < 0.3:
        return None
    return 1 if votes > 0 else -1


def _visible(pose: PoseFrame, idx: tuple[int, ...]) -> bool:
    return bool(np.all(pose.visibility[list(idx)] >= MIN_VISIBILITY))


def joint_angles(
    pose: PoseFrame, joints: tuple[str, ...] = JOINTS, side: Side | None = None
) -> dict[str, float]:
    """Interior angles (degrees) of the near side (or `side`); NaN where a landmark is hidden."""
    s = side or near_side(pose)
    out: dict[str, float] = {}
    for joint in joints:
        idx = _TRIPLETS[joint][s]
        if not _visible(pose, idx):
            out[joint] = float("nan")
            continue
        a, b, c = (pose.keypoints[i] for i in idx)
        out[joint] = interior_angle(a, b, c)
    return out


def shin_angle(pose: PoseFrame, facing: int, side: Side | None = None) -> float:
    s = side or near_side(pose)
    ankle, knee = (lm.LEFT_ANKLE, lm.LEFT_KNEE) if s == "left" else (lm.RIGHT_ANKLE, lm.RIGHT_KNEE)
    if not _visible(pose, (ankle, knee)):
        return float("nan")
    return angle_to_floor(pose.keypoints[ankle], pose.keypoints[knee], facing)


def torso_angle(pose: PoseFrame, facing: int, side: Side | None = None) -> float:
    """Hip->shoulder line against the floor, from the hip and shoulder midpoints (both sides
    project to nearly the same line in a side view; the midpoint halves the landmark noise)."""
    del side  # the midpoint uses both sides
    k, vis = pose.keypoints, pose.visibility
    idx = (lm.LEFT_HIP, lm.RIGHT_HIP, lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER)
    if float(np.max(vis[list(idx)])) < MIN_VISIBILITY:
        return float("nan")
    hip = (k[lm.LEFT_HIP] + k[lm.RIGHT_HIP]) / 2
    shoulder = (k[lm.LEFT_SHOULDER] + k[lm.RIGHT_SHOULDER]) / 2
    return angle_to_floor(hip, shoulder, facing)


def hip_point(pose: PoseFrame) -> NDArray[np.float64]:
    """(2,) pixel midpoint of the hips."""
    k = pose.keypoints.astype(np.float64)
    return np.asarray((k[lm.LEFT_HIP] + k[lm.RIGHT_HIP]) / 2, dtype=np.float64)


def shoulder_point(pose: PoseFrame) -> NDArray[np.float64]:
    """(2,) pixel midpoint of the shoulders."""
    k = pose.keypoints.astype(np.float64)
    return np.asarray((k[lm.LEFT_SHOULDER] + k[lm.RIGHT_SHOULDER]) / 2, dtype=np.float64)
