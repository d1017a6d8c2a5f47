"""The app's registry of live connections: creates sessions, owns background finalisations, and
closes everything at shutdown (`close_all`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.stream.live import AnalyzerFactory, Finaliser
from server.stream.metrics import StreamMetrics
from server.stream.recorder import Recorder
from server.stream.session import SessionDeps, StreamSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamConfig:
    """Stream settings. recordings_dir: where original videos are written (one folder per
    connection). ice_servers: STUN/TURN URLs for the answering peer. loopback_ice: offer
    127.0.0.1 host candidates (tests and benchmarks on a loopback-only network).
    max_connections: refuse new connections beyond this. channel_timeout_s / frame_timeout_s:
    close a connection whose data channel never opens / whose frames stop. finalise_timeout_s: how long shutdown
    waits for lifts still being finalised."""

    recordings_dir: Path
    ice_servers: tuple[str, ...] = ()
    loopback_ice: bool = False
    max_connections: int = 16
    channel_timeout_s: float = 15.0
    frame_timeout_s: float = 10.0
    idle_segment_s: float = 60.0
    finalise_timeout_s: float = 120.0


class StreamRegistry:
    """All open stream sessions of one app."""

    def __init__(
        self,
        config: StreamConfig,
        analyzer_factory: AnalyzerFactory,
        finaliser: Finaliser | None,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or StreamMetrics()
        self._analyzer_factory = analyzer_factory
        self._finaliser = finaliser
        self._sessions: dict[str, StreamSession] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def sessions(self) -> list[StreamSession]:
        return list(self._sessions.values())

    @property
    def background_count(self) -> int:
        return len(self._background)

    def full(self) -> bool:
        return self._closing or len(self._sessions) >= self.config.max_connections

    def open_session(self, user_id: str, transport: str, *, base_url: str = "") -> StreamSession:
        """A new session with a fresh unguessable connection id. base_url: the origin the client
        reached (for the URLs of its finalised sessions)."""
        if self._closing:
            raise RuntimeError("the stream registry is shutting down")
        connection_id = secrets.token_urlsafe(9)
        deps = SessionDeps(
            analyzer_factory=self._analyzer_factory,
            finaliser=self._finaliser,
            recorder_factory=self._recorder,
            spawn_background=self._spawn_background,
            channel_timeout_s=self.config.channel_timeout_s,
            frame_timeout_s=self.config.frame_timeout_s,
        )
        session = StreamSession(
            connection_id,
            user_id,
            transport,
            deps,
            self.metrics.connection(connection_id),
            on_closed=self._forget,
            base_url=base_url,
        )
        self._sessions[connection_id] = session
        log.info("stream %s opened (%s, user %s)", connection_id, transport, user_id)
        return session

    def _recorder(self, connection_id: str) -> Recorder:
        return Recorder(
            self.config.recordings_dir / connection_id,
            "lift",
            idle_segment_s=self.config.idle_segment_s,
        )

    def _forget(self, session: StreamSession) -> None:
        self._sessions.pop(session.connection_id, None)
        folder = self.config.recordings_dir / session.connection_id
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: kept recordings stay

    def _spawn_background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)

    async def wait_background(self, timeout: float | None = None) -> None:
        """Wait for finalisations under way (tests and shutdown), and for those they start (a
        lift's cut starts its finalisation)."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while running := [t for t in self._background if not t.done()]:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                return
            await asyncio.wait(running, timeout=left)

    async def close_all(self) -> None:
        """Close every session, then wait (bounded) for finalisations already started."""
        self._closing = True
        sessions = list(self._sessions.values())
        await asyncio.gather(*(s.close("server shutdown") for s in sessions))
        if self._background:
            await self.wait_background(self.config.finalise_timeout_s)
            pending = [t for t in self._background if not t.done()]
            for task in pending:
                log.warning("shutdown: cancelling %s", task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
