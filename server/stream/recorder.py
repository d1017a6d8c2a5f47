"""Records the incoming video track as the original video of each lift (H.264 MP4).

Every received frame (not only the analysed ones) is encoded, in a thread of its own so the event
loop never waits on x264. The recording is cut into segments: `cut()` closes the current file and
hands it over (the original video of the lift that just ended); the next frame opens a new one.
While no lift is under way an idle segment is restarted every `idle_segment_s`, so a camera left
running between lifts does not fill the disk. A frame queue that overflows drops frames (counted)
rather than growing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.video.stream

log = logging.getLogger(__name__)

# Millisecond timestamps: the stream's own clock, variable frame rate (phones vary their rate).
_TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True)
class Recording:
    """A finished segment. t0 / t1: stream times of its first and last frame, s."""

    path: Path
    frames: int
    t0: float
    t1: float
    width: int
    height: int


class _Segment:
    """One open MP4 file; used only by the recorder thread."""

    def __init__(self, path: Path, frame: av.VideoFrame, t: float) -> None:
        self.path = path
        # Encoders need even sizes for 4:2:0.
        self.width = frame.width - frame.width % 2
        self.height = frame.height - frame.height % 2
        self.container: av.container.OutputContainer = av.open(str(path), mode="w")
        self.stream: av.video.stream.VideoStream = self.container.add_stream(
            "libx264",
            rate=30,
            options={"preset": "ultrafast", "tune": "zerolatency", "threads": "1"},
        )
        self.stream.width = self.width
        self.stream.height = self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = _TIME_BASE
        self.stream.codec_context.time_base = _TIME_BASE
        self.t0 = t
        self.t1 = t
        self.frames = 0
        self._last_pts = -1

    def write(self, frame: av.VideoFrame, t: float) -> None:
        pts = round((t - self.t0) * 1000)
        if pts <= self._last_pts:  # duplicate or reordered timestamp: keep the file monotonic
            pts = self._last_pts + 1
        self._last_pts = pts
        if (
            frame.width != self.width
            or frame.height != self.height
            or frame.format.name != ("yuv420p")
        ):
            # WebRTC senders change resolution under load; the file keeps its first size.
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        # The frame object is shared with the analysis, which only reads its pixels.
        frame.pts = pts
        frame.time_base = _TIME_BASE
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1
        self.t1 = t

    def finish(self) -> Recording:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()
        return Recording(self.path, self.frames, self.t0, self.t1, self.width, self.height)

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self.path.unlink(missing_ok=True)


class Recorder:
    """Encodes frames to MP4 segments in `directory`, named `{prefix}-{n}.mp4`.

    add() and cut() never block; discard() and close() are awaited. Each command runs after every
    frame added before it.
    """

    def __init__(
        self,
        directory: Path,
        prefix: str,
        *,
        idle_segment_s: float = 60.0,
        max_queue: int = 90,
    ) -> None:
        self.directory = directory
        self.prefix = prefix
        self.idle_segment_s = idle_segment_s
        self.lift_in_progress = False
        self.frames_added = 0
        self.frames_dropped = 0
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._n = 0
        self._segment: _Segment | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._puts: set[asyncio.Task[None]] = set()  # commands waiting for room in the queue

    def add(self, frame: av.VideoFrame, t: float) -> bool:
        """Queue a frame taken at stream time t, s. False when dropped (queue full or closed)."""
        if self._closed:
            return False
        self._ensure_thread()
        try:
            self._queue.put_nowait(("frame", (frame, t)))
        except queue.Full:
            self.frames_dropped += 1
            return False
        self.frames_added += 1
        return True

    def cut(self) -> asyncio.Future[Recording | None]:
        """Close the current segment: queued now, behind every frame added so far, without
        waiting for the file to close; the future gets the segment (None when it holds no
        frame)."""
        fut: asyncio.Future[Recording | None] = self._enqueue("cut")
        return fut

    async def discard(self) -> None:
        """Delete the current segment (nothing worth keeping in it)."""
        await self._command("discard")

    async def close(self, *, keep: bool) -> Recording | None:
        """Stop the thread; keep (finish and return) or delete the open segment. Idempotent."""
        if self._closed:
            return None
        result: Recording | None = await self._command("keep" if keep else "discard")
        self._closed = True
        if self._thread is not None:
            await self._put_blocking(("stop", None))
            await asyncio.to_thread(self._thread.join)
        return result

    async def _command(self, name: str) -> Any:
        return await self._enqueue(name)

    def _enqueue(self, name: str) -> asyncio.Future[Any]:
        """Queue a command behind the frames added so far; the future gets its result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            fut.set_result(None)
            return fut
        try:
            self._queue.put_nowait((name, fut))
        except queue.Full:  # wait for room behind the queued frames, off the loop
            put = loop.create_task(self._put_blocking((name, fut)))
            self._puts.add(put)
            put.add_done_callback(self._puts.discard)
        return fut

    async def _put_blocking(self, item: tuple[str, Any]) -> None:
        # Commands must not be dropped: wait (off the loop) for room behind queued frames.
        await asyncio.to_thread(self._queue.put, item)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._thread = threading.Thread(
                target=self._run, name=f"recorder-{self.prefix}", daemon=True
            )
            self._thread.start()

    def _reply(self, fut: asyncio.Future[Any], value: Any) -> None:
        assert self._loop is not None

        def settle() -> None:
            if not fut.done():
                fut.set_result(value)

        with contextlib.suppress(RuntimeError):  # loop already closed at interpreter exit
            self._loop.call_soon_threadsafe(settle)

    def _run(self) -> None:
        while True:
            kind, arg = self._queue.get()
            if kind == "stop":
                if self._segment is not None:
                    self._segment.abandon()
                return
            if kind == "frame":
                self._write(*arg)
            elif kind in ("cut", "keep"):
                self._reply(arg, self._finish())
            elif kind == "discard":
                if self._segment is not None:
                    self._segment.abandon()
                    self._segment = None
                self._reply(arg, None)

    def _write(self, frame: av.VideoFrame, t: float) -> None:
        seg = self._segment
        if seg is not None and not self.lift_in_progress and t - seg.t0 > self.idle_segment_s:
            seg.abandon()
            seg = self._segment = None
        try:
            if seg is None:
                self._n += 1
                path = self.directory / f"{self.prefix}-{self._n}.mp4"
                seg = self._segment = _Segment(path, frame, t)
            seg.write(frame, t)
        except (av.FFmpegError, ValueError) as exc:
            # One bad frame must not lose the recording: log, count and go on.
            self.frames_dropped += 1
            log.warning("recorder %s: frame at t=%.3f not recorded: %s", self.prefix, t, exc)

    def _finish(self) -> Recording | None:
        seg, self._segment = self._segment, None
        if seg is None or seg.frames == 0:
            if seg is not None:
                seg.abandon()
            return None
        try:
            return seg.finish()
        except av.FFmpegError as exc:
            log.error("recorder %s: cannot finish %s: %s", self.prefix, seg.path, exc)
            return None
