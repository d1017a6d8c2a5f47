"""Person detector pre- and post-processing (pure functions).

The detector sees the whole frame letterboxed into 224x224 (aspect kept, black border) and
scaled to [-1, 1]. Its raw outputs are offsets from SSD anchors; decoding turns them into
`Detection`s in full-frame pixels after a score threshold and weighted non-maximum suppression.

Coordinates are continuous pixels: the image spans [0, W] x [0, H], pixel (i, j) has its centre
at (i + 0.5, j + 0.5), x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.pose.anchors import INPUT_SIZE, NUM_ANCHORS, ssd_anchors

NUM_KEYPOINTS = 4
MIN_SCORE = 0.5
NMS_IOU = 0.3
# MediaPipe clips the score logit before the sigmoid so exp() never overflows.
_LOGIT_CLIP = 100.0


@dataclass(frozen=True)
class Letterbox:
    """Maps frame pixels to letterbox pixels: lb = frame * scale + offset.

    scale: (2,) float64, letterbox px per frame px along x and y (equal up to rounding).
    offset: (2,) float64, letterbox px of the frame's top-left corner.
    """

    scale: NDArray[np.float64]
    offset: NDArray[np.float64]

    def to_frame(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """(..., 2) letterbox pixels -> (..., 2) frame pixels."""
        return (np.asarray(points, dtype=np.float64) - self.offset) / self.scale

    def to_letterbox(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """(..., 2) frame pixels -> (..., 2) letterbox pixels."""
        return np.asarray(points, dtype=np.float64) * self.scale + self.offset


@dataclass(frozen=True)
class Detection:
    """One detected person.

    box: (4,) float32, xmin, ymin, xmax, ymax in frame pixels.
    keypoints: (4, 2) float32, frame pixels: 0 mid-hip, 1 full-body size/rotation point,
    2 mid-shoulder, 3 upper-body size/rotation point.
    score: detector confidence in [0, 1].
    """

    box: NDArray[np.float32]
    keypoints: NDArray[np.float32]
    score: float

    def __post_init__(self) -> None:
        if self.box.shape != (4,):
            raise ValueError(f"Detection.box must have shape (4,), got {self.box.shape}")
        if self.keypoints.shape != (NUM_KEYPOINTS, 2):
            raise ValueError(f"Detection.keypoints must be (4, 2), got {self.keypoints.shape}")

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    @property
    def center(self) -> NDArray[np.float32]:
        return np.array(
            [(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], np.float32
        )


def letterbox(
    rgb: NDArray[np.uint8], out: NDArray[np.float32] | None = None
) -> tuple[NDArray[np.float32], Letterbox]:
    """Fit an HxWx3 uint8 RGB frame into the detector input.

    Returns the (224, 224, 3) float32 image in [-1, 1] (written into `out` when given, to avoid
    a per-frame allocation) and the frame -> letterbox transform.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InvalidInputError(f"letterbox needs an HxWx3 image, got shape {rgb.shape}")
    if out is None:
        out = np.empty((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    elif out.shape != (INPUT_SIZE, INPUT_SIZE, 3) or out.dtype != np.float32:
        raise InvalidInputError(f"letterbox out must be (224, 224, 3) float32, got {out.shape}")
    h, w = rgb.shape[:2]
    s = INPUT_SIZE / max(h, w)
    nw = min(INPUT_SIZE, max(1, round(w * s)))
    nh = min(INPUT_SIZE, max(1, round(h * s)))
    ox, oy = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
    # INTER_AREA averages when shrinking, so thin limbs do not alias away on large frames.
    interp = cv2.INTER_AREA if nw < w else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (nw, nh), interpolation=interp)
    out.fill(-1.0)  # black border, as the frame's own black would read
    view = out[oy : oy + nh, ox : ox + nw]
    np.multiply(small, np.float32(2.0 / 255.0), out=view, casting="unsafe")
    view -= np.float32(1.0)
    transform = Letterbox(
        scale=np.array([nw / w, nh / h], np.float64), offset=np.array([ox, oy], np.float64)
    )
    return out, transform


def decode_raw(
    raw_boxes: NDArray[np.float32],
    raw_scores: NDArray[np.float32],
    min_score: float = MIN_SCORE,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Anchor offsets of one image -> candidate boxes above `min_score`.

    raw_boxes: (2254, 12) detector `Identity`; raw_scores: (2254, 1) or (2254,) `Identity_1`
    logits. Returns boxes (K, 4) xmin, ymin, xmax, ymax, keypoints (K, 4, 2) and scores (K,),
    coordinates normalised to [0, 1] of the 224 input.
    """
    if raw_boxes.shape != (NUM_ANCHORS, 12):
        raise InvalidInputError(f"detector boxes must be (2254, 12), got {raw_boxes.shape}")
    logits = raw_scores.reshape(-1)
    if logits.shape != (NUM_ANCHORS,):
        raise InvalidInputError(f"detector scores must be (2254, 1), got {raw_scores.shape}")
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -_LOGIT_CLIP, _LOGIT_CLIP)))
    keep = np.flatnonzero(scores >= min_score)
    anchors = ssd_anchors()[keep]
    raw = raw_boxes[keep].astype(np.float32) / np.float32(INPUT_SIZE)
    centre = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + anchors[:, None, :]
    return boxes, keypoints, scores[keep].astype(np.float32)


def box_iou(box: NDArray[np.floating], boxes: NDArray[np.floating]) -> NDArray[np.float64]:
    """IoU of one (4,) xyxy box against (K, 4) xyxy boxes -> (K,). Empty boxes give 0."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(
        boxes[:, 3] - boxes[:, 1], 0, None
    )
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(np.float64)


def weighted_nms(
    boxes: NDArray[np.float32],
    keypoints: NDArray[np.float32],
    scores: NDArray[np.float32],
    iou_threshold: float = NMS_IOU,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """MediaPipe's weighted NMS: each cluster is replaced by its score-weighted mean.

    Take the best remaining candidate; every remaining box overlapping it by IoU > threshold
    (itself included) joins its cluster; the cluster's box and keypoints are the score-weighted
    averages, its score the best one. Shapes as `decode_raw`; output sorted by score, descending.
    """
    order = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s = [], [], []
    while order.size:
        top = order[0]
        overlap = box_iou(boxes[top], boxes[order]) > iou_threshold
        overlap[0] = True  # an empty box has IoU 0 with itself but still forms its own cluster
        members = order[overlap]
        w = scores[members].astype(np.float64)
        w_sum = w.sum()
        out_b.append((boxes[members] * w[:, None]).sum(0) / w_sum)
        out_k.append((keypoints[members] * w[:, None, None]).sum(0) / w_sum)
        out_s.append(scores[top])
        order = order[~overlap]
    if not out_s:
        return (
            np.zeros((0, 4), np.float32),
            np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
            np.zeros((0,), np.float32),
        )
    return (
        np.asarray(out_b, np.float32),
        np.asarray(out_k, np.float32),
        np.asarray(out_s, np.float32),
    )


def decode_detections(
    raw_boxes: NDArray[np.float32],
    raw_scores: NDArray[np.float32],
    transform: Letterbox,
    min_score: float = MIN_SCORE,
    iou_threshold: float = NMS_IOU,
) -> list[Detection]:
    """Raw detector outputs of one image -> people in frame pixels, best score first."""
    boxes, keypoints, scores = decode_raw(raw_boxes, raw_scores, min_score)
    boxes, keypoints, scores = weighted_nms(boxes, keypoints, scores, iou_threshold)
    corners = transform.to_frame(boxes.reshape(-1, 2, 2) * INPUT_SIZE).reshape(-1, 4)
    points = transform.to_frame(keypoints * INPUT_SIZE)
    return [
        Detection(
            box=corners[i].astype(np.float32),
            keypoints=points[i].astype(np.float32),
            score=float(scores[i]),
        )
        for i in range(scores.shape[0])
    ]
