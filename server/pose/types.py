"""Data carried out of the pose stage.

Image coordinates here are pixels of the full frame, x to the right and y down (as OpenCV and
numpy index images). Conversion to y-up happens in analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

NUM_LANDMARKS = 33

# BlazePose landmark indices used across the project.
NOSE = 0
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_FOOT_INDEX, RIGHT_FOOT_INDEX = 31, 32


@dataclass(frozen=True)
class Roi:
    """A rotated square region of the frame fed to the landmark model.

    center: (2,) float, pixels. size: side length in pixels. rotation: radians, counter-clockwise
    positive as in the BlazePose convention, normalised to [-pi, pi).
    """

    center: NDArray[np.float32]
    size: float
    rotation: float


@dataclass(frozen=True)
class PoseFrame:
    """One person's pose in one frame.

    keypoints: (33, 2) float32, pixels in the full frame (x right, y down).
    depth: (33,) float32, the model's relative z in the same pixel scale (smaller = nearer).
    visibility: (33,) float32 in [0, 1], sigmoid of the visibility logit.
    presence: float in [0, 1], pose presence from the landmark model.
    world: (33, 3) float32, metres, hip-centred, axes aligned to the image (x right, y down).
    roi: the region the landmarks were computed in.
    """

    keypoints: NDArray[np.float32]
    depth: NDArray[np.float32]
    visibility: NDArray[np.float32]
    presence: float
    world: NDArray[np.float32]
    roi: Roi

    def __post_init__(self) -> None:
        shapes = {
            "keypoints": (self.keypoints, (NUM_LANDMARKS, 2)),
            "depth": (self.depth, (NUM_LANDMARKS,)),
            "visibility": (self.visibility, (NUM_LANDMARKS,)),
            "world": (self.world, (NUM_LANDMARKS, 3)),
        }
        for name, (array, shape) in shapes.items():
            if array.shape != shape:
                raise ValueError(f"PoseFrame.{name} must have shape {shape}, got {array.shape}")
