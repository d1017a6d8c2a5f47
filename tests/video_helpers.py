"""Small synthetic clips for the video and render tests, written with PyAV directly.

The pictures carry their own frame number so a test can tell which source frame it is looking at:
the background grey level is 40 + 4 * n (mod 200), and a red square moves right by 3 px per
frame. Clips are written with plain PyAV (not server.video.writer) so the reader is checked against
an independent writer.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

TICKS = Fraction(1, 12_800)


def ffmpeg(*args: str, timeout: float = 120) -> None:
    """Run the ffmpeg command line tool quietly (errors only, overwrite); raises on failure."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=timeout)


def picture(n: int, width: int, height: int) -> NDArray[np.uint8]:
    """The (height, width, 3) RGB picture of source frame n."""
    img = np.full((height, width, 3), 40 + (4 * n) % 200, dtype=np.uint8)
    x = (3 * n) % max(1, width - 12)
    img[4:14, x : x + 10] = (255, 0, 0)
    return img


def background_index(rgb: NDArray[np.uint8]) -> int:
    """The frame number n of a picture() from its bottom-right background grey (n < 50)."""
    grey = float(rgb[-4:, -4:].mean())
    return round((grey - 40) / 4)


def make_clip(
    path: Path,
    ts: Sequence[float],
    *,
    width: int = 160,
    height: int = 120,
    content: Sequence[int] | None = None,
    rotation: int | None = None,
    sample_aspect: Fraction | None = None,
    faststart: bool = False,
    fps: int = 25,
    crf: int = 18,
) -> Path:
    """Write an H.264 MP4 with frames shown at times ts (seconds).

    content[i]: which picture() frame i shows (repeat a number to duplicate a frame); default i.
    rotation: display-matrix rotation, degrees counter-clockwise. Returns the path.
    """
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as out:
        stream = out.add_stream(
            "libx264", rate=fps, options={"crf": str(crf), "preset": "ultrafast"}
        )
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = TICKS
        stream.codec_context.time_base = TICKS
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if sample_aspect is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect
        for i, t in enumerate(ts):
            n = i if content is None else content[i]
            frame = av.VideoFrame.from_ndarray(picture(n, width, height), format="rgb24")
            frame.pts = round(t / TICKS)
            frame.time_base = TICKS
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def top_level_atoms(path: Path) -> list[str]:
    """The MP4 top-level box types in file order."""
    data = path.read_bytes()
    atoms, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return atoms


def decoded_times(path: Path) -> tuple[list[float], str, str]:
    """(presentation times relative to the first frame, codec name, pixel format) via plain PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream)]
        tb = stream.time_base
        assert tb is not None
        codec, pix_fmt = stream.codec_context.name, stream.codec_context.pix_fmt or ""
    return [float((p - pts[0]) * tb) for p in pts if p is not None], codec, pix_fmt
