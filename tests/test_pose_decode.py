"""Pose pre/post-processing on made-up arrays: anchors, letterbox, NMS, ROI, warp, decoding."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from server.errors import InvalidInputError
from server.pose.anchors import NUM_ANCHORS, ssd_anchors
from server.pose.detector import (
    Detection,
    Letterbox,
    box_iou,
    decode_detections,
    decode_raw,
    letterbox,
    weighted_nms,
)
from server.pose.landmarks import decode_landmarks, refine_with_heatmap
from server.pose.roi import (
    crop_to_frame,
    frame_to_crop,
    normalize_radians,
    roi_from_keypoints,
    to_unit_float,
    warp_roi,
)
from server.pose.tracker import select_lifter, validate_frame, validate_hint
from server.pose.types import Roi
from tests.pose_model_fixtures import raw_person

# ---- anchors -----------------------------------------------------------------------------------


def test_anchor_count_and_layout() -> None:
    a = ssd_anchors()
    assert a.shape == (NUM_ANCHORS, 2) == (2254, 2)
    assert a.dtype == np.float32
    # stride 8 grid: 28x28 cells, 2 anchors per cell, row-major (x varies fastest)
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 28, 0.5 / 28])
    assert np.allclose(a[2 * 28], [0.5 / 28, 1.5 / 28])
    # stride 16 grid starts after 28*28*2 anchors
    assert np.allclose(a[1568], [0.5 / 14, 0.5 / 14])
    assert np.allclose(a[1567], [27.5 / 28, 27.5 / 28])
    # the three stride-32 layers share one 7x7 map: 6 anchors per cell
    tail = a[1568 + 392 :]
    assert tail.shape == (7 * 7 * 6, 2)
    assert np.allclose(tail[:6], [0.5 / 7, 0.5 / 7]) and np.allclose(tail[6], [1.5 / 7, 0.5 / 7])
    assert np.allclose(tail[-1], [6.5 / 7, 6.5 / 7])
    assert len({tuple(p) for p in a.tolist()}) == 28 * 28 + 14 * 14 + 7 * 7


def test_anchors_are_read_only() -> None:
    with pytest.raises(ValueError):
        ssd_anchors()[0, 0] = 3.0


# ---- letterbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize("h, w", [(360, 480), (1920, 1080), (224, 224), (101, 703)])
def test_letterbox_geometry_and_round_trip(h: int, w: int) -> None:
    frame = np.zeros((h, w, 3), np.uint8)
    # a bright 9x9 square whose centre is at continuous pixel (0.3w, 0.6h)
    cx, cy = int(0.3 * w), int(0.6 * h)
    frame[cy - 4 : cy + 5, cx - 4 : cx + 5] = 255
    image, lb = letterbox(frame)
    assert image.shape == (224, 224, 3) and image.dtype == np.float32
    assert image.min() >= -1.0 and image.max() <= 1.0
    # the long side fills the square; the short side is centred
    s = 224 / max(h, w)
    assert np.allclose(lb.scale, s, rtol=0.02)
    assert abs(lb.offset[0] - (224 - w * lb.scale[0]) / 2) <= 1
    assert abs(lb.offset[1] - (224 - h * lb.scale[1]) / 2) <= 1
    # the blob, located in the letterbox, maps back onto the frame position
    mass = image[:, :, 0] + 1.0
    ys, xs = np.nonzero(mass > 0.05)
    weights = mass[ys, xs]
    found = np.array([(xs + 0.5) @ weights, (ys + 0.5) @ weights]) / weights.sum()
    back = lb.to_frame(found)
    tol = max(1.5 / s, 1.0)  # about one letterbox pixel
    assert np.allclose(back, [cx + 0.5, cy + 0.5], atol=tol)
    pts = np.array([[0.0, 0.0], [w, h], [17.5, 3.25]])
    assert np.allclose(lb.to_frame(lb.to_letterbox(pts)), pts)


def test_letterbox_border_is_black_and_out_is_reused() -> None:
    frame = np.full((100, 200, 3), 255, np.uint8)
    out = np.empty((224, 224, 3), np.float32)
    image, lb = letterbox(frame, out=out)
    assert image is out
    assert lb.offset[1] == 56 and lb.scale[1] == pytest.approx(112 / 100)
    assert np.all(image[:56] == -1.0) and np.all(image[-56:] == -1.0)
    assert np.allclose(image[56:-56], 1.0)


def test_letterbox_rejects_bad_frames() -> None:
    with pytest.raises(InvalidInputError, match="HxWx3"):
        letterbox(np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidInputError, match="HxWx3"):
        letterbox(np.zeros((0, 10, 3), np.uint8))


# ---- detector decoding and NMS -----------------------------------------------------------------


def test_decode_raw_adds_anchor_and_thresholds() -> None:
    raw = np.zeros((NUM_ANCHORS, 12), np.float32)
    logits = np.full((NUM_ANCHORS, 1), -8.0, np.float32)
    raw_person(raw, logits, 100, (60.0, 80.0), 40.0)
    logits[7] = 1e6  # clipped before the sigmoid: no overflow warning, score 1
    boxes, kps, scores = decode_raw(raw, logits)
    assert scores.shape == (2,)
    i = int(np.argmin(np.abs(scores - 1 / (1 + math.exp(-4)))))
    assert np.allclose(boxes[i] * 224, [40, 60, 80, 100], atol=1e-4)
    assert np.allclose(kps[i, 0] * 224, [60, 80], atol=1e-4)
    assert np.allclose(kps[i, 1] * 224, [60, 60], atol=1e-4)
    assert np.isclose(scores[1 - i], 1.0)
    with pytest.raises(InvalidInputError, match="2254"):
        decode_raw(raw[:10], logits)


def test_box_iou() -> None:
    box = np.array([0, 0, 2, 2.0])
    others = np.array([[0, 0, 2, 2.0], [1, 0, 3, 2], [5, 5, 6, 6], [1, 1, 1, 1]])
    assert np.allclose(box_iou(box, others), [1.0, 2 / 6, 0.0, 0.0])


def test_weighted_nms_merges_overlaps_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 30]], np.float32)
    kps = np.repeat(boxes[:, None, :2], 4, axis=1).copy()
    scores = np.array([0.9, 0.6, 0.7, 0.8], np.float32)
    out_b, out_k, out_s = weighted_nms(boxes, kps, scores, 0.3)
    # box 3 overlaps box 0 by IoU 1/3 > 0.3, box 1 by 9/11 * ... -> see the expected clusters
    iou_03 = box_iou(boxes[0], boxes[3:4])[0]
    assert iou_03 == pytest.approx(1 / 3)
    assert out_s.tolist() == pytest.approx([0.9, 0.7])
    w = np.array([0.9, 0.6, 0.8])
    expect = (boxes[[0, 1, 3]] * w[:, None]).sum(0) / w.sum()
    assert np.allclose(out_b[0], expect)
    assert np.allclose(out_k[0, 0], expect[:2])
    assert np.allclose(out_b[1], boxes[2])


def test_weighted_nms_keeps_separate_people_and_handles_empty() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    kps = np.zeros((2, 4, 2), np.float32)
    out_b, _, out_s = weighted_nms(boxes, kps, np.array([0.6, 0.9], np.float32))
    assert out_s.tolist() == pytest.approx([0.9, 0.6])
    assert np.allclose(out_b, boxes[::-1])
    empty = weighted_nms(
        np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    )
    assert [e.shape for e in empty] == [(0, 4), (0, 4, 2), (0,)]


def test_decode_detections_undoes_letterbox() -> None:
    # frame 640x480 -> scale 0.35, letterbox offset y = (224 - 168) / 2 = 28
    lb = Letterbox(scale=np.array([0.35, 0.35]), offset=np.array([0.0, 28.0]))
    raw = np.zeros((NUM_ANCHORS, 12), np.float32)
    logits = np.full((NUM_ANCHORS, 1), -8.0, np.float32)
    raw_person(raw, logits, 500, (70.0, 98.0), 35.0)
    # a second, weaker candidate at a neighbouring anchor for the same person: merged by NMS
    raw_person(raw, logits, 501, (71.0, 98.0), 35.0)
    logits[501] = 0.5
    dets = decode_detections(raw, logits, lb)
    assert len(dets) == 1
    d = dets[0]
    s4, s5 = 1 / (1 + math.exp(-4)), 1 / (1 + math.exp(-0.5))
    cx = (70 * s4 + 71 * s5) / (s4 + s5)
    assert np.allclose(d.center, [cx / 0.35, (98 - 28) / 0.35], atol=1e-3)
    assert d.box[2] - d.box[0] == pytest.approx(35 / 0.35, rel=1e-4)
    assert np.allclose(d.keypoints[1], [cx / 0.35, (98 - 17.5 - 28) / 0.35], atol=1e-3)
    assert d.score == pytest.approx(s4)


# ---- ROI rule and warp -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scale_point, rotation",
    [
        ((100, 100), 0.0),
        ((200, 200), math.pi / 2),
        ((0, 200), -math.pi / 2),
        ((100, 300), -math.pi),
        ((200, 100), math.pi / 4),
    ],
)
def test_roi_rule(scale_point: tuple[float, float], rotation: float) -> None:
    roi = roi_from_keypoints(np.array([100.0, 200.0]), np.array(scale_point, float))
    dist = math.hypot(scale_point[0] - 100, scale_point[1] - 200)
    assert roi.size == pytest.approx(2 * dist * 1.25)
    assert roi.rotation == pytest.approx(rotation)
    assert np.allclose(roi.center, [100, 200])


def test_roi_rejects_degenerate_points() -> None:
    with pytest.raises(InvalidInputError, match="degenerate"):
        roi_from_keypoints(np.array([5.0, 5.0]), np.array([5.0, 5.0]))
    with pytest.raises(InvalidInputError, match="degenerate"):
        roi_from_keypoints(np.array([np.nan, 5.0]), np.array([5.0, 9.0]))


def test_normalize_radians_range() -> None:
    for a in np.linspace(-10, 10, 41):
        n = normalize_radians(float(a))
        assert -math.pi <= n < math.pi
        assert math.isclose(math.cos(n), math.cos(a), abs_tol=1e-9)
        assert math.isclose(math.sin(n), math.sin(a), abs_tol=1e-9)


def _dot_frame(h: int, w: int, points: list[tuple[int, int]]) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    for x, y in points:
        cv2.circle(frame, (x, y), 3, (255, 255, 255), -1)
    return frame


def _centroid(img: np.ndarray, window: tuple[slice, slice] | None = None) -> np.ndarray:
    m = img[..., 0].astype(np.float64)
    mask = np.zeros_like(m)
    if window is None:
        mask[:] = 1
    else:
        mask[window] = 1
    m = m * mask
    ys, xs = np.nonzero(m > 20)
    wts = m[ys, xs]
    return np.array([(xs + 0.5) @ wts, (ys + 0.5) @ wts]) / wts.sum()


def test_warp_puts_scale_point_straight_up() -> None:
    # a person lying with the head (scale point) to the right of the hips: the crop is upright
    # a dot drawn at pixel index (380, 200) has its continuous centre at (380.5, 200.5)
    frame = _dot_frame(400, 600, [(380, 200)])
    roi = roi_from_keypoints(np.array([300.5, 200.5]), np.array([380.5, 200.5]))
    crop = warp_roi(frame, roi)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
    # distance |d| = size / 2.5 -> 256 / 2.5 crop pixels above the centre
    assert np.allclose(_centroid(crop), [128, 128 - 256 / 2.5], atol=0.1)


def test_warp_and_inverse_round_trip() -> None:
    roi = Roi(center=np.array([310.0, 240.0], np.float32), size=260.0, rotation=0.7)
    crop_pts = np.array([[60, 70], [200, 90], [128, 220]], float)
    frame_pts = crop_to_frame(crop_pts, roi)
    assert np.allclose(frame_to_crop(frame_pts, roi), crop_pts)
    frame = _dot_frame(480, 640, [tuple(np.round(p).astype(int)) for p in frame_pts])
    out = np.empty((256, 256, 3), np.uint8)
    crop = warp_roi(frame, roi, out=out)
    assert crop is out
    for cp, fp in zip(crop_pts, frame_pts, strict=True):
        expect = frame_to_crop(np.round(fp) + 0.5, roi)
        win = (slice(int(cp[1]) - 12, int(cp[1]) + 12), slice(int(cp[0]) - 12, int(cp[0]) + 12))
        assert np.allclose(_centroid(crop, win), expect, atol=0.15)
    # the unit-float conversion keeps values and writes into the given buffer
    buf = np.empty((256, 256, 3), np.float32)
    unit = to_unit_float(crop, out=buf)
    assert unit is buf and unit.max() <= 1.0 and np.allclose(unit * 255, crop)


def test_warp_border_replicates() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[:, -1] = 200  # right-most column bright
    roi = Roi(center=np.array([95.0, 50.0], np.float32), size=100.0, rotation=0.0)
    crop = warp_roi(frame, roi)
    assert crop[128, 250, 0] == 200  # far outside the frame on the right: the edge repeats


# ---- landmark decoding -------------------------------------------------------------------------


def _raw_from_frame_points(points: np.ndarray, roi: Roi) -> np.ndarray:
    raw = np.zeros((39, 5), np.float32)
    raw[:, :2] = frame_to_crop(points, roi)
    raw[:, 2] = np.linspace(-50, 50, 39)
    raw[:, 3] = np.linspace(-3, 3, 39)
    return raw.reshape(-1)


def test_back_projection_round_trip() -> None:
    rng = np.random.default_rng(7)
    roi = Roi(center=np.array([400.0, 300.0], np.float32), size=320.0, rotation=-0.4)
    pts = rng.uniform([250, 150], [550, 450], size=(39, 2))
    pts[33], pts[34] = [410.0, 320.0], [420.0, 200.0]
    world = rng.normal(size=(39, 3)).astype(np.float32)
    dec = decode_landmarks(_raw_from_frame_points(pts, roi), 0.9, world.reshape(-1), roi)
    pose = dec.pose
    assert np.allclose(pose.keypoints, pts[:33], atol=1e-3)
    assert pose.presence == pytest.approx(0.9)
    assert np.allclose(pose.visibility, 1 / (1 + np.exp(-np.linspace(-3, 3, 39)[:33])), atol=1e-6)
    assert np.allclose(pose.depth, np.linspace(-50, 50, 39)[:33] * 320 / 256, atol=1e-4)
    # world x, y turn with the ROI; lengths and z are kept
    c, s = math.cos(-0.4), math.sin(-0.4)
    assert np.allclose(pose.world[:, 0], c * world[:33, 0] - s * world[:33, 1], atol=1e-6)
    assert np.allclose(pose.world[:, 1], s * world[:33, 0] + c * world[:33, 1], atol=1e-6)
    assert np.allclose(pose.world[:, 2], world[:33, 2])
    expect = roi_from_keypoints(pts[33], pts[34])
    assert dec.next_roi is not None
    assert np.allclose(dec.next_roi.center, expect.center, atol=1e-3)
    assert dec.next_roi.size == pytest.approx(expect.size, rel=1e-5)
    assert dec.next_roi.rotation == pytest.approx(expect.rotation, abs=1e-5)
    assert pose.roi is roi


def test_decode_landmarks_degenerate_aux_gives_no_next_roi() -> None:
    roi = Roi(center=np.array([100.0, 100.0], np.float32), size=200.0, rotation=0.0)
    pts = np.full((39, 2), 100.0)
    dec = decode_landmarks(_raw_from_frame_points(pts, roi), 0.8, np.zeros(117, np.float32), roi)
    assert dec.next_roi is None
    with pytest.raises(InvalidInputError, match="195"):
        decode_landmarks(np.zeros(190, np.float32), 0.8, np.zeros(117, np.float32), roi)


def _heatmap(cells: dict[int, list[tuple[int, int]]]) -> np.ndarray:
    hm = np.full((64, 64, 39), -12.0, np.float32)
    for ch, cs in cells.items():
        for r, c in cs:
            hm[r, c, ch] = 12.0
    return hm


def test_heatmap_refinement_moves_to_the_weighted_centre() -> None:
    xy = np.full((39, 2), 0.5, np.float32)
    xy[0] = [21.2 / 64, 40.9 / 64]  # lands in cell (row 40, col 21)
    xy[1] = [10.0 / 64, 10.0 / 64]  # confident peak outside its 7x7 window: nothing to refine
    xy[2] = [0.5 / 64, 63.5 / 64]  # corner: window clipped to the map
    xy[3] = [1.2, 0.5]  # outside the heatmap: kept
    hm = _heatmap({0: [(40, 20), (40, 21)], 1: [(30, 30)], 2: [(63, 0), (62, 1)], 3: [(32, 63)]})
    out = refine_with_heatmap(xy, hm)
    assert np.allclose(out[0], [20.5 / 64, 40 / 64], atol=1e-4)
    assert np.allclose(out[1], xy[1])
    assert np.allclose(out[2], [0.5 / 64, 62.5 / 64], atol=1e-4)
    assert np.allclose(out[3], xy[3])
    assert np.allclose(out[4:], xy[4:])  # channels with no confident cell are untouched


def test_heatmap_refinement_through_decode() -> None:
    roi = Roi(center=np.array([128.0, 128.0], np.float32), size=256.0, rotation=0.0)
    pts = np.full((39, 2), 128.0)
    pts[5] = [83.0, 171.0]  # crop px = frame px for this ROI: heatmap cell (42, 20)
    hm = _heatmap({5: [(42, 20)]})
    dec = decode_landmarks(
        _raw_from_frame_points(pts, roi), 0.9, np.zeros(117, np.float32), roi, hm
    )
    assert np.allclose(dec.pose.keypoints[5], [20 * 4, 42 * 4], atol=1e-3)
    assert np.allclose(dec.pose.keypoints[6], [128, 128], atol=1e-3)


# ---- lifter choice and input validation ----------------------------------------------------------


def _det(box: tuple[float, float, float, float]) -> Detection:
    b = np.array(box, np.float32)
    kp = np.tile(((b[:2] + b[2:]) / 2), (4, 1)).astype(np.float32)
    return Detection(box=b, keypoints=kp, score=0.9)


def test_select_lifter_prefers_the_bar_then_size_and_centre() -> None:
    big_edge = _det((0, 100, 200, 480))  # large bystander at the left edge
    lifter = _det((260, 120, 420, 460))  # central
    small = _det((500, 300, 560, 420))
    frame = (640, 480)
    assert select_lifter([big_edge, lifter, small], frame) is lifter
    assert select_lifter([big_edge, small], frame) is big_edge
    hint = validate_hint((530.0, 350.0))
    assert select_lifter([big_edge, lifter, small], frame, hint) is small
    near_lifter = validate_hint((440.0, 300.0))  # just outside the lifter's box
    assert select_lifter([big_edge, lifter, small], frame, near_lifter) is lifter
    with pytest.raises(InvalidInputError):
        select_lifter([], frame)


@pytest.mark.parametrize(
    "frame, match",
    [
        ("not an image", "numpy array"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10), np.uint8), "HxWx3"),
        (np.zeros((10, 10, 4), np.uint8), "HxWx3"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
    ],
)
def test_validate_frame_rejects(frame: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        validate_frame(frame)


def test_validate_hint() -> None:
    assert validate_hint(None) is None
    assert np.allclose(validate_hint([3, 4]), [3, 4])  # type: ignore[arg-type]
    for bad in ([1, 2, 3], [np.nan, 1], "xy"):
        with pytest.raises(InvalidInputError, match="bar_hint"):
            validate_hint(bad)
