"""Drawing for the synthetic clips: a cluttered gym background and a textured bumper plate.

Everything is RGB. Sub-pixel positions follow OpenCV's convention: the centre of pixel (row i,
column j) is the point (x=j, y=i), so a disc drawn at (cx, cy) has its true centre exactly there.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

FloatImage = NDArray[np.float32]

_WORDS = (
    "SQUAT",
    "CHALK",
    "PR",
    "LIFT",
    "GYM 24/7",
    "NO DROPS",
    "120 KG",
    "WOD",
    "CLEAN",
    "RACK 3",
    "SNATCH",
    "PULL",
)
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)


def plate_texture(radius: float, color: tuple[int, int, int], seed: int) -> FloatImage:
    """The face of a bumper plate seen side-on, in plate-local coordinates.

    Returns (S, S, 3) float32 RGB in [0, 255] with the plate centre at ((S-1)/2, (S-1)/2) and
    radius `radius` px. Radial layout (fractions of the radius): sleeve end 0-0.11 (light steel with
    a dark tube edge), hub insert 0.11-0.2, coloured face with a white logo 0.2-0.88, a slightly
    darker rim lip 0.88-1. Outside the radius the rim colour continues so that bilinear sampling at
    the edge never mixes in black; the outline itself comes from the caller's analytic alpha.
    """
    size = 2 * math.ceil(radius) + 7
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    rho = np.hypot(xx - c, yy - c) / np.float32(radius)
    face = np.asarray(color, np.float32)
    tex = np.empty((size, size, 3), np.float32)
    tex[:] = face
    # A faint radial shading and mottling so the face is not a flat colour.
    rng = np.random.default_rng(seed)
    mottle = cv2.GaussianBlur(rng.normal(0.0, 6.0, (size, size)).astype(np.float32), (0, 0), 2.0)
    tex *= (1.0 - 0.08 * rho)[..., None]
    tex += mottle[..., None]
    logo = np.zeros((size, size), np.uint8)
    scale = radius / 60.0
    thick = max(1, round(2 * scale))
    cv2.putText(
        logo,
        "20",
        (round(c - 0.62 * radius), round(c - 0.25 * radius)),
        _FONTS[1],
        1.3 * scale,
        255,
        thick,
    )
    cv2.putText(
        logo,
        "KG",
        (round(c + 0.2 * radius), round(c + 0.55 * radius)),
        _FONTS[0],
        1.0 * scale,
        255,
        thick,
    )
    cv2.ellipse(logo, (round(c), round(c)), (round(0.7 * radius),) * 2, 0, 200, 320, 255, thick)
    cv2.putText(
        logo,
        "LIFTSTREAM",
        (round(c - 0.55 * radius), round(c + 0.15 * radius)),
        _FONTS[0],
        0.45 * scale,
        255,
        max(1, thick // 2),
    )
    keep = (rho > 0.24) & (rho < 0.84)
    tex[(logo > 0) & keep] = (235.0, 235.0, 230.0)
    tex[rho >= 0.88] = face * 0.78
    tex[rho < 0.2] = (150.0, 152.0, 160.0)
    tex[rho < 0.115] = (60.0, 60.0, 65.0)
    tex[rho < 0.095] = (205.0, 205.0, 210.0)
    np.clip(tex, 0.0, 255.0, out=tex)
    return tex


def composite_disc(
    window: FloatImage, texture: FloatImage, cx: float, cy: float, radius: float, angle: float
) -> None:
    """Paint the plate texture, rotated by `angle` radians, at (cx, cy) in window pixels, in place.

    The coverage is analytic (clip(radius + 0.5 - distance, 0, 1)), so the rim's 50 % crossing
    lies exactly on the true circle whatever the sub-pixel position.
    """
    h, w = window.shape[:2]
    c = (texture.shape[0] - 1) / 2.0
    co, si = math.cos(angle), math.sin(angle)
    # Affine map texture -> window: rotate about the texture centre, then move it to (cx, cy).
    m = np.array([[co, -si, cx - co * c + si * c], [si, co, cy - si * c - co * c]], np.float64)
    warped = cv2.warpAffine(
        texture, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    dx2 = np.square(np.arange(w, dtype=np.float32) - np.float32(cx))[None, :]
    dy2 = np.square(np.arange(h, dtype=np.float32) - np.float32(cy))[:, None]
    alpha = np.clip(np.float32(radius + 0.5) - np.sqrt(dx2 + dy2), 0.0, 1.0)
    window += alpha[..., None] * (warped - window)


def make_background(
    width: int, height: int, floor_y: float, plate_radius: float, n_items: int, seed: int
) -> NDArray[np.uint8]:
    """A cluttered gym scene: wall gradient, floor, boxes, lines, text and small non-plate circles.

    Returns (height, width, 3) uint8 RGB. Clutter circles are at most 0.6 plate radii so that they
    test the detector's radius gating without being a second plate.
    """
    rng = np.random.default_rng(seed)
    top, bottom = rng.uniform(90, 220, 3), rng.uniform(60, 180, 3)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = (top * (1 - ramp) + bottom * ramp).astype(np.float32) * np.ones((1, width, 1), np.float32)
    fy = round(floor_y)
    img[fy:] = rng.uniform(40, 110, 3) * np.linspace(0.8, 1.1, max(height - fy, 1))[:, None, None]
    # Horizontal light gradient, as from a window on one side.
    img *= np.linspace(0.85, 1.1, width, dtype=np.float32)[None, :, None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    for y in range(fy, height, max(8, (height - fy) // 4)):
        cv2.line(out, (0, y), (width, y), _color(rng, 0.6), 2)
    for _ in range(n_items):
        kind = rng.integers(0, 5)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        col = _color(rng)
        if kind == 0:
            w, h = (int(v) for v in rng.integers(15, 220, 2))
            cv2.rectangle(out, (x, y), (x + w, y + h), col, -1 if rng.random() < 0.6 else 3)
        elif kind == 1:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(out, (x, y), (x2, y2), col, int(rng.integers(1, 6)), cv2.LINE_AA)
        elif kind == 2:
            word = _WORDS[int(rng.integers(0, len(_WORDS)))]
            font = _FONTS[int(rng.integers(0, len(_FONTS)))]
            cv2.putText(
                out,
                word,
                (x, y),
                font,
                float(rng.uniform(0.6, 2.5)),
                col,
                int(rng.integers(1, 5)),
                cv2.LINE_AA,
            )
        elif kind == 3:
            r = int(rng.uniform(0.12, 0.6) * plate_radius)
            cv2.circle(out, (x, y), max(r, 3), col, -1 if rng.random() < 0.5 else 3, cv2.LINE_AA)
        else:
            pts = rng.integers(-90, 90, (3, 2)) + np.array([x, y])
            cv2.fillConvexPoly(out, pts.astype(np.int32), col, cv2.LINE_AA)
    return np.asarray(cv2.GaussianBlur(out, (3, 3), 0.8), np.uint8)


def _color(rng: np.random.Generator, scale: float = 1.0) -> tuple[int, int, int]:
    r, g, b = (int(v * scale) for v in rng.integers(10, 246, 3))
    return (r, g, b)
