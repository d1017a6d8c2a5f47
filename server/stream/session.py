"""One object per live connection, whatever the transport (WebRTC or WebSocket).

A StreamSession owns the connection's tasks, its latest-frame slot, its analyzer, its outgoing
message sink and its recorder. The transport feeds it (`frame_arrived`, `message_arrived`,
`attach_sink`) and it answers with protocol messages. Frames go to the recorder (every frame) and
to the slot (the analysis takes the newest). `close()` is idempotent and safe from any path: hang
up, a failed task, a timeout or server shutdown; a lift that had started keeps its recording and is
finalised in the background even when the client has vanished.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import av
import numpy as np
from numpy.typing import NDArray

from server.errors import LiftStreamError, NoLiftError
from server.stream import protocol as p
from server.stream.live import (
    AnalyzerFactory,
    Finaliser,
    FinaliseRequest,
    LiftLog,
    LiveAnalyzer,
    LiveStep,
)
from server.stream.metrics import ConnectionMetrics
from server.stream.recorder import Recorder, Recording
from server.stream.slot import LatestSlot, SlotClosed

log = logging.getLogger(__name__)

# Samples are dropped (not queued) while the channel holds more than this: a client on a slow
# link gets fewer, fresher samples instead of a growing delay. Phase, summary and session
# messages are always sent.
SAMPLE_BUFFER_LIMIT = 256 * 1024
# Load shedding. A frame's delay is its arrival time (server clock) minus its stream time, less
# the smallest such difference seen (the transport's own delay and the clocks' offset). It grows
# when the server reads the connection slower than the stream plays, which happens when the
# machine is overloaded: everything queues before the server sees it (in the socket), where no
# latest-frame slot can drop it. A frame more than MAX_FRAME_DELAY_S late is then recorded but
# not analysed, which frees the CPU until the server is caught up again. The baseline creeps up
# by BASELINE_CREEP (1 ms a second, far above real clock drift) so a sender's clock running slow
# cannot make every frame look late forever.
MAX_FRAME_DELAY_S = 0.1
BASELINE_CREEP = 1e-3
# Client messages waiting to be handled; a client that floods beyond this is told and ignored.
INBOX_SIZE = 64


@dataclass(frozen=True)
class IncomingFrame:
    """A received frame. index: arrival order. t: s, stream clock (0 = first frame).
    arrival: time.perf_counter() when the server got it. Exactly one of video / rgb is set."""

    index: int
    t: float
    arrival: float
    video: av.VideoFrame | None = None
    rgb: NDArray[np.uint8] | None = None

    def to_rgb(self) -> NDArray[np.uint8]:
        if self.rgb is not None:
            return self.rgb
        assert self.video is not None
        rgb: NDArray[np.uint8] = self.video.to_ndarray(format="rgb24")  # type: ignore[assignment]
        return rgb

    def to_video(self) -> av.VideoFrame:
        if self.video is not None:
            return self.video
        assert self.rgb is not None
        return av.VideoFrame.from_ndarray(self.rgb, format="rgb24")


class MessageSink(Protocol):
    """The transport's outgoing side (a data channel or a WebSocket)."""

    def is_open(self) -> bool: ...

    def buffered_amount(self) -> int: ...

    def send(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class SessionDeps:
    """What a session needs from the app. spawn_background runs a coroutine that may outlive the
    session (a lift's finalisation); the registry owns it and awaits it at shutdown."""

    analyzer_factory: AnalyzerFactory
    finaliser: Finaliser | None
    recorder_factory: Callable[[str], Recorder]
    spawn_background: Callable[[Coroutine[Any, Any, None], str], None]
    channel_timeout_s: float = 15.0
    frame_timeout_s: float = 10.0


class StreamSession:
    """One connection's analysis and recording. Create, attach a sink, feed frames and messages."""

    def __init__(
        self,
        connection_id: str,
        user_id: str,
        transport: str,
        deps: SessionDeps,
        metrics: ConnectionMetrics,
        on_closed: Callable[[StreamSession], None] | None = None,
        base_url: str = "",
    ) -> None:
        self.connection_id = connection_id
        self.base_url = base_url
        self.user_id = user_id
        self.transport = transport
        self.metrics = metrics
        self._deps = deps
        self._on_closed = on_closed
        self._sink: MessageSink | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slot: LatestSlot[IncomingFrame] = LatestSlot()
        self._step_lock = asyncio.Lock()
        self._recorder = deps.recorder_factory(connection_id)
        self._start: p.Start | None = None
        self._analyzer: LiveAnalyzer | None = None
        self._lift: LiftLog | None = None
        self._lifts = 0
        self._lift_seen = False
        self._last_arrival: float | None = None
        self._delay_base: float | None = None  # smallest arrival - t seen (see MAX_FRAME_DELAY_S)
        self._delay_t = 0.0
        self._started_at: float | None = None  # perf_counter() of the first `start`
        self._last_t = 0.0
        self._frames = 0
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[p.ClientMessage] = asyncio.Queue(maxsize=INBOX_SIZE)
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.spawn(self._process(), "process")
        self.spawn(self._read_inbox(), "inbox")
        self.spawn(self._watchdog(), "watchdog")

    # ------------------------------------------------------------ tasks

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a task owned by this connection; a failure is logged with the id and closes it."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.connection_id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "stream %s: task %s failed", self.connection_id, task.get_name(), exc_info=exc
            )
            self.send(p.Error("internal", "the server hit an internal error", fatal=True))
            self.close_soon(f"task {task.get_name()} failed")

    @property
    def task_count(self) -> int:
        return len(self._tasks)

    def add_closer(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Something of the transport's to close with the session (e.g. the peer connection)."""
        self._closers.append(closer)

    # ------------------------------------------------------------ outgoing

    def attach_sink(self, sink: MessageSink) -> None:
        self._sink = sink
        self.send(p.Hello(connection_id=self.connection_id, transport=self.transport))

    def send(self, message: p.ServerMessage, *, low_priority: bool = False) -> bool:
        """Send if the channel is open; a low-priority message is dropped when the buffer is high."""
        sink = self._sink
        if sink is None or not sink.is_open():
            if low_priority:
                self.metrics.count("dropped_samples")
            return False
        if low_priority and sink.buffered_amount() > SAMPLE_BUFFER_LIMIT:
            self.metrics.count("dropped_samples")
            return False
        try:
            sink.send(p.encode(message))
        except (ConnectionError, RuntimeError, OSError) as exc:
            # The channel closed between the check and the send: the hang-up path closes us.
            log.debug("stream %s: send failed: %s", self.connection_id, exc)
            return False
        return True

    # ------------------------------------------------------------ incoming

    def frame_arrived(self, frame: IncomingFrame) -> None:
        """Called by the transport for every received frame (never blocks)."""
        self.metrics.count("frames_received")
        self._frames += 1
        self._last_arrival = frame.arrival
        offset, base = frame.arrival - frame.t, self._delay_base
        creep = BASELINE_CREEP * (frame.t - self._delay_t)
        self._delay_base = offset if base is None else min(offset, base + creep)
        self._delay_t = frame.t
        if self._start is None or self._closing:
            return  # nothing to analyse for until the client says what it lifts
        if self._recorder.add(frame.to_video(), frame.t):
            self.metrics.count("recorded_frames")
        else:
            self.metrics.count("dropped_recording_frames")
        before = self._slot.dropped
        self._slot.put(frame)
        if self._slot.dropped != before:
            self.metrics.count("dropped_frames")

    def track_ended(self) -> None:
        """The transport has no more frames: the processor finishes what is in the slot."""
        self._last_arrival = None  # an ended track is not a vanished client
        self._slot.close()

    def message_arrived(self, data: bytes | str) -> None:
        """Called by the transport for each client control message (never blocks)."""
        try:
            message = p.decode(data)
        except p.ProtocolError as exc:
            self.reject(exc)
            return
        self.enqueue(message)

    def reject(self, exc: p.ProtocolError) -> None:
        """Tell the client its message was refused (and log it); the connection goes on."""
        log.info("stream %s: rejected message: %s", self.connection_id, exc.detail)
        self.send(p.Error(exc.code, exc.detail))

    def enqueue(self, message: p.ClientMessage) -> None:
        """Queue a decoded control message for handling in order."""
        if self._closing:
            return
        try:
            self._inbox.put_nowait(message)
        except asyncio.QueueFull:
            self.send(p.Error("too_many_messages", f"more than {INBOX_SIZE} messages queued"))

    async def handled(self) -> None:
        """Wait until the control messages queued so far have been handled (or the session has
        closed). A transport that is one ordered stream (the WebSocket) waits here, so the frames
        after a `start` are not read before the `start` has taken effect."""
        await self._inbox.join()

    async def _read_inbox(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await self.handle(message)
            finally:
                self._inbox.task_done()

    async def handle(self, message: p.ClientMessage) -> None:
        if isinstance(message, p.Ping):
            self.send(p.Pong(t=message.t, server_time=time.monotonic()))
        elif isinstance(message, p.Start):
            await self._on_start(message)
        elif isinstance(message, p.End):
            await self._on_end()
        else:  # Frame messages are the WebSocket transport's business
            self.send(p.Error("bad_type", f"{message.TYPE} is not accepted on this transport"))

    async def _on_start(self, start: p.Start) -> None:
        async with self._step_lock:
            if self._lift is not None:
                self.send(p.Error("lift_in_progress", "start ignored: a lift is under way"))
                return
            self._start = start
            if self._started_at is None:
                self._started_at = time.perf_counter()
            self._lift_seen = False
            await self._close_analyzer()
            try:
                self._analyzer = self._deps.analyzer_factory(start)
            except LiftStreamError as exc:
                # No live numbers, but the recording goes on and `end` still finalises it.
                self._analyzer = None
                log.warning("stream %s: no live analysis: %s", self.connection_id, exc)
                self.send(p.Error("analysis_unavailable", f"no live analysis: {exc}"))
            log.info(
                "stream %s: start %s (%.1f kg)",
                self.connection_id,
                start.exercise,
                start.barbell_mass_kg,
            )

    async def _on_end(self) -> None:
        async with self._step_lock:
            pending = self._slot.take_nowait()
            if pending is not None:
                await self._analyse(pending)
            lift = await self._finish_lift(self._last_t, by_client=True)
            self.send(p.Ended(lift=lift))

    # ------------------------------------------------------------ analysis

    async def _process(self) -> None:
        while True:
            try:
                frame = await self._slot.get()
            except SlotClosed:
                break
            async with self._step_lock:
                await self._analyse(frame)
        async with self._step_lock:
            if self._lift is not None:
                await self._finish_lift(self._last_t, by_client=False)

    def frame_delay(self, frame: IncomingFrame) -> float:
        """How much later than the stream's own pace the server received `frame`, s."""
        if self._delay_base is None:
            return 0.0
        return max(0.0, frame.arrival - frame.t - self._delay_base)

    async def _analyse(self, frame: IncomingFrame) -> None:
        analyzer = self._analyzer
        if analyzer is None:
            return
        if self.frame_delay(frame) > MAX_FRAME_DELAY_S:
            self.metrics.count("late_frames")
            return
        began = time.perf_counter()
        try:
            step = await analyzer.step(frame.to_rgb(), frame.t)
        except (LiftStreamError, ValueError) as exc:
            # One bad frame is skipped; the recording keeps it.
            self.metrics.count("frame_errors")
            log.warning("stream %s: frame %d skipped: %s", self.connection_id, frame.index, exc)
            return
        self.metrics.processing(time.perf_counter() - began)
        self.metrics.count("frames_processed")
        self._last_t = frame.t
        await self._publish(step, frame)

    async def _publish(self, step: LiveStep, frame: IncomingFrame) -> None:
        if step.lift_cancelled and self._lift is not None:
            cancelled, self._lift = self._lift, None
            self._lifts -= 1  # the number goes to the next lift
            self._recorder.lift_in_progress = False
            self.send(p.LiftCancelled(lift=cancelled.lift, t=round(step.t, 4)))
        if step.lift_started and self._lift is None:
            self._lifts += 1
            self._lift = LiftLog(lift=self._lifts, start_t=step.t)
            self._recorder.lift_in_progress = True
        if self._lift is not None:
            self._lift.add(step)
        if step.center_px is not None:
            keypoints = None
            if (
                self._start is not None
                and self._start.want_keypoints
                and step.keypoints is not None
            ):
                keypoints = np.round(step.keypoints.astype(np.float64), 2).tolist()
            pos = step.position_m
            sample = p.Sample(
                t=round(step.t, 4),
                x_px=round(float(step.center_px[0]), 2),
                y_px=round(float(step.center_px[1]), 2),
                x_m=None if pos is None else round(float(pos[0]), 4),
                y_m=None if pos is None else round(float(pos[1]), 4),
                vy_mps=None if step.vy_mps is None else round(float(step.vy_mps), 4),
                confidence=round(float(step.confidence), 3),
                frame=frame.index,
                keypoints=keypoints,
            )
            if self.send(sample, low_priority=True):
                self.metrics.count("samples_sent")
                self.metrics.latency(time.perf_counter() - frame.arrival)
        lift = self._lift.lift if self._lift is not None else self._lifts
        for name, t in step.phases:
            self.send(p.Phase(name=name, t=round(t, 4), lift=lift))
        if step.lift_ended and self._lift is not None:
            await self._finish_lift(step.t, by_client=False)

    async def _finish_lift(self, end_t: float, *, by_client: bool) -> int | None:
        """Close the current lift: summary, cut the recording, finalise in the background.

        A client's `end` with no lift under way finalises the recording only when no lift was
        seen since `start` (the offline analysis may still find one the live detector missed);
        after a lift that already ended by itself it just drops the idle recording.
        """
        lift_log, self._lift = self._lift, None
        if lift_log is not None:
            if by_client and self._analyzer is not None:
                for name, t in self._analyzer.end_lift(end_t):
                    lift_log.phases.append((name, t))
                    self.send(p.Phase(name=name, t=round(t, 4), lift=lift_log.lift))
            self.send(lift_log.summary(end_t))
        elif not by_client or self._start is None:
            return None
        elif self._lift_seen:
            await self._recorder.discard()
            return None
        else:
            self._lifts += 1  # the client ended a lift the live detector had not seen
        self._lift_seen = True
        self._recorder.lift_in_progress = False
        # The cut is queued behind the lift's frames; the frames after it are analysed while the
        # recorder closes the file.
        cut = self._recorder.cut()
        lift = self._lifts if lift_log is None else lift_log.lift
        # Not a task of this connection (those are cancelled when it closes): the lift's
        # recording is finalised even if the client hangs up now.
        self._deps.spawn_background(
            self._finalise_when_cut(cut, lift_log, end_t, lift), f"{self.connection_id}:cut-{lift}"
        )
        return lift

    async def _finalise_when_cut(
        self,
        cut: asyncio.Future[Recording | None],
        lift_log: LiftLog | None,
        end_t: float,
        lift: int,
    ) -> None:
        self._queue_finalise(await cut, lift_log, end_t, lift)

    def _queue_finalise(
        self, recording: Recording | None, lift_log: LiftLog | None, end_t: float, lift: int
    ) -> None:
        start = self._start
        if recording is None or start is None:
            self.send(p.Error("no_recording", f"lift {lift}: no frames were recorded", lift=lift))
            return
        request = FinaliseRequest(
            video=recording.path,
            start=start,
            lift=lift,
            user_id=self.user_id,
            connection_id=self.connection_id,
            video_t0=recording.t0,
            lift_start_t=None if lift_log is None else lift_log.start_t,
            lift_end_t=end_t,
            base_url=self.base_url,
        )
        log.info("stream %s: lift %d recorded in %s", self.connection_id, lift, recording.path)
        self._deps.spawn_background(self._finalise(request), f"{self.connection_id}:finalise")

    async def _finalise(self, request: FinaliseRequest) -> None:
        finaliser = self._deps.finaliser
        if finaliser is None:
            self.send(
                p.Error(
                    "not_finalised", "this server does not store live sessions", lift=request.lift
                )
            )
            return
        try:
            stored = await finaliser(request)
        except NoLiftError as exc:
            self.send(p.Error("no_lift", f"lift {request.lift}: {exc}", lift=request.lift))
            return
        except LiftStreamError as exc:
            log.warning(
                "stream %s: lift %d not finalised: %s", self.connection_id, request.lift, exc
            )
            self.send(p.Error("finalise_failed", f"lift {request.lift}: {exc}", lift=request.lift))
            return
        self.send(p.SessionReady(lift=request.lift, session_id=stored.session_id, urls=stored.urls))

    # ------------------------------------------------------------ closing

    async def _watchdog(self) -> None:
        """Close a connection whose message channel never opens, whose frames stop coming (a
        client that vanished without hanging up: ICE consent takes ~30 s to notice), or that sent
        `start` and then no frame that could be decoded."""
        deps = self._deps
        began = time.perf_counter()
        while True:
            await asyncio.sleep(min(1.0, deps.channel_timeout_s, deps.frame_timeout_s))
            now = time.perf_counter()
            if self._sink is None and now - began > deps.channel_timeout_s:
                log.info(
                    "stream %s: no message channel after %.0f s",
                    self.connection_id,
                    deps.channel_timeout_s,
                )
                self.close_soon("message channel never opened")
                return
            waiting_since = self._last_arrival
            if waiting_since is None and self._frames == 0:
                # Started, but not one frame decoded since (undecodable video, or none sent).
                waiting_since = self._started_at
            if waiting_since is not None and now - waiting_since > deps.frame_timeout_s:
                reason = f"no frame for {deps.frame_timeout_s:.0f} s"
                detail = f"no video frame for {deps.frame_timeout_s:.0f} s: closing the connection"
                self.send(p.Error("no_video", detail, fatal=True))
                self.close_soon(reason)
                return

    def close_soon(self, reason: str) -> None:
        """Close from a callback that cannot await (the task is kept until it is done)."""
        if self._closing or self._close_task is not None:
            return
        self._close_task = asyncio.get_running_loop().create_task(
            self.close(reason), name=f"{self.connection_id}:close"
        )

    async def _close_analyzer(self) -> None:
        """Let the analyzer finish work it runs beside the frames (an optional `aclose`)."""
        analyzer, self._analyzer = self._analyzer, None
        aclose = getattr(analyzer, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                log.exception("stream %s: the analyzer did not close cleanly", self.connection_id)

    async def close(self, reason: str = "closed") -> None:
        """Stop everything this connection owns. Idempotent; never raises."""
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        self.close_reason = reason
        try:
            self._slot.close()
            current = asyncio.current_task()
            tasks = [t for t in self._tasks if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_analyzer()
            while not self._inbox.empty():  # never to be handled: release handled() waiters
                self._inbox.get_nowait()
                self._inbox.task_done()
            lift_log, self._lift = self._lift, None
            try:
                recording = await self._recorder.close(keep=lift_log is not None)
                if lift_log is not None:
                    # The client vanished mid-lift: keep and finalise what was recorded.
                    self._queue_finalise(recording, lift_log, self._last_t, lift_log.lift)
            except Exception:
                log.exception("stream %s: recorder did not close cleanly", self.connection_id)
            for closer in self._closers:
                try:
                    await closer()
                except Exception:
                    log.exception("stream %s: transport did not close cleanly", self.connection_id)
        finally:
            # Even when a closer fails or this close is cancelled, the session is done: waiters
            # wake and the registry forgets it.
            self._sink = None
            self.metrics.finish()
            log.info("stream %s closed: %s", self.connection_id, reason)
            self.closed.set()
            if self._on_closed is not None:
                self._on_closed(self)
