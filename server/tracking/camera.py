"""Global camera motion: how far the static background has moved since the first frame.

Real clips are hand-held or filmed by a camera that pans and drifts by tens of pixels within one
lift, which would read as bar and body motion. `CameraMotion.step` tracks corner features of the
background (the lifter and the plate masked out) with pyramidal Lucas-Kanade flow from a
reference frame to the current one and fits a similarity transform (shift, roll, zoom) to them
with RANSAC: a hand-held or panning camera a few metres away moves a side view by such a
transform, and the moving lifter, spectators or parallax of far objects are its outliers.

Tracking against a reference frame rather than the previous frame keeps errors from piling up
(a random walk over hundreds of frames); the reference is renewed when too few of its features
are still tracked (occluded by the lifter, or out of the frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in full-frame pixels

WORK_SIDE = 640  # longer side of the grey image the flow runs on, px
MAX_CORNERS = 150
MIN_TRACKED = 25  # fewer features than this: renew the reference
RENEW_FRACTION = 0.5  # renew when this fraction of the reference's features is lost
INLIER_PX = 1.0  # at work scale: displacements this close to the median agree


IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _compose(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 2x3 transform doing b first, then a."""
    m = np.vstack([a, [0.0, 0.0, 1.0]]) @ np.vstack([b, [0.0, 0.0, 1.0]])
    return np.asarray(m[:2], np.float64)


def offsets_at(transforms: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 2) camera offsets at the (N, 2) image points: q - p where q = A p + b is where the
    background point p of frame 0 appears in frame i (NaN points give NaN)."""
    a, b = transforms[:, :, :2], transforms[:, :, 2]
    # p = A^-1 (q - b), per frame.
    background = np.einsum("nij,nj->ni", np.linalg.inv(a), points - b)
    return np.asarray(points - background, np.float64)


# The grey image the flow runs on and its scale to the frame (see work_image).
WorkImage = tuple[NDArray[np.uint8], float]


def work_image(image: NDArray[np.uint8]) -> WorkImage:
    """The grey image the flow runs on, at most WORK_SIDE px long, and its scale to the frame.
    image: (H, W) grey or (H, W, 3) RGB uint8. Pure: a caller may make it on another thread
    (the offline pass does, on its decoding thread) and hand it to `CameraMotion.step`."""
    h, w = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Area averaging is fast only for an integer factor; otherwise bilinear (a shrink by
        # less than 2x, which the flow's own pyramid smooths) costs a fifth of it.
        whole = (1.0 / scale).is_integer()
        interpolation = cv2.INTER_AREA if whole else cv2.INTER_LINEAR
        grey = cv2.resize(grey, size, interpolation=interpolation)
    return np.ascontiguousarray(grey), scale


class CameraMotion:
    """Step object, one per video. `step(work_image(frame), exclude)` -> (2, 3) similarity
    transform in full-frame pixels: a static point p of frame 0 appears at A p + b in this
    frame."""

    def __init__(self) -> None:
        self._scale = 1.0
        self._ref: NDArray[np.uint8] | None = None
        self._ref_pts: NDArray[np.float32] | None = None
        self._ref_transform = IDENTITY.copy()
        self._transform = IDENTITY.copy()
        self.renewals = 0
        """How often the reference frame was renewed (a diagnostic)."""
        self.unmeasured = 0
        """Frames where too few background features were found: the offset was held."""

    def step(self, work: WorkImage, exclude: Sequence[Box] = ()) -> NDArray[np.float64]:
        """work: the frame's `work_image`. exclude: regions that move on their own, frame px."""
        grey, self._scale = work
        if self._ref is None or self._ref_pts is None:
            self._renew(grey, exclude)
            return self._transform.copy()
        pts, status, _err = cv2.calcOpticalFlowPyrLK(
            self._ref,
            grey,
            self._ref_pts,
            None,
            winSize=(15, 15),
            maxLevel=3,  # type: ignore[call-overload]
        )
        ok = status.ravel() == 1
        kept = 0
        if np.count_nonzero(ok) >= MIN_TRACKED:
            assert pts is not None
            src = self._ref_pts[ok].reshape(-1, 2) / self._scale
            dst = pts[ok].reshape(-1, 2) / self._scale
            moved, inliers = cv2.estimateAffinePartial2D(
                src, dst, method=cv2.RANSAC, ransacReprojThreshold=INLIER_PX / self._scale
            )
            kept = 0 if inliers is None else int(inliers.sum())
            if moved is not None and kept >= max(MIN_TRACKED // 2, 0.3 * len(src)):
                self._transform = _compose(moved.astype(np.float64), self._ref_transform)
            else:
                self.unmeasured += 1
        else:
            self.unmeasured += 1
        if kept < max(MIN_TRACKED, RENEW_FRACTION * len(self._ref_pts)):
            self._renew(grey, exclude)
        return self._transform.copy()

    def _renew(self, grey: NDArray[np.uint8], exclude: Sequence[Box]) -> None:
        mask = np.full(grey.shape, 255, np.uint8)
        s = self._scale
        for x0, y0, x1, y1 in exclude:
            if not all(np.isfinite(v) for v in (x0, y0, x1, y1)):
                continue
            mask[
                max(0, int(y0 * s)) : max(0, int(np.ceil(y1 * s))),
                max(0, int(x0 * s)) : max(0, int(np.ceil(x1 * s))),
            ] = 0
        pts = cv2.goodFeaturesToTrack(
            grey, MAX_CORNERS, qualityLevel=0.01, minDistance=8, mask=mask, blockSize=7
        )
        self._ref = grey
        self._ref_transform = self._transform.copy()
        self._ref_pts = None if pts is None or len(pts) < MIN_TRACKED else pts.astype(np.float32)
        self.renewals += 1


def box_around(points: NDArray[np.floating], margin: float) -> Box | None:
    """The bounding box of finite (K, 2) points grown by `margin` of its size on every side."""
    p = np.asarray(points, np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    if p.shape[0] == 0:
        return None
    (x0, y0), (x1, y1) = p.min(axis=0), p.max(axis=0)
    mx, my = margin * max(x1 - x0, 1.0), margin * max(y1 - y0, 1.0)
    return (x0 - mx, y0 - my, x1 + mx, y1 + my)
