"""Data carried into and out of the barbell tracking stage.

Pixels are full-frame image coordinates, x to the right and y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class PlateDetection:
    """A measured plate in one frame (what the detector saw, before filtering).

    center: (2,) float64, pixels. radius: pixels (outer rim). score: detector confidence in [0, 1].
    """

    center: NDArray[np.float64]
    radius: float
    score: float


@dataclass(frozen=True)
class BarSample:
    """The tracked bar (near plate centre = the bar's axis) in one frame: an estimate.

    t: seconds (the frame's presentation time). center: (2,) pixels. velocity: (2,) pixels/s.
    radius: the filtered plate radius in pixels. confidence: [0, 1], 0 when no track exists.
    detected: True when a measurement was accepted in this frame, False when predicted through.
    """

    t: float
    center: NDArray[np.float64]
    velocity: NDArray[np.float64]
    radius: float
    confidence: float
    detected: bool
