"""Decoded frames on disk, so every implementation measured gets exactly the same pixels.

A clip is decoded once with the server's own reader (presentation timestamps, the same max_side
as the offline pipeline) into one raw file of (H, W, 3) uint8 RGB frames plus a JSON sidecar.
Workers in other processes (and other virtual environments) read it back one frame at a time:
only one frame is in memory at once, so the frames do not count in a worker's peak memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

# The offline pipeline's default (server.analysis.measure.measure_clip): frames are analysed at
# most this many pixels on their long side.
MAX_SIDE = 1280


@dataclass(frozen=True)
class FrameStore:
    """Frames of one clip. raw: the frame file. t: presentation times, s. size: (width, height)."""

    name: str
    raw: Path
    t: tuple[float, ...]
    size: tuple[int, int]

    @property
    def frames(self) -> int:
        return len(self.t)

    def __iter__(self) -> Iterator[tuple[float, NDArray[np.uint8]]]:
        w, h = self.size
        with self.raw.open("rb") as f:
            for t in self.t:
                rgb = np.empty((h, w, 3), np.uint8)
                if f.readinto(rgb.data.cast("B")) != rgb.nbytes:
                    raise ValueError(f"{self.raw} ends before frame at t={t:.3f} s")
                yield t, rgb

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "raw": str(self.raw), "t": list(self.t), "size": list(self.size)}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> FrameStore:
        t, size = d["t"], d["size"]
        assert isinstance(t, list) and isinstance(size, list)
        return cls(str(d["name"]), Path(str(d["raw"])), tuple(t), (int(size[0]), int(size[1])))

    @classmethod
    def load(cls, meta: Path) -> FrameStore:
        return cls.from_json(json.loads(meta.read_text()))


def decode_to_store(video: Path, out_dir: Path, name: str, max_side: int = MAX_SIDE) -> FrameStore:
    """Decode `video` with the server's VideoReader into out_dir/<stem>.rgb (+ .json)."""
    from server.video.reader import VideoReader

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() else "-" for c in name)
    raw = out_dir / f"{stem}.rgb"
    times: list[float] = []
    size = (0, 0)
    with raw.open("wb") as f, VideoReader(video, max_side=max_side) as reader:
        for frame in reader:
            rgb = np.ascontiguousarray(frame.rgb)
            if times and (rgb.shape[1], rgb.shape[0]) != size:
                raise ValueError(f"{video}: frame size changed mid-clip")
            size = (rgb.shape[1], rgb.shape[0])
            f.write(rgb.tobytes())
            times.append(float(frame.t))
    store = FrameStore(name, raw, tuple(times), size)
    (out_dir / f"{stem}.json").write_text(json.dumps(store.to_json()))
    return store
