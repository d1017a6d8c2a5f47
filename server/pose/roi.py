"""The landmark model's region of interest: the BlazePose rule, the crop warp and its inverse.

Pure functions. Pixels are continuous full-frame coordinates (the image spans [0, W] x [0, H],
x right, y down); crop coordinates are the same for the 256x256 model input.

Rotation: `Roi.rotation` is the angle that turns the crop's axes into the frame's. A crop point
at offset (a, b) from the crop centre (crop pixels times size / 256) lands at
centre + R(rotation) @ (a, b) with R = [[cos, -sin], [sin, cos]] in these y-down coordinates,
as MediaPipe's landmark projection does. rotation 0 is an upright person; +pi/2 is a person whose
head points towards +x.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.pose.types import Roi

LANDMARK_INPUT = 256
# BlazePose enlarges the keypoint circle by 1.25 so the whole body fits with margin.
ROI_SCALE = 1.25


def normalize_radians(angle: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_keypoints(
    center: NDArray[np.floating], scale_point: NDArray[np.floating], scale: float = ROI_SCALE
) -> Roi:
    """The BlazePose ROI from two keypoints in frame pixels.

    center: (2,) the body centre (detector keypoint 0 or landmark 33). scale_point: (2,) the
    point whose distance sets size and direction sets rotation (keypoint 1 or landmark 34).
    side = 2 * |scale_point - center| * scale; rotation = pi/2 - atan2(-(dy), dx), so a
    scale point straight above the centre gives rotation 0.
    """
    c = np.asarray(center, np.float64).reshape(-1)
    p = np.asarray(scale_point, np.float64).reshape(-1)
    if c.shape != (2,) or p.shape != (2,):
        raise InvalidInputError(f"ROI keypoints must be (2,) each, got {c.shape} and {p.shape}")
    dx, dy = float(p[0] - c[0]), float(p[1] - c[1])
    size = 2.0 * math.hypot(dx, dy) * scale
    if not (math.isfinite(size) and size > 0 and np.isfinite(c).all()):
        raise InvalidInputError(f"degenerate ROI keypoints: centre {c}, scale point {p}")
    rotation = normalize_radians(math.pi / 2 - math.atan2(-dy, dx))
    return Roi(center=c.astype(np.float32), size=size, rotation=rotation)


def crop_to_frame_matrix(roi: Roi, out_size: int = LANDMARK_INPUT) -> NDArray[np.float64]:
    """(2, 3) affine taking continuous crop pixels to continuous frame pixels."""
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    k = roi.size / out_size
    linear = k * np.array([[cos, -sin], [sin, cos]])
    # the crop centre (out_size / 2, out_size / 2) maps onto the ROI centre
    shift = roi.center.astype(np.float64) - linear @ np.full(2, out_size / 2)
    return np.hstack([linear, shift[:, None]])


def frame_to_crop_matrix(roi: Roi, out_size: int = LANDMARK_INPUT) -> NDArray[np.float64]:
    """(2, 3) affine taking continuous frame pixels to continuous crop pixels."""
    return np.asarray(cv2.invertAffineTransform(crop_to_frame_matrix(roi, out_size)), np.float64)


def _apply(matrix: NDArray[np.float64], points: NDArray[np.floating]) -> NDArray[np.float64]:
    pts = np.asarray(points, np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def crop_to_frame(
    points: NDArray[np.floating], roi: Roi, out_size: int = LANDMARK_INPUT
) -> NDArray[np.float64]:
    """(..., 2) crop pixels -> (..., 2) frame pixels."""
    return _apply(crop_to_frame_matrix(roi, out_size), points)


def frame_to_crop(
    points: NDArray[np.floating], roi: Roi, out_size: int = LANDMARK_INPUT
) -> NDArray[np.float64]:
    """(..., 2) frame pixels -> (..., 2) crop pixels."""
    return _apply(frame_to_crop_matrix(roi, out_size), points)


def warp_roi(
    rgb: NDArray[np.uint8],
    roi: Roi,
    out: NDArray[np.uint8] | None = None,
    out_size: int = LANDMARK_INPUT,
) -> NDArray[np.uint8]:
    """Cut the rotated ROI out of an HxWx3 frame into (out_size, out_size, 3) uint8.

    Bilinear, border replicate (what the model saw in training). `out` is reused when given.
    """
    m = crop_to_frame_matrix(roi, out_size)
    # cv2 works on pixel indices (centre of pixel i at i), we on continuous coordinates
    # (centre at i + 0.5): index map = T(-0.5) . m . T(+0.5).
    m_idx = m.copy()
    m_idx[:, 2] += m[:, :2] @ np.full(2, 0.5) - 0.5
    if out is None:
        out = np.empty((out_size, out_size, 3), np.uint8)
    elif out.shape != (out_size, out_size, 3) or out.dtype != np.uint8:
        raise InvalidInputError(f"warp_roi out must be ({out_size}, {out_size}, 3) uint8")
    cv2.warpAffine(
        rgb,
        m_idx,
        (out_size, out_size),
        dst=out,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out


def to_unit_float(
    crop: NDArray[np.uint8], out: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """uint8 crop -> float32 in [0, 1], the landmark model's input range (into `out`)."""
    if out is None:
        out = np.empty(crop.shape, np.float32)
    np.multiply(crop, np.float32(1.0 / 255.0), out=out, casting="unsafe")
    return out
