"""Landmark model decoding: raw outputs of one crop -> PoseFrame in frame pixels (pure).

Outputs of pose_landmark_{lite,full,heavy} for one image:
  Identity   (195,)       39 x (x, y, z, visibility logit, presence logit), 256-px crop units
  Identity_1 (1,)         pose presence, a probability
  Identity_3 (64, 64, 39) heatmap logits, one channel per landmark
  Identity_4 (117,)       39 x (x, y, z) world metres, hip-centred, in the crop's axes
Landmarks 0-32 are BlazePose's; 33 and 34 are the auxiliary points that define the next frame's
ROI by the same rule as detector keypoints 0 and 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.pose.roi import LANDMARK_INPUT, crop_to_frame, roi_from_keypoints
from server.pose.types import NUM_LANDMARKS, PoseFrame, Roi

NUM_RAW_LANDMARKS = 39
AUX_CENTER, AUX_SCALE = 33, 34
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
# Where a heatmap cell sits, in cells: MediaPipe's calculator uses the cell index itself (0), not
# the cell centre (0.5). Kept as MediaPipe has it: the model was trained and evaluated that way.
HEATMAP_CELL_OFFSET = 0.0


@dataclass(frozen=True)
class LandmarkDecoding:
    """A decoded crop: the pose, and the ROI the tracker should use in the next frame.

    next_roi is None when the auxiliary points are degenerate (coincident or not finite).
    """

    pose: PoseFrame
    next_roi: Roi | None


def _sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))).astype(np.float32)


def refine_with_heatmap(
    xy: NDArray[np.floating],
    heatmap: NDArray[np.float32],
    kernel: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
) -> NDArray[np.float32]:
    """Move each landmark to the sigmoid-weighted centroid of its heatmap window.

    xy: (L, 2) landmark positions normalised to [0, 1] of the crop. heatmap: (H, W, L) logits.
    For landmark i the window is kernel x kernel cells around the cell holding xy[i], clipped at
    the heatmap edge; the landmark moves only when the window's highest sigmoid reaches
    min_confidence. Landmarks outside the heatmap are kept. Returns (L, 2) float32, normalised.
    """
    h, w, n = heatmap.shape
    pts = np.asarray(xy, np.float64)
    if pts.shape != (n, 2):
        raise InvalidInputError(f"heatmap has {n} channels but landmarks are {pts.shape}")
    refined = pts.astype(np.float32)
    # truncate towards zero as the C++ int conversion does
    col = np.trunc(pts[:, 0] * w).astype(np.int64)
    row = np.trunc(pts[:, 1] * h).astype(np.int64)
    inside = (pts[:, 0] >= 0) & (col < w) & (pts[:, 1] >= 0) & (row < h)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return refined
    half = (kernel - 1) // 2
    steps = np.arange(-half, half + 1)
    rows = row[idx, None] + steps  # (k, kernel)
    cols = col[idx, None] + steps
    row_ok = (rows >= 0) & (rows < h)
    col_ok = (cols >= 0) & (cols < w)
    logits = heatmap[
        np.clip(rows, 0, h - 1)[:, :, None],
        np.clip(cols, 0, w - 1)[:, None, :],
        idx[:, None, None],
    ]  # (k, kernel, kernel)
    conf = _sigmoid(logits).astype(np.float64)
    conf *= row_ok[:, :, None] & col_ok[:, None, :]  # out-of-map cells weigh nothing
    total = conf.sum(axis=(1, 2))
    best = conf.max(axis=(1, 2))
    cx = (conf.sum(axis=1) * cols).sum(axis=1)
    cy = (conf.sum(axis=2) * rows).sum(axis=1)
    ok = (best >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    new_x = (cx / safe + HEATMAP_CELL_OFFSET) / w
    new_y = (cy / safe + HEATMAP_CELL_OFFSET) / h
    refined[idx[ok], 0] = new_x[ok]
    refined[idx[ok], 1] = new_y[ok]
    return refined


def decode_landmarks(
    raw: NDArray[np.float32],
    presence: float,
    world: NDArray[np.float32],
    roi: Roi,
    heatmap: NDArray[np.float32] | None = None,
) -> LandmarkDecoding:
    """One crop's raw outputs -> PoseFrame in frame pixels plus the next frame's ROI.

    raw: (195,) `Identity`; presence: `Identity_1` scalar; world: (117,) `Identity_4`;
    heatmap: (64, 64, 39) `Identity_3` or None to skip refinement; roi: the crop's region.
    """
    lm = np.asarray(raw, np.float32).reshape(-1)
    if lm.shape != (NUM_RAW_LANDMARKS * 5,):
        raise InvalidInputError(f"landmark output must have 195 values, got {lm.shape}")
    wl = np.asarray(world, np.float32).reshape(-1)
    if wl.shape != (NUM_RAW_LANDMARKS * 3,):
        raise InvalidInputError(f"world landmark output must have 117 values, got {wl.shape}")
    lm5 = lm.reshape(NUM_RAW_LANDMARKS, 5)
    xy_norm = lm5[:, :2] / np.float32(LANDMARK_INPUT)
    if heatmap is not None:
        hm = np.asarray(heatmap, np.float32)
        if hm.ndim != 3 or hm.shape[2] != NUM_RAW_LANDMARKS:
            raise InvalidInputError(f"heatmap must have 39 channels, got {heatmap.shape}")
        xy_norm = refine_with_heatmap(xy_norm, hm)
    frame_xy = crop_to_frame(xy_norm * LANDMARK_INPUT, roi)  # (39, 2)
    # z is in the crop's x units (256 px); it scales with the ROI like x and y do
    depth = lm5[:NUM_LANDMARKS, 2] * np.float32(roi.size / LANDMARK_INPUT)
    visibility = _sigmoid(lm5[:NUM_LANDMARKS, 3])
    # world x, y are in the crop's axes: rotate them into the frame's, z unchanged
    cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
    w3 = wl.reshape(NUM_RAW_LANDMARKS, 3)[:NUM_LANDMARKS]
    world_xyz = np.empty((NUM_LANDMARKS, 3), np.float32)
    world_xyz[:, 0] = cos * w3[:, 0] - sin * w3[:, 1]
    world_xyz[:, 1] = sin * w3[:, 0] + cos * w3[:, 1]
    world_xyz[:, 2] = w3[:, 2]
    pose = PoseFrame(
        keypoints=frame_xy[:NUM_LANDMARKS].astype(np.float32),
        depth=depth.astype(np.float32),
        visibility=visibility,
        presence=float(np.clip(presence, 0.0, 1.0)),
        world=world_xyz,
        roi=roi,
    )
    try:
        next_roi: Roi | None = roi_from_keypoints(frame_xy[AUX_CENTER], frame_xy[AUX_SCALE])
    except InvalidInputError:
        next_roi = None
    return LandmarkDecoding(pose=pose, next_roi=next_roi)
