"""The annotated session video and its phase key frames, rendered from the source clip.

The source is decoded again (same reader, same max_side as the analysis, so overlay pixels line up)
and each frame is drawn on in place and handed to the H.264 writer with its own presentation time.
Key frames come out of the same pass. Frames are held only while drawn and encoded (a few at a
time), besides the key-frame copies.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError
from server.phases.types import PULL_PHASES, PhaseEvent
from server.pose.types import PoseFrame
from server.render.annotate import Overlay, annotate, phase_index
from server.render.keyframes import KeyframePicker
from server.settings import Settings
from server.video.prefetch import prefetched
from server.video.reader import VideoReader
from server.video.writer import H264Writer

__all__ = ["RenderResult", "build_overlays", "render_session"]

log = logging.getLogger(__name__)

Progress = Callable[[float], None]


@dataclass(frozen=True)
class RenderResult:
    """What render_session wrote.

    video_path: the MP4 (None when only key frames were asked for). keyframes: event -> JPEG path.
    frames: frames rendered. duration_s: time of the last frame. warnings: from reading the source
    and from events that got no frame.
    """

    video_path: Path | None
    keyframes: dict[str, Path]
    frames: int
    duration_s: float
    warnings: tuple[str, ...]


def build_overlays(
    t: NDArray[np.float64],
    *,
    poses: Sequence[PoseFrame | None] | None = None,
    bar_centers: NDArray[np.float64] | None = None,
    plate_radii: NDArray[np.float64] | None = None,
    velocity_mps: NDArray[np.float64] | None = None,
    events: Sequence[PhaseEvent] = (),
    units: Literal["metric", "imperial"] = "metric",
    legend: tuple[str, ...] = PULL_PHASES,
) -> list[Overlay]:
    """One Overlay per frame from per-frame analysis series (all of length N = len(t)).

    t: (N,) seconds. poses: N poses or None. bar_centers: (N, 2) pixels, NaN where unknown.
    plate_radii: (N,) pixels, NaN where unknown. velocity_mps: (N,) vertical bar velocity, NaN
    where unknown. events: phase starts; a frame's phase is the last one started at or before it.
    The bar path of frame i is a view of bar_centers[: i + 1] (no copies).
    """
    n = len(t)
    for name, series in (
        ("poses", poses),
        ("bar_centers", bar_centers),
        ("plate_radii", plate_radii),
        ("velocity_mps", velocity_mps),
    ):
        if series is not None and len(series) != n:
            raise InvalidInputError(f"{name} has {len(series)} entries for {n} frames")
    ordered = sorted(events, key=lambda e: e.t)
    starts = np.array([e.t for e in ordered], dtype=np.float64)
    codes = np.array([phase_index(e.phase) for e in ordered] or [-1], dtype=np.int16)
    # searchsorted(side="right") - 1: the last event at or before each frame's time (-1 if none).
    which = np.searchsorted(starts, np.asarray(t, dtype=np.float64), side="right") - 1
    frame_code = np.where(which >= 0, codes[np.maximum(which, 0)], -1).astype(np.int16)
    overlays = []
    for i in range(n):
        code = int(frame_code[i])
        center = None if bar_centers is None else bar_centers[i]
        overlays.append(
            Overlay(
                pose=None if poses is None else poses[i],
                bar_path=None if bar_centers is None else bar_centers[: i + 1],
                bar_phase=frame_code[: i + 1],
                plate_center=center if center is not None and np.isfinite(center).all() else None,
                plate_radius=_finite(plate_radii, i),
                velocity_mps=_finite(velocity_mps, i),
                units=units,
                phase=ordered[int(which[i])].phase if code >= 0 else None,
                legend=legend,
            )
        )
    return overlays


def _finite(series: NDArray[np.float64] | None, i: int) -> float | None:
    if series is None or not np.isfinite(series[i]):
        return None
    return float(series[i])


def render_session(
    video_path: str | Path,
    per_frame_overlays: Sequence[Overlay | None],
    out_path: str | Path | None,
    *,
    keyframe_times: dict[str, float] | None = None,
    phases_dir: str | Path | None = None,
    max_side: int | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    preset: str = "ultrafast",
    crf: int = 26,
    jpeg_quality: int = 90,
) -> RenderResult:
    """Re-decode the source, draw each frame's overlay, write the MP4 and the key-frame JPEGs.

    per_frame_overlays: indexed by the reader's frame index, in the pixels of frames read with the
    same max_side. A None entry (or a missing tail) repeats the last overlay, so repeated or skipped
    frames do not flicker. out_path: the MP4, or None for key frames only. keyframe_times: boundary
    event -> seconds (see keyframes.boundary_times), written to phases_dir/<event>.jpg (default
    out_path's folder / "phases"). progress: called with the fraction done, 0-1, at most every 1%.
    """
    if keyframe_times and phases_dir is None:
        if out_path is None:
            raise InvalidInputError("phases_dir is needed when out_path is None")
        phases_dir = Path(out_path).parent / "phases"
    picker = KeyframePicker(keyframe_times or {})
    # The frames are only drawn on: no grey images for the repeat check (the analysis did that).
    with VideoReader(
        video_path, max_side=max_side, settings=settings, check_repeats=False
    ) as reader:
        frames, last_t = _render_frames(
            reader, per_frame_overlays, out_path, picker, progress, preset, crf
        )
        warnings = [*reader.warnings]
    keyframes = picker.write(phases_dir, quality=jpeg_quality) if phases_dir is not None else {}
    warnings += [f"no frame for phase event {name!r}" for name in picker.missing]
    if progress is not None:
        progress(1.0)
    return RenderResult(
        video_path=None if out_path is None else Path(out_path),
        keyframes=keyframes,
        frames=frames,
        duration_s=last_t,
        warnings=tuple(warnings),
    )


def _render_frames(
    reader: VideoReader,
    overlays: Sequence[Overlay | None],
    out_path: str | Path | None,
    picker: KeyframePicker,
    progress: Progress | None,
    preset: str,
    crf: int,
) -> tuple[int, float]:
    total = max(reader.info.frame_count, 1)
    reported = 0.0
    held: Overlay | None = None
    count, last_t = 0, 0.0
    with ExitStack() as stack:
        # The writer opens on the first frame: its size is the decoded (rotated, shrunk) size.
        writer: H264Writer | None = None
        encode: _EncodeAhead | None = None
        for frame in prefetched(reader):
            if frame.index < len(overlays) and overlays[frame.index] is not None:
                held = overlays[frame.index]
            keep = picker.wants(frame.t)
            if held is not None and (out_path is not None or keep):
                annotate(frame.rgb, held, inplace=True)
            if keep:
                picker.offer(frame.t, frame.rgb)
            if out_path is not None:
                if writer is None:
                    height, width = frame.rgb.shape[:2]
                    fps = reader.info.fps or 30.0
                    writer = stack.enter_context(
                        H264Writer(out_path, width, height, fps, preset=preset, crf=crf)
                    )
                    # Left first (ExitStack): the frames handed over are written before the
                    # writer closes.
                    encode = stack.enter_context(_EncodeAhead(writer))
                assert encode is not None
                encode.write(frame.rgb, frame.t)
            count, last_t = count + 1, frame.t
            done = min(count / total, 0.99)
            if progress is not None and done - reported >= 0.01:
                reported = done
                progress(done)
        if encode is not None:
            encode.drain()
    return count, last_t


class _EncodeAhead:
    """Writes frames to an H264Writer on a thread of its own, at most `depth` frames behind.

    The colour conversion and x264 release the GIL, so the encode of one frame overlaps the decode
    and the drawing of the next ones. With the render's reader not checking repeats, analyze of
    the synthetic 720p30 snatch went from 2.20x to 2.39x real time (median of 8 interleaved runs,
    2026-12-02; each change alone gave about half of it). A frame handed over must not be
    changed afterwards (each decoded frame is a new array). An error of the writer is raised by
    a later write() or by drain().
    """

    def __init__(self, writer: H264Writer, depth: int = 2) -> None:
        self._writer = writer
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self._pending: deque[Future[None]] = deque()

    def __enter__(self) -> _EncodeAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)  # frames already handed over finish either way

    def write(self, rgb: NDArray[np.uint8], t: float) -> None:
        self._pending.append(self._pool.submit(self._writer.write, rgb, t))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def drain(self) -> None:
        """Wait for every frame handed over; raises the first error of the writer."""
        while self._pending:
            self._pending.popleft().result()
