"""Reading a video file: probe it, then decode RGB frames stamped with their presentation time.

Time comes from each frame's pts * time_base, relative to the first frame, never from the index and
a nominal rate: real files repeat and drop frames. Each frame says whether it repeats the previous
picture, and the reader collects warnings (truncation, decode errors, irregular timing) for the
report instead of failing on a damaged tail.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from numpy.typing import NDArray

from server.errors import InvalidInputError, VideoError
from server.settings import Settings
from server.video.timing import grey_thumbnail, is_duplicate, thumbnail_change, timing_report

__all__ = ["Frame", "VideoInfo", "VideoReader", "probe", "read_frames", "timing_report"]

log = logging.getLogger(__name__)

# After this many packets in a row fail to decode the rest of the file is taken as garbage.
MAX_CONSECUTIVE_ERRORS = 25
# Video ending this much (or 3 frame intervals) before the header's duration is a missing tail.
TRUNCATION_SLACK_S = 0.1

_ROTATE = {
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_CLOCKWISE,
}


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, before decoding it.

    width, height: displayed size in pixels (after rotation, square pixels). fps: nominal average
    frame rate (0.0 when unknown). duration_s: seconds (0.0 when the container does not say).
    frame_count: the header's frame count or duration * fps (an estimate; 0 when unknown).
    codec: decoder name (e.g. "h264"). rotation: degrees counter-clockwise the decoded picture is
    turned to display it, one of 0, 90, 180, 270.
    """

    width: int
    height: int
    fps: float
    duration_s: float
    frame_count: int
    codec: str
    rotation: int


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    index: 0-based decode order (presentation order). t: seconds from the first frame's
    presentation time. rgb: (H, W, 3) uint8, upright, possibly reduced by max_side.
    duplicate: the picture repeats the previous frame's (identical or near-identical).
    change: mean absolute grey-level difference (0-255) to the previous frame's thumbnail, None for
    the first frame. grey: (H, W) uint8 luma of `rgb` (made once for the duplicate check; the camera
    motion works on it too). A reader made with check_repeats=False gives duplicate False, change
    and grey None.
    """

    index: int
    t: float
    rgb: NDArray[np.uint8]
    duplicate: bool
    change: float | None
    grey: NDArray[np.uint8] | None


# A decoded frame waiting for the next one's change: index, t, rgb, grey, change, previous change.
_Pending = tuple[
    int, float, NDArray[np.uint8], NDArray[np.uint8] | None, float | None, float | None
]


def _open(path: str | Path) -> tuple[InputContainer, VideoStream]:
    """Open a file and pick its first video stream, mapping every failure to VideoError."""
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"video file not found: {p}")
    if p.stat().st_size == 0:
        raise VideoError(f"video file {p.name} is empty (0 bytes)")
    try:
        container = av.open(str(p), mode="r")
    except av.FFmpegError as exc:
        raise VideoError(
            f"{p.name} is not a readable video (not a video, or truncated before its index): "
            f"{exc.strerror or exc}"
        ) from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p.name} has no video stream")
    stream = container.streams.video[0]
    if not stream.codec_context.width or not stream.codec_context.height:
        container.close()
        raise VideoError(f"{p.name}: the video stream has no picture size (corrupt header)")
    return container, stream


def _display_size(stream: VideoStream) -> tuple[int, int]:
    """(width, height) of the unrotated picture in square pixels (applies the sample aspect)."""
    width, height = stream.codec_context.width, stream.codec_context.height
    sar = stream.sample_aspect_ratio
    if sar is not None and sar > 0 and sar != 1:
        width = max(2, round(width * sar))
    return width, height


def _normalise_rotation(degrees: float) -> int:
    """Nearest multiple of 90 in [0, 360); display matrices of phones only use these."""
    return round(degrees / 90.0) % 4 * 90


def _stream_info(container: InputContainer, stream: VideoStream, rotation: int) -> VideoInfo:
    width, height = _display_size(stream)
    if rotation in (90, 270):
        width, height = height, width
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    frames = stream.frames or (round(duration * fps) if duration and fps else 0)
    return VideoInfo(
        width=width,
        height=height,
        fps=fps,
        duration_s=duration,
        frame_count=int(frames),
        codec=stream.codec_context.name,
        rotation=rotation,
    )


def _check_limits(info: VideoInfo, settings: Settings, name: str) -> None:
    pixels = info.width * info.height
    if pixels > settings.max_video_pixels:
        raise VideoError(
            f"{name}: resolution {info.width}x{info.height} ({pixels} pixels) is over the limit "
            f"max_video_pixels={settings.max_video_pixels}"
        )
    if info.duration_s > settings.max_video_seconds:
        raise VideoError(
            f"{name}: duration {info.duration_s:.1f} s is over the limit "
            f"max_video_seconds={settings.max_video_seconds:g}"
        )


def probe(path: str | Path, settings: Settings | None = None) -> VideoInfo:
    """Read a video's header (and its first frame, for rotation) and enforce the size limits.

    Raises VideoError when the file is missing, empty, not a video, has no decodable frame, or is
    over settings.max_video_pixels / max_video_seconds (the limits are checked before decoding).
    """
    settings = settings or Settings()
    container, stream = _open(path)
    name = Path(path).name
    try:
        _check_limits(_stream_info(container, stream, 0), settings, name)
        frames = _decoded(container, stream, [])
        first = next(frames, None)
        frames.close()
        if first is None:
            raise VideoError(f"{name}: no decodable video frames (empty or truncated file)")
        return _stream_info(container, stream, _normalise_rotation(first.rotation))
    finally:
        container.close()


def _decoded(
    container: InputContainer, stream: VideoStream, warnings: list[str]
) -> Generator[VideoFrame, None, None]:
    """Decoded frames in presentation order; bad packets are skipped and counted in warnings."""
    failed = consecutive = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.FFmpegError as exc:
                failed += 1
                consecutive += 1
                log.debug("packet at pts %s failed to decode: %s", packet.pts, exc)
                if consecutive > MAX_CONSECUTIVE_ERRORS:
                    warnings.append(
                        f"stopped after {consecutive} undecodable packets in a row "
                        "(corrupt or truncated data)"
                    )
                    return
                continue
            consecutive = 0
            yield from frames
    except av.FFmpegError as exc:
        warnings.append(f"reading stopped early: {exc.strerror or exc} (damaged or truncated file)")
    finally:
        if failed:
            warnings.append(f"{failed} packet(s) could not be decoded (corrupt or truncated data)")


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Unrotated (width, height) to decode to: only ever shrinks, keeps the aspect."""
    if max_side is not None and max_side < 16:
        raise InvalidInputError(f"max_side={max_side} is too small (at least 16 pixels)")
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale)), max(2, round(height * scale))


