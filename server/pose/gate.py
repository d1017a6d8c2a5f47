"""Plausibility gate for landmarks: a landmark that jumps further than a body can move is hidden.

The landmark model glitches for single frames when a limb is behind the plate or a rack upright
(on the real clips: an elbow 0.9 torso lengths away and back within 1/60 s of a slow squat, hips
0.7 torso lengths away and back in a rack). Nothing in a lift moves that fast: the wrists peak at
about 4 m/s in a snatch turnover, about 8 torso lengths per second.

Per landmark the gate keeps the last accepted position and its time. A new position is accepted
when it lies within (MAX_SPEED * elapsed + SLACK) torso lengths of it; otherwise its visibility
is set to 0 for that frame (angles and the bar prior skip landmarks below their visibility
threshold) and its position is kept as the model gave it. A rejected position that the next
frame confirms (within one frame's limit of it) is taken as the new truth, so a real fast move,
or a glitch accepted first, costs at most one frame. Units: pixels, seconds; torso length =
distance between the shoulder and hip midpoints, a running median of accepted frames.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque

import numpy as np
from numpy.typing import NDArray

from server.pose.types import (
    LEFT_HIP,
    LEFT_SHOULDER,
    NUM_LANDMARKS,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    PoseFrame,
)

MAX_SPEED = 12.0  # torso lengths per second: 1.5x the fastest limb in a lift
SLACK = 0.15  # torso lengths: the model's frame-to-frame noise on a still lifter is ~0.03
TORSO_WINDOW = 30  # frames in the running median of the torso length


def torso_length(keypoints: NDArray[np.floating]) -> float:
    """Pixels from the hip midpoint to the shoulder midpoint."""
    shoulders = (keypoints[LEFT_SHOULDER] + keypoints[RIGHT_SHOULDER]) / 2
    hips = (keypoints[LEFT_HIP] + keypoints[RIGHT_HIP]) / 2
    return float(np.hypot(*(shoulders - hips)))


class JumpGate:
    """One stream's gate. `apply(pose, t)` returns the pose with implausible landmarks hidden."""

    def __init__(self, max_speed: float = MAX_SPEED, slack: float = SLACK) -> None:
        self.max_speed = max_speed
        self.slack = slack
        self.hidden = 0  # landmark-frames hidden so far
        self.reset()

    def reset(self) -> None:
        """Forget the history (a new track, possibly of another person)."""
        self._accepted = np.full((NUM_LANDMARKS, 2), np.nan)
        self._accepted_t = np.full(NUM_LANDMARKS, np.nan)
        self._rejected = np.full((NUM_LANDMARKS, 2), np.nan)
        self._rejected_t = np.full(NUM_LANDMARKS, np.nan)
        self._torso: deque[float] = deque(maxlen=TORSO_WINDOW)

    def apply(self, pose: PoseFrame | None, t: float) -> PoseFrame | None:
        if pose is None:
            return None
        points = pose.keypoints.astype(np.float64)
        torso = torso_length(points)
        scale = float(np.median(self._torso)) if self._torso else torso
        if not math.isfinite(scale) or scale <= 0:
            return pose
        limit = (self.max_speed * (t - self._accepted_t) + self.slack) * scale
        distance = np.hypot(*(points - self._accepted).T)
        fresh = np.isnan(self._accepted_t)
        ok = fresh | (distance <= limit)
        # a rejected position confirmed by this frame is real: re-anchor there
        since = t - self._rejected_t
        confirm = (
            np.hypot(*(points - self._rejected).T) <= (self.max_speed * since + self.slack) * scale
        )
        ok |= ~ok & confirm
        self._accepted[ok] = points[ok]
        self._accepted_t[ok] = t
        self._rejected[ok] = np.nan
        self._rejected_t[ok] = np.nan
        self._rejected[~ok] = points[~ok]
        self._rejected_t[~ok] = t
        if ok[[LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]].all() and torso > 0:
            self._torso.append(torso)
        if ok.all():
            return pose
        self.hidden += int((~ok).sum())
        return hide(pose, ~ok)


def hide(pose: PoseFrame, landmarks: NDArray[np.bool_] | list[int]) -> PoseFrame:
    """`pose` with the given landmarks (mask or indices) at visibility 0, positions kept."""
    visibility = pose.visibility.copy()
    visibility[landmarks] = 0.0
    return dataclasses.replace(pose, visibility=visibility)
