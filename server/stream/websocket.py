"""WebSocket ingest: the same protocol for clients without WebRTC, with JPEG frames in msgpack
`frame` messages. Authentication is the bearer token in the `token` query parameter (browsers
cannot set headers on a WebSocket) or an Authorization header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time

import cv2
import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.stream import protocol as p
from server.stream.registry import StreamRegistry
from server.stream.session import IncomingFrame, StreamSession

log = logging.getLogger(__name__)

# Larger frames are refused before decoding (a small JPEG can declare a huge size).
MAX_FRAME_PIXELS = 1920 * 1920
_OUTBOX_LIMIT = 256


class _WebSocketSink:
    """A WebSocket as the session's sink: sends go through a queue written by one task, so
    send() never blocks and buffered_amount() is the bytes not yet written."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_OUTBOX_LIMIT)
        self._buffered = 0
        self._open = True

    def is_open(self) -> bool:
        return self._open

    def buffered_amount(self) -> int:
        return self._buffered

    def send(self, data: bytes) -> None:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            raise ConnectionError("websocket outbox full") from None
        self._buffered += len(data)

    def stop(self) -> None:
        self._open = False
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def write(self) -> None:
        while (data := await self._queue.get()) is not None:
            self._buffered -= len(data)
            try:
                await self._ws.send_bytes(data)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._open = False
                return


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, or None when it is not a JPEG."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def decode_jpeg(data: bytes) -> np.ndarray:
    """RGB (H, W, 3) uint8 from JPEG bytes. Raises ProtocolError for bad or oversized images."""
    size = jpeg_size(data)
    if size is None:
        raise p.ProtocolError("bad_frame", "frame.jpeg is not a JPEG image")
    if size[0] * size[1] > MAX_FRAME_PIXELS or min(size) < 16:
        raise p.ProtocolError(
            "bad_frame",
            f"frame of {size[0]}x{size[1]} px is outside 16 px .. {MAX_FRAME_PIXELS} px",
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise p.ProtocolError("bad_frame", "frame.jpeg could not be decoded")
    rgb: np.ndarray = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return rgb


def websocket_token(ws: WebSocket) -> str | None:
    token = ws.query_params.get("token")
    if token:
        return token
    header = ws.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def serve_websocket(
    ws: WebSocket, registry: StreamRegistry, user_id: str | None, *, base_url: str = ""
) -> None:
    """Run one WebSocket connection; user_id is the verified token's user (None: refuse)."""
    if user_id is None:
        await ws.close(code=4401, reason="missing or invalid bearer token")
        return
    if registry.full():
        await ws.close(code=1013, reason="server busy")
        return
    await ws.accept()
    session = registry.open_session(user_id, "websocket", base_url=base_url)
    sink = _WebSocketSink(ws)
    # Not one of the session's tasks, which close() cancels before the closers run: the writer
    # must live on to flush what the session sent last (a fatal error, say) before the socket
    # closes. close_socket() always awaits it.
    writer = asyncio.get_running_loop().create_task(
        sink.write(), name=f"{session.connection_id}:ws-writer"
    )

    async def close_socket() -> None:
        sink.stop()
        try:
            await asyncio.wait_for(writer, timeout=2.0)  # cancels it when the client is stuck
        except TimeoutError:
            log.info("stream %s: websocket outbox not flushed in 2 s", session.connection_id)
        except Exception:
            log.exception("stream %s: websocket writer failed", session.connection_id)
        with contextlib.suppress(Exception):
            await ws.close()

    session.add_closer(close_socket)
    session.attach_sink(sink)
    try:
        await _receive(ws, session)
    finally:
        await session.close("websocket closed")


async def _receive(ws: WebSocket, session: StreamSession) -> None:
    t_first: float | None = None
    index = 0
    while not session.closed.is_set():
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            data = message.get("text", "")
        arrival = time.perf_counter()
        try:
            decoded = p.decode(data, allow_frames=True)
            if not isinstance(decoded, p.Frame):
                session.enqueue(decoded)
                await session.handled()  # one ordered stream: a `start` applies to what follows
                continue
            rgb = decode_jpeg(decoded.jpeg)
        except p.ProtocolError as exc:
            session.reject(exc)
            continue
        if t_first is None:
            t_first = decoded.t
        session.frame_arrived(
            IncomingFrame(index=index, t=decoded.t - t_first, arrival=arrival, rgb=rgb)
        )
        index += 1