class VideoReader:
    """Decodes one file once, in order; collects warnings while doing so.

    Use as a context manager and iterate it. `warnings` fills in as frames are read (truncation,
    decode errors); `timing_warnings()` adds the timing check over everything read so far.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_side: int | None = None,
        settings: Settings | None = None,
        check_repeats: bool = True,
    ) -> None:
        """check_repeats: make each frame's grey image and its change to the previous one, which
        find repeated pictures and irregular timing; a pass that only draws on the frames (the
        render) turns it off and saves that work (0.8-2.8 ms of CPU a 720p frame here)."""
        self.path = Path(path)
        self.info = probe(self.path, settings)
        self.warnings: list[str] = []
        self._settings = settings or Settings()
        self._size = _target_size(self.info.width, self.info.height, max_side)
        if self.info.rotation in (90, 270):
            self._size = self._size[::-1]  # decode size is before rotation
        self._container, self._stream = _open(self.path)
        # Frame threading: decoding is the heaviest per-frame step that is not the model.
        self._stream.thread_type = "AUTO"
        self._ts: list[float] = []
        self._duplicate: list[bool] = []
        self._change: list[float | None] = []
        self._started = False
        self._untimed = 0
        self._check_repeats = check_repeats

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def timing_warnings(self) -> list[str]:
        """Warnings about irregular timing of the frames read so far (see timing_report); from
        the timestamps alone when the reader does not check repeats."""
        if not self._check_repeats:
            return timing_report(self._ts)
        return timing_report(self._ts, duplicate=self._duplicate, change=self._change)

    def _rgb(self, frame: VideoFrame) -> NDArray[np.uint8]:
        width, height = self._size
        # swscale converts and shrinks in one pass; no full-size RGB copy is made.
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
        code = _ROTATE.get(_normalise_rotation(frame.rotation))
        upright = rgb if code is None else cv2.rotate(rgb, code)
        return np.ascontiguousarray(upright, dtype=np.uint8)

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise VideoError(f"{self.path.name}: a VideoReader can be iterated only once")
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        # One frame of look-ahead: whether a frame repeats the previous picture depends on the
        # change to the next one too (a repeat is a dip between two normal changes).
        pending: _Pending | None = None
        prev_thumb: NDArray[np.uint8] | None = None
        prev_change: float | None = None
        first_pts: int | None = None
        last_t = 0.0
        index = 0
        for av_frame in _decoded(self._container, self._stream, self.warnings):
            t = self._time(av_frame, first_pts, last_t, index)
            if first_pts is None:
                first_pts = av_frame.pts if av_frame.pts is not None else 0
            if t > self._settings.max_video_seconds:
                raise VideoError(
                    f"{self.path.name}: longer than the limit "
                    f"max_video_seconds={self._settings.max_video_seconds:g}"
                )
            rgb = self._rgb(av_frame)
            grey = thumb = change = None
            if self._check_repeats:
                grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)
                thumb = grey_thumbnail(grey)
                if prev_thumb is not None:
                    change = thumbnail_change(thumb, prev_thumb)
            if pending is not None:
                yield self._finish(pending, change)
            pending = (index, t, rgb, grey, change, prev_change)
            prev_thumb, prev_change, last_t = thumb, change, t
            index += 1
        if pending is None:
            raise VideoError(f"{self.path.name}: no decodable video frames (truncated or corrupt)")
        yield self._finish(pending, None)
        self._note_truncation(index, last_t)

    def _time(self, frame: VideoFrame, first_pts: int | None, last_t: float, index: int) -> float:
        """Seconds from the first frame, from pts * time_base; estimated when pts is missing."""
        time_base = frame.time_base or self._stream.time_base
        if frame.pts is None or time_base is None:
            if index == 0:
                return 0.0
            self._untimed += 1
            return last_t + (1.0 / self.info.fps if self.info.fps else 1.0 / 30.0)
        origin = frame.pts if first_pts is None else first_pts
        return float(Fraction(frame.pts - origin) * Fraction(time_base))

    def _finish(self, pending: _Pending, next_change: float | None) -> Frame:
        index, t, rgb, grey, change, prev_change = pending
        duplicate = change is not None and is_duplicate(change, prev_change, next_change)
        self._ts.append(t)
        self._duplicate.append(duplicate)
        self._change.append(change)
        return Frame(index=index, t=t, rgb=rgb, duplicate=duplicate, change=change, grey=grey)

    def _note_truncation(self, decoded: int, last_t: float) -> None:
        if self._untimed:
            self.warnings.append(
                f"{self._untimed} frame(s) have no timestamp; their times are estimated from "
                f"the nominal {self.info.fps:g} fps"
            )
        # The header's frame count also counts samples an edit list hides, so judge by time: the
        # last frame should reach the header's duration within a few frame intervals.
        interval = 1.0 / self.info.fps if self.info.fps else 1.0 / 30.0
        missing_s = self.info.duration_s - (last_t + interval)
        if self.info.duration_s and missing_s > max(3 * interval, TRUNCATION_SLACK_S):
            self.warnings.append(
                f"file looks truncated: its header says {self.info.duration_s:.2f} s "
                f"({self.info.frame_count} frames) but decoding ended after {decoded} frames at "
                f"t={last_t:.2f} s"
            )
        for warning in self.warnings:
            log.warning("%s: %s", self.path.name, warning)


def read_frames(
    path: str | Path,
    *,
    max_side: int | None = None,
    settings: Settings | None = None,
    warnings: list[str] | None = None,
) -> Iterator[Frame]:
    """Decode a video to upright RGB frames stamped with presentation time.

    max_side: shrink so the longer side is at most this many pixels (decoder-side scaling).
    warnings: when given, receives the reader's warnings (truncation, decode errors, irregular
    timing) once iteration ends. Raises VideoError for files that cannot be read at all.
    """
    with VideoReader(path, max_side=max_side, settings=settings) as reader:
        yield from reader
        if warnings is not None:
            warnings.extend(reader.warnings)
            warnings.extend(reader.timing_warnings())
