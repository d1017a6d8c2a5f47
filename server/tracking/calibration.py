"""Pixels to metres: from the plate's apparent size over the lift, else the lifter's height.

A bumper plate has a known diameter (450 mm for every competition plate from 10 kg up) and, in a
side view, faces the camera, so its rim is a circle whose diameter in pixels gives the scale at
the bar's depth. One frame's fit is a few pixels off (blur, the lifter's hands over the rim);
the median over every accepted fit of the clip, after dropping fits far from it, is not.

Without a plate the scale comes from the lifter's standing height (user profile): the nose-to-
ankle distance of a standing adult is about 0.89 of stature (anthropometric tables: nose at 0.93
of stature, lateral malleolus at 0.04), taken at the frames where the lifter stands tallest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from server.errors import NoLiftError

MIN_PLATE_FITS = 5
NOSE_TO_ANKLE_OF_STATURE = 0.89
OUTLIER_FRACTION = 0.1  # fits whose radius differs from the median by more than this are dropped


@dataclass(frozen=True)
class Calibration:
    """px_per_m: pixels per metre at the bar's depth. method: "plate" or "lifter_height".
    reference_m: the plate diameter or the lifter's height used. measured_px: the plate diameter
    or the nose-to-ankle length in pixels. samples: frames that entered the estimate. spread:
    relative robust spread (MAD / median) of those samples."""

    px_per_m: float
    method: Literal["plate", "lifter_height"]
    reference_m: float
    measured_px: float
    samples: int
    spread: float

    def to_document(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "px_per_m": round(self.px_per_m, 3),
            "mm_per_px": round(1000.0 / self.px_per_m, 4),
            ("plate_diameter_mm" if self.method == "plate" else "lifter_height_mm"): round(
                self.reference_m * 1000.0, 1
            ),
            ("plate_diameter_px" if self.method == "plate" else "nose_to_ankle_px"): round(
                self.measured_px, 2
            ),
            "samples": self.samples,
            "spread": round(self.spread, 4),
        }


def _robust(values: NDArray[np.float64]) -> tuple[float, int, float]:
    v = values[np.isfinite(values) & (values > 0)]
    med = float(np.median(v))
    kept = v[np.abs(v - med) <= OUTLIER_FRACTION * med]
    centre = float(np.median(kept))
    mad = float(np.median(np.abs(kept - centre)))
    return centre, int(kept.size), mad / centre


def from_plate(radii_px: NDArray[np.float64], plate_diameter_m: float) -> Calibration | None:
    """The scale from the (N,) accepted rim-fit radii (NaN where none); None with too few fits."""
    r = np.asarray(radii_px, np.float64)
    if np.count_nonzero(np.isfinite(r) & (r > 0)) < MIN_PLATE_FITS:
        return None
    radius, n, spread = _robust(r)
    return Calibration(
        2 * radius / plate_diameter_m, "plate", plate_diameter_m, 2 * radius, n, spread
    )


def from_lifter_height(nose_to_ankle_px: NDArray[np.float64], height_m: float) -> Calibration:
    """The scale from the (N,) nose-to-ankle pixel lengths (NaN where no pose). The tallest
    tenth of the frames are the standing ones (the lifter squats and bends the rest of the time)."""
    lengths = np.asarray(nose_to_ankle_px, np.float64)
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    if lengths.size < MIN_PLATE_FITS:
        raise NoLiftError(
            "no plate was found and the lifter was not seen standing: cannot tell metres from "
            "pixels (film the near plate side-on, whole in the frame)"
        )
    standing = lengths[lengths >= np.percentile(lengths, 90)]
    px, n, spread = _robust(standing)
    return Calibration(
        px / (NOSE_TO_ANKLE_OF_STATURE * height_m), "lifter_height", height_m, px, n, spread
    )
