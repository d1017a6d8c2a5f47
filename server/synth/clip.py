"""Render a synthetic side-view lift clip with exact ground truth.

A textured bumper plate of known real diameter moves along a trajectory (metres: x forward = image
right, y = bar centre height above the floor) over a cluttered background. Options add the things
that break trackers on real clips: motion blur (the plate is integrated over the exposure), sensor
noise, JPEG or H.264 compression, a lighting change, camera shake with a known per-frame offset, a
moving bar occluding part of the plate, and a second plate in the background.

Image coordinates are pixels, x right, y down, pixel centres at integer coordinates.
`ClipTruth.center_px` is where the plate centre appears in the image (camera shake included);
`center_px - camera_offset_px` is its position against the static background.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.synth.scenery import composite_disc, make_background, plate_texture

Vec = NDArray[np.float64]


class Trajectory(Protocol):
    """What the renderer needs from a trajectory (server/synth/trajectory.py provides one)."""

    @property
    def duration(self) -> float: ...

    def position(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N,) seconds -> (N, 2) metres: x forward, y bar-centre height above the floor."""
        ...


@dataclass(frozen=True)
class RenderOptions:
    """How a clip is rendered. All perturbations are off by default; `seed` fixes everything.

    motion_blur: exposure as a fraction of the frame interval (0 = instantaneous, 1 = open shutter),
    integrated with `blur_samples` sub-frame positions. noise_sigma: Gaussian sensor noise, 8-bit
    levels. jpeg_quality: JPEG-compress every frame (1-100), None = off. crf: H.264 quality of the
    MP4 written by render_clip (lower = better). lighting: relative amplitude of a slow global
    brightness change (0.3 = +-30 %). shake_px: amplitude of the camera shake, pixels. occlusion: a
    vertical bar in front of the plate that sweeps across its face. second_plate: another plate
    (0.85 of the size) behind the lifter, "static" or "moving" (up and down, like another lifter).
    spin_dps: plate rotation, degrees per second. clutter: number of background items.
    """

    seed: int = 0
    plate_diameter_m: float = 0.45
    plate_color: tuple[int, int, int] = (40, 150, 70)
    motion_blur: float = 0.0
    blur_samples: int = 8
    noise_sigma: float = 0.0
    jpeg_quality: int | None = None
    crf: int = 18
    lighting: float = 0.0
    shake_px: float = 0.0
    occlusion: bool = False
    second_plate: Literal["none", "static", "moving"] = "none"
    spin_dps: float = 0.0
    clutter: int = 60

    def __post_init__(self) -> None:
        checks = {
            "plate_diameter_m": 0.05 <= self.plate_diameter_m <= 1.0,
            "motion_blur": 0.0 <= self.motion_blur <= 1.0,
            "blur_samples": 1 <= self.blur_samples <= 64,
            "noise_sigma": 0.0 <= self.noise_sigma <= 60.0,
            "jpeg_quality": self.jpeg_quality is None or 1 <= self.jpeg_quality <= 100,
            "crf": 0 <= self.crf <= 51,
            "lighting": 0.0 <= self.lighting < 1.0,
            "shake_px": 0.0 <= self.shake_px <= 200.0,
            "second_plate": self.second_plate in ("none", "static", "moving"),
            "clutter": 0 <= self.clutter <= 1000,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInputError(
                    f"RenderOptions.{name} out of range: {getattr(self, name)!r}"
                )


@dataclass(frozen=True)
class ClipTruth:
    """Exact ground truth of a rendered clip.

    t: (N,) seconds, frame presentation times. center_px: (N, 2) plate centre in the image (x right,
    y down, camera shake included). radius_px: plate outer radius. camera_offset_px: (N, 2) apparent
    displacement of the static background relative to frame 0 (a static point p appears at
    p + offset). px_per_m: scale at the plate's depth. floor_y_px: image row of the floor (height 0)
    without shake. origin_x_px: image column of trajectory x = 0 without shake. second_center_px:
    (N, 2) the background plate's centre in the image, None when there is none.
    """

    t: Vec
    center_px: Vec
    radius_px: float
    camera_offset_px: Vec
    px_per_m: float
    floor_y_px: float
    origin_x_px: float
    fps: float
    size: tuple[int, int]
    second_center_px: Vec | None = None
    second_radius_px: float = 0.0

    @property
    def stable_center_px(self) -> Vec:
        """(N, 2) plate centre against the static background (camera offset removed)."""
        return self.center_px - self.camera_offset_px

    @property
    def position_m(self) -> Vec:
        """(N, 2) metres: x forward, y height above the floor, recovered from the pixels."""
        s = self.stable_center_px
        return (
            np.stack([(s[:, 0] - self.origin_x_px), (self.floor_y_px - s[:, 1])], 1) / self.px_per_m
        )


@dataclass
class SyntheticScene:
    """Everything needed to draw frame i; built once per clip (backgrounds, sprites, truth)."""

    trajectory: Trajectory
    fps: float = 30.0
    size: tuple[int, int] = (1280, 720)
    px_per_m: float | None = None
    options: RenderOptions = field(default_factory=RenderOptions)

    def __post_init__(self) -> None:
        w, h = self.size
        if not (16 <= w <= 4096 and 16 <= h <= 4096 and w % 2 == 0 and h % 2 == 0):
            raise InvalidInputError(f"size must be even and 16-4096 px, got {self.size!r}")
        if not 1.0 <= self.fps <= 240.0:
            raise InvalidInputError(f"fps must be 1-240, got {self.fps!r}")
        if not self.trajectory.duration > 0:
            raise InvalidInputError(
                f"trajectory duration must be > 0, got {self.trajectory.duration!r}"
            )
        o = self.options
        self.floor_y = 0.93 * h
        self.origin_x = 0.5 * w
        n = math.floor(self.trajectory.duration * self.fps + 1e-9) + 1
        self.t = np.arange(n, dtype=np.float64) / self.fps
        self.ppm = float(self.px_per_m) if self.px_per_m else self._fit_scale()
        self.radius = o.plate_diameter_m / 2.0 * self.ppm
        self.offset = self._shake(self.t)
        self.margin = math.ceil(np.abs(self.offset).max()) + 2
        m = self.margin
        rng = np.random.default_rng(o.seed)
        self.bg = make_background(
            w + 2 * m, h + 2 * m, self.floor_y + m, self.radius, o.clutter, o.seed
        )
        self.texture = plate_texture(self.radius, o.plate_color, o.seed)
        self.second_r = 0.85 * self.radius
        self.second_texture = plate_texture(self.second_r, (190, 40, 40), o.seed + 1)
        self.second_stable = self._second_path(self.t)
        if o.second_plate == "static":
            self._paint(self.bg, self.second_texture, self.second_stable[0] + m, self.second_r, 0.3)
        self.occluder_color = tuple(float(v) for v in rng.integers(20, 90, 3))
        self.noise = (
            [rng.normal(0.0, o.noise_sigma, (h + 32, w + 32, 3)).astype(np.int16) for _ in range(3)]
            if o.noise_sigma > 0
            else []
        )
        self.noise_pick = rng.integers(0, 32, (n, 3))

    def _fit_scale(self) -> float:
        """Half the frame height per metre, less if the bar's highest point (overhead in a snatch,
        about 2 m) would leave the frame."""
        top = float(np.asarray(self.trajectory.position(self.t), np.float64)[:, 1].max())
        room = self.floor_y - 0.03 * self.size[1]
        return min(self.size[1] / 2.0, room / (top + self.options.plate_diameter_m / 2.0))

    def stable_center(self, t: Vec) -> Vec:
        """(N, 2) plate centre in pixels against the static background at times t."""
        p = np.asarray(
            self.trajectory.position(np.clip(t, 0.0, self.trajectory.duration)), np.float64
        )
        return np.stack([self.origin_x + p[:, 0] * self.ppm, self.floor_y - p[:, 1] * self.ppm], 1)

    @property
    def truth(self) -> ClipTruth:
        has_second = self.options.second_plate != "none"
        return ClipTruth(
            t=self.t.copy(),
            center_px=self.stable_center(self.t) + self.offset,
            radius_px=self.radius,
            camera_offset_px=self.offset.copy(),
            px_per_m=self.ppm,
            floor_y_px=self.floor_y,
            origin_x_px=self.origin_x,
            fps=self.fps,
            size=self.size,
            second_center_px=self.second_stable + self.offset if has_second else None,
            second_radius_px=self.second_r if has_second else 0.0,
        )

    def frame(self, i: int) -> NDArray[np.uint8]:
        """Frame i as (H, W, 3) uint8 RGB."""
        o, (w, h), m = self.options, self.size, self.margin
        t = float(self.t[i])
        ox, oy = self.offset[i]
        if ox == 0.0 and oy == 0.0:
            img = self.bg[m : m + h, m : m + w].copy()
        else:
            # The whole static scene moves by the camera offset; bilinear keeps it sub-pixel.
            shift = np.array([[1.0, 0.0, ox - m], [0.0, 1.0, oy - m]])
            img = np.asarray(
                cv2.warpAffine(self.bg, shift, (w, h), flags=cv2.INTER_LINEAR), np.uint8
            )
        off = self.offset[i]
        if o.second_plate == "moving":
            self._paint(img, self.second_texture, self.second_stable[i] + off, self.second_r, 0.3)
        self._paint_plate(img, t, off)
        if o.occlusion:
            self._paint_occluder(img, t, off)
        return self._degrade(img, i, t)

    def _paint_plate(self, img: NDArray[np.uint8], t: float, off: Vec) -> None:
        o = self.options
        k = o.blur_samples if o.motion_blur > 0 else 1
        # Sub-frame times spread over an exposure centred on the frame time.
        ts = t + (np.arange(k) + 0.5 - k / 2.0) / k * (o.motion_blur / self.fps)
        centers = self.stable_center(ts) + off
        angles = np.deg2rad(o.spin_dps) * ts
        x0, y0, x1, y1 = self._box(centers, self.radius, img.shape)
        if x1 <= x0 or y1 <= y0:
            return
        base = img[y0:y1, x0:x1].astype(np.float32)
        acc = np.zeros_like(base)
        for (cx, cy), ang in zip(centers, angles, strict=True):
            win = base.copy()
            composite_disc(win, self.texture, cx - x0, cy - y0, self.radius, float(ang))
            acc += win
        img[y0:y1, x0:x1] = np.clip(acc / k + 0.5, 0, 255).astype(np.uint8)

    def _paint(
        self, img: NDArray[np.uint8], tex: NDArray[np.float32], c: Vec, r: float, ang: float
    ) -> None:
        x0, y0, x1, y1 = self._box(c[None, :], r, img.shape)
        if x1 <= x0 or y1 <= y0:
            return
        win = img[y0:y1, x0:x1].astype(np.float32)
        composite_disc(win, tex, float(c[0]) - x0, float(c[1]) - y0, r, ang)
        img[y0:y1, x0:x1] = np.clip(win + 0.5, 0, 255).astype(np.uint8)

    def _paint_occluder(self, img: NDArray[np.uint8], t: float, off: Vec) -> None:
        c = self.stable_center(np.array([t]))[0] + off
        r = self.radius
        # Sweeps from the plate's left edge to its right edge over the clip.
        x = c[0] + r * (-1.1 + 2.2 * t / self.trajectory.duration)
        half = 0.15 * r
        p0 = (round(x - half), round(c[1] - 1.6 * r))
        p1 = (round(x + half), round(c[1] + 1.6 * r))
        cv2.rectangle(img, p0, p1, self.occluder_color, -1)

    def _degrade(self, img: NDArray[np.uint8], i: int, t: float) -> NDArray[np.uint8]:
        o, (w, h) = self.options, self.size
        if o.lighting > 0:
            gain = 1.0 + o.lighting * math.sin(
                2.0 * math.pi * t / max(self.trajectory.duration, 1e-6)
            )
            img = np.asarray(cv2.convertScaleAbs(img, alpha=gain, beta=0.0), np.uint8)
        if self.noise:
            k, dy, dx = (int(v) for v in self.noise_pick[i])
            noisy = img.astype(np.int16)
            noisy += self.noise[k % 3][dy : dy + h, dx : dx + w]
            img = np.clip(noisy, 0, 255).astype(np.uint8)
        if o.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, o.jpeg_quality])
            if ok:
                # Encode and decode with the same channel order: the round trip keeps RGB as RGB.
                img = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
        return img

    def _shake(self, t: Vec) -> Vec:
        amp = self.options.shake_px
        if amp <= 0:
            return np.zeros((t.size, 2))
        rng = np.random.default_rng(self.options.seed + 7)
        out = np.zeros((t.size, 2))
        # Hand-held shake: a few incommensurate tremor frequencies plus a slow drift.
        for axis in range(2):
            for f, a in ((0.35, 0.6), (1.7, 0.3), (4.3, 0.12)):
                out[:, axis] += (
                    amp
                    * a
                    * np.sin(2 * np.pi * f * rng.uniform(0.8, 1.2) * t + rng.uniform(0, 2 * np.pi))
                )
        out -= out[0]
        return out

    def _second_path(self, t: Vec) -> Vec:
        r = self.radius
        x = self.origin_x - 3.0 * r
        base = self.floor_y - self.second_r - 0.3 * r
        if self.options.second_plate == "moving":
            y = base - 1.5 * r * (1 - np.cos(2 * np.pi * 0.4 * t))
            return np.stack([x + 0.4 * r * np.sin(2 * np.pi * 0.25 * t), y], 1)
        return np.stack([np.full_like(t, x), np.full_like(t, base)], 1)

    @staticmethod
    def _box(centers: Vec, r: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        h, w = shape[:2]
        pad = r + 2.0
        x0 = max(0, math.floor(centers[:, 0].min() - pad))
        y0 = max(0, math.floor(centers[:, 1].min() - pad))
        x1 = min(w, math.ceil(centers[:, 0].max() + pad) + 1)
        y1 = min(h, math.ceil(centers[:, 1].max() + pad) + 1)
        return x0, y0, x1, y1


def clip_truth(
    trajectory: Trajectory,
    *,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    px_per_m: float | None = None,
    options: RenderOptions | None = None,
) -> ClipTruth:
    """The ground truth of the clip these arguments would render (draws nothing per frame)."""
    return SyntheticScene(trajectory, fps, size, px_per_m, options or RenderOptions()).truth


def iter_frames(
    trajectory: Trajectory,
    *,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    px_per_m: float | None = None,
    options: RenderOptions | None = None,
) -> Iterator[tuple[float, NDArray[np.uint8]]]:
    """Yield (t seconds, (H, W, 3) uint8 RGB frame) in memory, without video encoding.

    px_per_m defaults to half the frame height (360 at 720p: a 0.45 m plate is 162 px across), less
    when the bar's highest point would leave the frame (about 280 for a snatch at 720p).
    """
    scene = SyntheticScene(trajectory, fps, size, px_per_m, options or RenderOptions())
    for i in range(scene.t.size):
        yield float(scene.t[i]), scene.frame(i)


def render_clip(
    trajectory: Trajectory,
    path: Path,
    *,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    px_per_m: float | None = None,
    options: RenderOptions | None = None,
) -> ClipTruth:
    """Render the clip to an MP4 (H.264 via libx264, yuv420p, fast start) and return its truth.

    Frame i is stamped pts = i in a time base of 1/fps, so decoded timestamps equal ClipTruth.t.
    """
    import av  # only the renderer needs the encoder; importing it lazily keeps tests light

    opts = options or RenderOptions()
    scene = SyntheticScene(trajectory, fps, size, px_per_m, opts)
    rate = Fraction(fps).limit_denominator(1001)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", container_options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(opts.crf), "preset": "veryfast"}
        stream.codec_context.time_base = 1 / rate
        for i in range(scene.t.size):
            frame = av.VideoFrame.from_ndarray(scene.frame(i), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return scene.truth
