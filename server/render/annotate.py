"""Drawing the analysis onto a frame: skeleton, bar path by phase, plate, live readout, legend.

Everything is cv2 drawing on the frame's own pixels (no per-frame full-size temporaries), sized from
the frame so the same overlay reads at 480p and at 1080p. Coordinates are pixels of the frame drawn
on, x right and y down, like PoseFrame and BarSample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.phases.types import JERK_PHASES, PULL_PHASES
from server.pose import types as kp
from server.pose.types import PoseFrame

Colour = tuple[int, int, int]

# Every phase name in lift order; a bar path point's phase is an index into this tuple.
ALL_PHASES: tuple[str, ...] = PULL_PHASES + JERK_PHASES

# RGB, one fixed colour per phase, neighbours in time far apart in hue.
PHASE_COLOURS: dict[str, Colour] = {
    "setup": (160, 160, 160),
    "first_pull": (60, 130, 245),
    "transition": (0, 200, 210),
    "second_pull": (50, 200, 60),
    "turnover": (240, 200, 0),
    "catch": (255, 120, 0),
    "recovery": (170, 80, 230),
    "jerk_dip": (255, 100, 180),
    "jerk_drive": (225, 30, 30),
    "jerk_catch": (150, 95, 40),
    "jerk_recovery": (0, 130, 110),
}
NO_PHASE_COLOUR: Colour = (200, 200, 200)
SKELETON_COLOUR: Colour = (255, 255, 255)
JOINT_COLOUR: Colour = (255, 255, 255)
PLATE_COLOUR: Colour = (255, 0, 255)
TEXT_COLOUR: Colour = (255, 255, 255)

# BlazePose body connections (the face is left out: it says nothing about a lift).
SKELETON: tuple[tuple[int, int], ...] = (
    (kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER),
    (kp.LEFT_HIP, kp.RIGHT_HIP),
    (kp.LEFT_SHOULDER, kp.LEFT_HIP),
    (kp.RIGHT_SHOULDER, kp.RIGHT_HIP),
    (kp.LEFT_SHOULDER, kp.LEFT_ELBOW),
    (kp.LEFT_ELBOW, kp.LEFT_WRIST),
    (kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW),
    (kp.RIGHT_ELBOW, kp.RIGHT_WRIST),
    (kp.LEFT_HIP, kp.LEFT_KNEE),
    (kp.LEFT_KNEE, kp.LEFT_ANKLE),
    (kp.RIGHT_HIP, kp.RIGHT_KNEE),
    (kp.RIGHT_KNEE, kp.RIGHT_ANKLE),
    (kp.LEFT_ANKLE, kp.LEFT_HEEL),
    (kp.LEFT_HEEL, kp.LEFT_FOOT_INDEX),
    (kp.LEFT_ANKLE, kp.LEFT_FOOT_INDEX),
    (kp.RIGHT_ANKLE, kp.RIGHT_HEEL),
    (kp.RIGHT_HEEL, kp.RIGHT_FOOT_INDEX),
    (kp.RIGHT_ANKLE, kp.RIGHT_FOOT_INDEX),
)
SKELETON_POINTS: tuple[int, ...] = tuple(sorted({i for pair in SKELETON for i in pair}))

FONT = cv2.FONT_HERSHEY_SIMPLEX
M_PER_FT = 0.3048


def phase_index(name: str) -> int:
    """Index of a phase name in ALL_PHASES (the code stored per bar path point)."""
    try:
        return ALL_PHASES.index(name)
    except ValueError:
        raise InvalidInputError(f"unknown phase {name!r}; expected one of {ALL_PHASES}") from None


def phase_label(name: str) -> str:
    """Human label of a phase name: 'second_pull' -> 'Second pull'."""
    return name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Overlay:
    """What to draw on one frame; every field is optional.

    pose: the lifter's pose (points below min_visibility are not drawn).
    bar_path: (N, 2) float pixels, the bar centre in every frame so far (NaN rows where unknown).
    bar_phase: (N,) int, phase_index() of the phase at each bar_path point, -1 for none.
    plate_center: (2,) float pixels and plate_radius pixels: the tracked plate in this frame.
    velocity_mps: vertical bar velocity, m/s (up positive), shown in the chosen units.
    phase: the current phase name. legend: phase names listed in the legend (empty: no legend).
    """

    pose: PoseFrame | None = None
    bar_path: NDArray[np.float64] | None = None
    bar_phase: NDArray[np.int16] | None = None
    plate_center: NDArray[np.float64] | None = None
    plate_radius: float | None = None
    velocity_mps: float | None = None
    units: Literal["metric", "imperial"] = "metric"
    phase: str | None = None
    legend: tuple[str, ...] = PULL_PHASES
    min_visibility: float = 0.5

    def __post_init__(self) -> None:
        if self.bar_path is not None:
            if self.bar_path.ndim != 2 or self.bar_path.shape[1] != 2:
                raise InvalidInputError(f"bar_path must be (N, 2), got {self.bar_path.shape}")
            if self.bar_phase is not None and self.bar_phase.shape != (len(self.bar_path),):
                raise InvalidInputError(
                    f"bar_phase must be ({len(self.bar_path)},), got {self.bar_phase.shape}"
                )
        if self.units not in ("metric", "imperial"):
            raise InvalidInputError(f"units must be 'metric' or 'imperial', got {self.units!r}")
        for name in (self.phase, *self.legend):
            if name is not None and name not in PHASE_COLOURS:
                raise InvalidInputError(f"unknown phase {name!r}; expected one of {ALL_PHASES}")


@dataclass(frozen=True)
class _Style:
    """Sizes for one frame size: 1.0 at a 720-pixel short side."""

    scale: float
    line: int
    joint: int
    path: int
    font: float
    text: int
    pad: int

    @classmethod
    def for_frame(cls, height: int, width: int) -> _Style:
        s = min(height, width) / 720.0
        return cls(
            scale=s,
            # At least 2 px: a 1-px coloured line loses its colour to yuv420 chroma subsampling.
            line=max(2, round(3 * s)),
            joint=max(2, round(5 * s)),
            path=max(2, round(4 * s)),
            # Text shrinks less than lines: below ~0.4 Hershey glyphs stop being readable.
            font=max(0.4, 0.8 * s),
            text=max(1, round(2 * s)),
            pad=max(3, round(8 * s)),
        )


def _point(xy: NDArray[np.floating]) -> tuple[int, int]:
    return round(float(xy[0])), round(float(xy[1]))


def _draw_pose(img: NDArray[np.uint8], pose: PoseFrame, min_vis: float, st: _Style) -> None:
    seen = (pose.visibility >= min_vis) & np.isfinite(pose.keypoints).all(axis=1)
    for a, b in SKELETON:
        if seen[a] and seen[b]:
            pa, pb = _point(pose.keypoints[a]), _point(pose.keypoints[b])
            cv2.line(img, pa, pb, SKELETON_COLOUR, st.line, cv2.LINE_AA)
    for i in SKELETON_POINTS:
        if seen[i]:
            centre = _point(pose.keypoints[i])
            cv2.circle(img, centre, st.joint, JOINT_COLOUR, -1, cv2.LINE_AA)
            cv2.circle(img, centre, st.joint, (0, 0, 0), max(1, st.line // 2), cv2.LINE_AA)


def _draw_bar_path(
    img: NDArray[np.uint8], path: NDArray[np.float64], phases: NDArray[np.int16] | None, st: _Style
) -> None:
    """One polyline per run of points with the same phase; NaN points break the line."""
    if len(path) < 2:
        return
    codes = np.full(len(path), -1, dtype=np.int64) if phases is None else phases.astype(np.int64)
    valid = np.asarray(np.isfinite(path).all(axis=1), dtype=bool)
    # A segment i-1 -> i takes the colour of point i; a run breaks where the phase or validity does.
    seg_ok = valid[1:] & valid[:-1]
    seg_code = codes[1:]
    starts = np.flatnonzero(
        np.r_[True, (seg_code[1:] != seg_code[:-1]) | (seg_ok[1:] != seg_ok[:-1])]
    )
    ends = np.r_[starts[1:], len(seg_ok)]
    pixels = np.round(path).astype(np.int32, copy=False) if valid.all() else None
    by_colour: dict[Colour, list[NDArray[np.int32]]] = {}
    for s, e in zip(starts, ends, strict=True):
        if not seg_ok[s]:
            continue
        pts = (
            pixels[s : e + 1] if pixels is not None else np.round(path[s : e + 1]).astype(np.int32)
        )
        code = int(seg_code[s])
        colour = PHASE_COLOURS[ALL_PHASES[code]] if 0 <= code < len(ALL_PHASES) else NO_PHASE_COLOUR
        by_colour.setdefault(colour, []).append(pts.reshape(-1, 1, 2))
    for colour, runs in by_colour.items():
        cv2.polylines(img, runs, False, colour, st.path, cv2.LINE_AA)


def _darken(img: NDArray[np.uint8], x0: int, y0: int, x1: int, y1: int) -> None:
    """Halve the brightness of a box (a cheap translucent backing for text)."""
    h, w = img.shape[:2]
    roi = img[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    np.right_shift(roi, 1, out=roi)


def _text_lines(
    img: NDArray[np.uint8],
    lines: list[tuple[str, Colour | None]],
    st: _Style,
    *,
    right: bool,
) -> None:
    """A box of text lines in the top-left (or top-right) corner, each with an optional swatch."""
    sizes = [cv2.getTextSize(text, FONT, st.font, st.text) for text, _ in lines]
    line_h = max(size[0][1] + size[1] for size in sizes) + st.pad
    swatch = line_h - st.pad
    has_swatch = any(colour is not None for _, colour in lines)
    box_w = max(size[0][0] for size in sizes) + 2 * st.pad + (swatch + st.pad if has_swatch else 0)
    box_h = line_h * len(lines) + st.pad
    x0 = img.shape[1] - box_w - st.pad if right else st.pad
    y0 = st.pad
    _darken(img, x0, y0, x0 + box_w, y0 + box_h)
    for row, (text, colour) in enumerate(lines):
        top = y0 + st.pad + row * line_h
        x = x0 + st.pad
        if colour is not None:
            cv2.rectangle(img, (x, top), (x + swatch, top + swatch), colour, -1)
        if has_swatch:
            x += swatch + st.pad
        baseline_y = top + swatch - max(1, sizes[row][1] // 2)
        cv2.putText(img, text, (x, baseline_y), FONT, st.font, TEXT_COLOUR, st.text, cv2.LINE_AA)


def velocity_text(velocity_mps: float, units: Literal["metric", "imperial"]) -> str:
    """'+1.52 m/s' or '+4.99 ft/s' (vertical, up positive)."""
    if units == "imperial":
        return f"{velocity_mps / M_PER_FT:+.2f} ft/s"
    return f"{velocity_mps:+.2f} m/s"


def annotate(
    frame_rgb: NDArray[np.uint8], overlay: Overlay, *, inplace: bool = False
) -> NDArray[np.uint8]:
    """The frame (H, W, 3) uint8 RGB with the overlay drawn; a copy unless inplace=True."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
        raise InvalidInputError(
            f"frame must be (H, W, 3) uint8, got {frame_rgb.shape} {frame_rgb.dtype}"
        )
    img = frame_rgb if inplace else frame_rgb.copy()
    st = _Style.for_frame(img.shape[0], img.shape[1])
    if overlay.pose is not None:
        _draw_pose(img, overlay.pose, overlay.min_visibility, st)
    if overlay.bar_path is not None:
        _draw_bar_path(img, overlay.bar_path, overlay.bar_phase, st)
    if overlay.plate_center is not None and np.isfinite(overlay.plate_center).all():
        centre = _point(overlay.plate_center)
        if overlay.plate_radius is not None and overlay.plate_radius > 0:
            cv2.circle(img, centre, round(overlay.plate_radius), PLATE_COLOUR, st.line, cv2.LINE_AA)
        cv2.circle(img, centre, st.joint, PLATE_COLOUR, -1, cv2.LINE_AA)
    readout: list[tuple[str, Colour | None]] = []
    if overlay.phase is not None:
        readout.append((phase_label(overlay.phase), PHASE_COLOURS[overlay.phase]))
    if overlay.velocity_mps is not None and np.isfinite(overlay.velocity_mps):
        readout.append((f"v {velocity_text(overlay.velocity_mps, overlay.units)}", None))
    if readout:
        _text_lines(img, readout, st, right=False)
    if overlay.legend:
        _text_lines(
            img, [(phase_label(p), PHASE_COLOURS[p]) for p in overlay.legend], st, right=True
        )
    return img
