"""Helpers for the stream tests: a disc clip with exact truth, a disc analyzer, a recording
finaliser, and an in-loop uvicorn server.

The disc analyzer measures a bright disc from the received pixels (centroid of a threshold), so
the transport tests check real measurements after VP8/H.264 encoding, RTP, decoding and
timestamping, without needing the pose model.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import uvicorn
from numpy.typing import NDArray
from starlette.applications import Starlette

from server.errors import NoLiftError
from server.stream.live import FinalisedSession, FinaliseRequest, LiveStep
from server.stream.protocol import Start
from server.stream.registry import StreamConfig, StreamRegistry
from server.stream.routes import fixed, stream_routes
from server.stream.session import StreamSession
from server.synth.trajectory import Trajectory, make_trajectory

TOKEN = "test-token"
USER = "user-1"


@dataclass(frozen=True)
class DiscClip:
    """A rendered disc clip. t: (N,) s. position_m: (N, 2) exact [x, y] of the disc centre.
    floor_y_px: image row of height 0. px_per_m: scale."""

    path: Path
    trajectory: Trajectory
    t: NDArray[np.float64]
    position_m: NDArray[np.float64]
    floor_y_px: float
    origin_x_px: float
    px_per_m: float
    size: tuple[int, int]


def render_disc_clip(
    path: Path,
    exercise: str = "snatch",
    *,
    fps: float = 30.0,
    size: tuple[int, int] = (480, 360),
    seed: int = 1,
    lift_start: float = 0.8,
    hold: float = 1.0,
) -> DiscClip:
    """A white disc (the plate) on a dark background following a synthetic bar path."""
    trajectory = make_trajectory(exercise, seed=seed, lift_start=lift_start, hold=hold)
    w, h = size
    ppm = h / 2.2
    floor_y, origin_x = 0.95 * h, 0.45 * w
    n = int(trajectory.duration * fps) + 1
    t = np.arange(n) / fps
    pos = trajectory.position(t)
    radius = 0.225 * ppm * 0.5  # a smaller disc keeps it in the frame at the top of the lift
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast"}
        for i in range(n):
            img = np.full((h, w, 3), 40, np.uint8)
            cx = origin_x + pos[i, 0] * ppm
            cy = floor_y - pos[i, 1] * ppm
            # 4 bits of sub-pixel precision keep the centre exact to 1/16 px.
            cv2.circle(
                img,
                (round(cx * 16), round(cy * 16)),
                round(radius * 16),
                (235, 235, 235),
                -1,
                cv2.LINE_AA,
                4,
            )
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return DiscClip(path, trajectory, t, pos, floor_y, origin_x, ppm, size)


class DiscAnalyzer:
    """Measures the disc: centroid -> metres, causal velocity, and a simple lift state machine
    emitting first_pull, turnover, catch, recovery (enough to test ordering on the wire)."""

    def __init__(self, clip: DiscClip, start: Start) -> None:
        self.clip = clip
        self.start = start
        self.steps = 0
        self._prev: tuple[float, float] | None = None
        self._rest_y: float | None = None
        self._state = "idle"
        self._still_since: float | None = None
        self._peak = 0.0

    async def step(self, rgb: NDArray[np.uint8], t: float) -> LiveStep:
        self.steps += 1
        w, h = self.clip.size
        if rgb.shape[:2] != (h, w):  # a sender that scaled the frame: measure at truth scale
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        gray = rgb[:, :, 1].astype(np.float32)
        weight = np.clip((gray - 60.0) / 160.0, 0.0, 1.0)
        m = weight.sum()
        if m < 10:
            return LiveStep(t=t, center_px=None, position_m=None, vy_mps=None, confidence=0.0)
        ys, xs = np.indices(weight.shape)
        cx, cy = float((xs * weight).sum() / m), float((ys * weight).sum() / m)
        x_m = (cx - self.clip.origin_x_px) / self.clip.px_per_m
        y_m = (self.clip.floor_y_px - cy) / self.clip.px_per_m
        vy = 0.0
        if self._prev is not None and t > self._prev[0]:
            vy = (y_m - self._prev[1]) / (t - self._prev[0])
        self._prev = (t, y_m)
        if self._rest_y is None:
            self._rest_y = y_m
        phases: list[tuple[str, float]] = []
        started = ended = False
        if self._state == "idle" and y_m > self._rest_y + 0.02:
            self._state, started = "pull", True
            phases.append(("first_pull", t))
        elif self._state == "pull":
            self._peak = max(self._peak, vy)
            if self._peak > 1.0 and vy < 0.0:
                self._state = "turnover"
                phases.append(("turnover", t))
        elif self._state == "turnover" and vy > 0.0:
            self._state = "catch"
            phases.append(("catch", t))
        elif self._state == "catch" and vy > 0.3:
            self._state = "recovery"
            phases.append(("recovery", t))
        elif self._state == "recovery":
            if abs(vy) < 0.05:
                self._still_since = self._still_since if self._still_since is not None else t
                if t - self._still_since > 0.4:
                    self._state, ended = "done", True
            else:
                self._still_since = None
        return LiveStep(
            t=t,
            center_px=np.array([cx, cy]),
            position_m=np.array([x_m, y_m]),
            vy_mps=vy,
            confidence=1.0,
            keypoints=np.zeros((33, 3), np.float32) if self.start.want_keypoints else None,
            phases=tuple(phases),
            lift_started=started,
            lift_ended=ended,
        )

    def end_lift(self, t: float) -> tuple[tuple[str, float], ...]:
        self._state = "idle"
        return ()


@dataclass
class RecordingFinaliser:
    """Accepts a recorded lift when its MP4 decodes; keeps what it was given."""

    requests: list[FinaliseRequest] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    delay_s: float = 0.0

    async def __call__(self, request: FinaliseRequest) -> FinalisedSession:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        frames = await asyncio.to_thread(count_frames, request.video)
        self.frames.append(frames)
        if frames == 0:
            raise NoLiftError(f"{request.video} holds no frame")
        sid = uuid.uuid4().hex
        return FinalisedSession(sid, {"details": f"/api/v1/sessions/{sid}"})


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


async def verify(token: str) -> str | None:
    return USER if token == TOKEN else None


def make_app(registry: StreamRegistry) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await registry.close_all()

    return Starlette(routes=stream_routes(fixed(registry, verify)), lifespan=lifespan)


def make_registry(
    tmp: Path, clip: DiscClip | None, finaliser: RecordingFinaliser | None = None, **config: object
) -> StreamRegistry:
    def factory(start: Start) -> DiscAnalyzer:
        assert clip is not None
        return DiscAnalyzer(clip, start)

    cfg = StreamConfig(recordings_dir=tmp / "recordings", loopback_ice=True, **config)  # type: ignore[arg-type]
    return StreamRegistry(cfg, factory, finaliser)


@contextlib.asynccontextmanager
async def running_server(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def wait_until(condition: object, timeout: float = 10.0) -> bool:
    """Poll a zero-argument callable until it is true; False after timeout seconds."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


async def started_session(
    tmp_path: Path, analyzer: object, finaliser: RecordingFinaliser | None = None
) -> tuple[StreamRegistry, StreamSession]:
    """A WebSocket-transport session of a fresh registry whose every `start` gets `analyzer`,
    with `start` (a snatch) handled: frames handed to it are analysed at once."""
    registry = StreamRegistry(
        StreamConfig(recordings_dir=tmp_path / "recordings"),
        lambda start: analyzer,  # type: ignore[arg-type, return-value]
        finaliser or RecordingFinaliser(),
    )
    session = registry.open_session("user-1", "websocket")
    session.enqueue(Start(exercise="snatch"))
    await session.handled()
    return registry, session
