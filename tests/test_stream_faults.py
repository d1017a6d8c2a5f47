"""Faults on a real server (uvicorn on 127.0.0.1, aiortc clients, a raw WebSocket client): a client
that vanishes mid-lift, a data channel that never opens, unsupported or corrupt video, garbage and
oversized messages, connections opened and dropped in a loop; and /metrics after a clip.

The analysis is tests.stream_support's disc analyzer (the real one is covered elsewhere); the
transports, sessions, recorder and registry are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fractions
import gc
import re
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import cv2
import httpx
import msgpack
import numpy as np
import pytest
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from server.stream import protocol as p
from server.stream.client import ClipTrack, stream_clip
from server.stream.ice import use_loopback_candidates
from server.stream.session import StreamSession
from tests.stream_support import (
    TOKEN,
    DiscClip,
    RecordingFinaliser,
    count_frames,
    make_app,
    make_registry,
    render_disc_clip,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.slow

# Short watchdog limits, so a fault is noticed in seconds rather than the production 10-15 s.
FAULT_CONFIG: dict[str, Any] = {"channel_timeout_s": 2.0, "frame_timeout_s": 2.0}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> DiscClip:
    """A 30 fps snatch whose lift starts at 0.5 s."""
    path = tmp_path_factory.mktemp("clip") / "disc.mp4"
    return render_disc_clip(path, "snatch", lift_start=0.5, hold=0.6)


# ---------------------------------------------------------------- a hand-driven WebRTC client


@dataclass
class Peer:
    """One aiortc client connection. messages: what the server sent, decoded."""

    pc: RTCPeerConnection
    channel: RTCDataChannel | None
    track: MediaStreamTrack | None
    connection_id: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def wait_for(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first server message of this type (and field values); fails after timeout."""

        def found() -> dict[str, Any] | None:
            for m in self.of_type(kind):
                if all(m.get(k) == v for k, v in match.items()):
                    return m
            return None

        assert await wait_until(lambda: found() is not None, timeout), (kind, match, self.messages)
        message = found()
        assert message is not None
        return message

    def send(self, data: bytes | str) -> None:
        assert self.channel is not None
        self.channel.send(data)


async def post_offer(url: str, sdp: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/api/v1/stream/offer",
            json={"sdp": sdp, "type": "offer"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )


async def open_peer(
    url: str,
    track: MediaStreamTrack | None,
    *,
    channel: bool = True,
    apply_answer: bool = True,
    munge: Callable[[str], str] | None = None,
) -> Peer:
    """Offer (optionally rewritten by munge) and apply the answer; returns once the answer is in
    (the channel may not be open yet: await peer.opened)."""
    use_loopback_candidates(True)
    pc = RTCPeerConnection()
    peer = Peer(pc, pc.createDataChannel("liftstream") if channel else None, track)
    if peer.channel is not None:
        peer.channel.on("open", peer.opened.set)

        @peer.channel.on("message")
        def on_message(data: bytes | str) -> None:
            assert isinstance(data, bytes)
            peer.messages.append(p.decode_server(data))

    if track is not None:
        pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    response = await post_offer(url, munge(sdp) if munge else sdp)
    assert response.status_code == 200, response.text
    answer = response.json()
    peer.connection_id = answer["connection_id"]
    if apply_answer:
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    return peer


def vanish(pc: RTCPeerConnection) -> None:
    """Cut the client's network silently: its UDP sockets close without DTLS close_notify, SCTP
    ABORT or RTCP BYE, as when a phone leaves the Wi-Fi. The server only sees packets stop."""
    ice = pc.sctp.transport.transport if pc.sctp is not None else None
    assert ice is not None
    for protocol in ice.iceGatherer._connection._protocols:
        protocol.transport.close()


def session_tasks(connection_ids: set[str]) -> list[asyncio.Task[Any]]:
    """Live asyncio tasks owned by these connections (their names start with the id)."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t.get_name().split(":", 1)[0] in connection_ids
    ]


def start(**fields: Any) -> bytes:
    return p.encode(p.Start(exercise="snatch", **fields))


# ---------------------------------------------------------------- a raw WebSocket client


class WsClient:
    """A minimal WebSocket client (wsproto over an asyncio stream) that sends whatever it is
    given, reads messages one by one, and can drop the TCP connection without a closing
    handshake."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._messages: deque[bytes | str] = deque()
        self._parts: list[bytes | str] = []
        self.close_code: int | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, token: str | None = TOKEN) -> AsyncIterator[WsClient]:
        address = urlsplit(url)
        assert address.hostname is not None and address.port is not None
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        client = cls(reader, writer)
        target = "/api/v1/stream/ws" + (f"?token={token}" if token else "")
        try:
            await client._write(Request(host=address.netloc, target=target))
            event = await client._next_event()
            if isinstance(event, RejectConnection):
                client.close_code = event.status_code
            else:
                assert isinstance(event, AcceptConnection), event
            yield client
        finally:
            client.drop()

    async def _write(self, event: Any) -> None:
        self._writer.write(self._ws.send(event))
        await self._writer.drain()

    async def _next_event(self) -> Any:
        while True:
            for event in self._ws.events():
                return event
            data = await self._reader.read(65536)
            if not data:  # the server went: wsproto reports an abnormal close once
                self._ws.receive_data(None)
                for event in self._ws.events():
                    return event
                raise ConnectionResetError("the server closed the connection")
            self._ws.receive_data(data)

    async def send(self, data: bytes | str) -> None:
        await self._write(BytesMessage(data) if isinstance(data, bytes) else TextMessage(data))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next server message, decoded; None once the server has closed the socket."""
        async with asyncio.timeout(timeout):
            while not self._messages:
                if self.close_code is not None:
                    return None
                event = await self._next_event()
                if isinstance(event, BytesMessage | TextMessage):
                    self._parts.append(event.data)
                    if event.message_finished:
                        self._messages.append(b"".join(self._parts))  # type: ignore[arg-type]
                        self._parts = []
                elif isinstance(event, Ping):
                    await self._write(event.response())
                elif isinstance(event, CloseConnection):
                    self.close_code = event.code
                    with contextlib.suppress(Exception):
                        await self._write(event.response())
        data = self._messages.popleft()
        assert isinstance(data, bytes)
        return p.decode_server(data)

    async def recv_until(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """Read messages until one of this type (and field values) arrives."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.recv(timeout)
                assert message is not None, f"closed ({self.close_code}) before a {kind}"
                if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                    return message

    def drop(self) -> None:
        """Vanish: reset the TCP connection, no closing handshake."""
        self._writer.transport.abort()


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def frame_message(t: float, data: bytes) -> bytes:
    packed: bytes = msgpack.packb({"type": "frame", "v": 1, "t": t, "jpeg": data})
    return packed


def clip_jpegs(clip: DiscClip, limit: int | None = None) -> list[bytes]:
    with av.open(str(clip.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [jpeg(rgb) for rgb in frames[:limit]]


# ---------------------------------------------------------------- 1. a client vanishes mid-lift


@pytest.mark.parametrize("how", ["vanish", "hang_up"])
async def test_client_gone_mid_lift_keeps_its_recording_and_others_keep_streaming(
    tmp_path: Path, clip: DiscClip, how: str
) -> None:
    finaliser = RecordingFinaliser()
    registry = make_registry(tmp_path, clip, finaliser, **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        # A second client streams the whole clip, start to finalised session, meanwhile.
        other = asyncio.create_task(
            stream_clip(url, clip.path, p.Start(exercise="snatch"), token=TOKEN)
        )
        track = ClipTrack(clip.path)
        peer = await open_peer(url, track)
        await asyncio.wait_for(peer.opened.wait(), 10)
        session = next(s for s in registry.sessions if s.connection_id == peer.connection_id)
        peer.send(start())
        track.go.set()
        await peer.wait_for("phase", name="first_pull")
        await asyncio.sleep(0.3)  # well into the pull
        sent_before_gone = track.sent
        if how == "vanish":
            vanish(peer.pc)  # no `end`, no hang-up: frames just stop
        else:
            await peer.pc.close()  # a hang-up without `end`
        assert await wait_until(session.closed.is_set, 10), session.close_reason
        if how == "vanish":
            assert session.close_reason == "no frame for 2 s"
        # Closing again, from any path, is a no-op.
        reason = session.close_reason
        await session.close("again")
        assert session.close_reason == reason
        assert session.task_count == 0
        # All that may still run of it is the kept lift's finalisation, owned by the registry.
        running = {t.get_name() for t in session_tasks({peer.connection_id})}
        assert running <= {f"{peer.connection_id}:finalise"}, running

        result = await other
        assert await wait_until(lambda: not registry.sessions, 10)
        await registry.wait_background(30)
        assert registry.background_count == 0 and not session_tasks({peer.connection_id})
        await peer.pc.close()

    # The other client got its full analysis and session.
    assert len(result.of_type("sample")) >= 0.9 * result.frames_sent
    assert len(result.of_type("session")) == 1
    # The vanished client's lift was kept: its recording was finalised, not deleted.
    gone = [r for r in finaliser.requests if r.connection_id == peer.connection_id]
    assert len(gone) == 1, finaliser.requests
    request = gone[0]
    assert request.lift == 1 and request.lift_start_t is not None
    assert request.video.is_file()
    assert request.video.parent == registry.config.recordings_dir / peer.connection_id
    recorded = count_frames(request.video)
    # Every frame up to the drop was recorded (a few in flight may be lost with the network).
    assert 0.8 * sent_before_gone <= recorded <= track.sent, (recorded, sent_before_gone)
    m = registry.metrics.as_dict()
    # Each connection was closed (and counted) exactly once.
    assert m["connections_opened"] == m["connections_closed"] == 2


@pytest.mark.parametrize("how", ["reset", "silent"])
async def test_websocket_client_gone_mid_lift_keeps_its_recording(
    tmp_path: Path, clip: DiscClip, how: str
) -> None:
    finaliser = RecordingFinaliser()
    registry = make_registry(tmp_path, clip, finaliser, **FAULT_CONFIG)
    jpegs = clip_jpegs(clip)
    async with running_server(make_app(registry)) as url:
        async with WsClient.connect(url) as ws:
            hello = await ws.recv_until("hello")
            (session,) = registry.sessions
            await ws.send(start())
            # Frames up to the second pull's peak velocity: mid-lift.
            sent = int(clip.trajectory.events["peak_velocity"] * 30)
            for i, data in enumerate(jpegs[:sent]):
                await ws.send(frame_message(i / 30, data))
                await asyncio.sleep(1 / 60)
            await ws.recv_until("phase", name="first_pull")
            if how == "silent":
                # Neither frames nor a hang-up, the socket left open: the watchdog notices.
                assert await wait_until(session.closed.is_set, 10)
                assert session.close_reason == "no frame for 2 s"
        # "reset": the TCP connection is reset here, as the client context ends.
        assert await wait_until(session.closed.is_set, 10)
        if how == "reset":
            assert session.close_reason == "websocket closed"
        assert await wait_until(lambda: not registry.sessions, 10)
        await registry.wait_background(30)
    # The lift had started and not ended: close() kept and finalised its recording.
    (request,) = finaliser.requests
    assert request.connection_id == hello["connection_id"] and request.lift == 1
    assert request.lift_start_t is not None and request.lift_end_t < sent / 30
    assert request.video.is_file()
    assert request.video.parent == registry.config.recordings_dir / request.connection_id
    assert count_frames(request.video) == sent  # every frame after `start`


# ---------------------------------------------------------------- 2. a channel that never opens


async def _metrics_answer(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/metrics", params={"format": "json"})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("fault", ["no_channel_in_offer", "answer_never_applied"])
async def test_a_data_channel_that_never_opens_is_closed_by_the_watchdog(
    tmp_path: Path, clip: DiscClip, fault: str
) -> None:
    registry = make_registry(tmp_path, clip, RecordingFinaliser(), **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        before = set(asyncio.all_tasks())
        track = ClipTrack(clip.path)
        track.go.set()  # video flows (where ICE connects) but no channel ever opens
        peer = await open_peer(
            url,
            track,
            channel=fault != "no_channel_in_offer",
            apply_answer=fault != "answer_never_applied",
        )
        (session,) = registry.sessions
        assert await wait_until(session.closed.is_set, 10)
        assert session.close_reason == "message channel never opened"
        received = session.metrics.counters.frames_received
        # Without a channel in the offer ICE connects and video arrives; without an answer not.
        assert received > 0 if fault == "no_channel_in_offer" else received == 0
        assert session.metrics.counters.recorded_frames == 0  # no `start`: nothing to record
        assert not registry.sessions and session.task_count == 0
        assert not session_tasks({peer.connection_id})
        await peer.pc.close()
        # The server still answers: metrics, and a full clip from another client.
        assert (await _metrics_answer(url))["connections_open"] == 0
        result = await stream_clip(url, clip.path, p.Start(exercise="snatch"), token=TOKEN)
        assert len(result.of_type("session")) == 1
        assert await wait_until(lambda: not registry.sessions, 10)
        await registry.wait_background(30)
        # Nothing of either connection is left running (uvicorn's own tasks may come and go).
        assert await wait_until(lambda: not (set(asyncio.all_tasks()) - before), 10), [
            t.get_name() for t in set(asyncio.all_tasks()) - before
        ]
    # Nothing was recorded for the connection that never started.
    assert not (registry.config.recordings_dir / peer.connection_id).exists()


# ---------------------------------------------------------------- 3. unsupported or corrupt video


def only_unsupported_codecs(sdp: str) -> str:
    """The offer with its VP8 and H.264 renamed to codecs aiortc cannot decode."""
    return sdp.replace(" VP8/90000", " VP9/90000").replace(" H264/90000", " AV1/90000")


async def test_an_offer_with_only_unsupported_codecs_is_refused_clearly(
    tmp_path: Path, clip: DiscClip
) -> None:
    registry = make_registry(tmp_path, clip, RecordingFinaliser(), **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        use_loopback_candidates(True)
        pc = RTCPeerConnection()
        pc.createDataChannel("liftstream")
        pc.addTransceiver(ClipTrack(clip.path), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        response = await post_offer(url, only_unsupported_codecs(pc.localDescription.sdp))
        await pc.close()
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "invalid_offer"
        assert "VP8" in body["detail"] and "H264" in body["detail"], body
        # The refused connection was opened and closed at once; the server goes on serving.
        assert not registry.sessions
        assert registry.metrics.connections_opened == registry.metrics.connections_closed == 1
        result = await stream_clip(url, clip.path, p.Start(exercise="snatch"), token=TOKEN)
        assert len(result.of_type("session")) == 1


class GarbageTrack(MediaStreamTrack):
    """A video track of random bytes as already-encoded frames: the sender packetises them as
    VP8 / H.264 as they are, so the server receives well-formed RTP carrying undecodable video."""

    kind = "video"

    def __init__(self, fps: float = 30.0) -> None:
        super().__init__()
        self._rng = np.random.default_rng(7)
        self._fps = fps
        self.sent = 0

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        await asyncio.sleep(1.0 / self._fps)
        packet = av.Packet(self._rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
        packet.pts = self.sent * 3000
        packet.time_base = fractions.Fraction(1, 90000)
        self.sent += 1
        return packet


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_undecodable_video_ends_with_a_clear_error(
    tmp_path: Path, clip: DiscClip, codec: str
) -> None:
    registry = make_registry(tmp_path, clip, RecordingFinaliser(), **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        track = GarbageTrack()

        def prefer(sdp: str) -> str:
            other = "H264" if codec == "VP8" else "VP8"
            return sdp.replace(f" {other}/90000", " AV1/90000")

        peer = await open_peer(url, track, munge=prefer)
        await asyncio.wait_for(peer.opened.wait(), 10)
        (session,) = registry.sessions
        peer.send(start())
        # Not one frame decodes: the client is told, then the connection is closed.
        error = await peer.wait_for("error", code="no_video", timeout=10)
        assert error["fatal"] and "no video frame for 2 s" in error["detail"]
        assert await wait_until(session.closed.is_set, 10)
        assert session.close_reason == "no frame for 2 s"
        assert track.sent > 30  # it was sending all along
        counters = session.metrics.counters
        assert counters.frames_received == counters.recorded_frames == 0
        assert not registry.sessions and not session_tasks({peer.connection_id})
        await peer.pc.close()
        # The server still serves a good client.
        result = await stream_clip(url, clip.path, p.Start(exercise="snatch"), token=TOKEN)
        assert len(result.of_type("session")) == 1
    assert not (registry.config.recordings_dir / peer.connection_id).exists()


async def test_junk_datagrams_at_the_media_port_do_not_disturb_the_stream(
    tmp_path: Path, clip: DiscClip
) -> None:
    """Off-path junk shaped like RTP, DTLS and STUN, sent to the server's ICE port mid-stream."""
    registry = make_registry(tmp_path, clip, RecordingFinaliser(), **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        track = ClipTrack(clip.path)
        peer = await open_peer(url, track)
        await asyncio.wait_for(peer.opened.wait(), 10)
        peer.send(start())
        track.go.set()
        await peer.wait_for("sample")
        (port,) = {
            int(m.group(1))
            for m in re.finditer(
                r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host",
                peer.pc.remoteDescription.sdp,
            )
        }
        rng = np.random.default_rng(3)
        samples_before = len(peer.of_type("sample"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
            for i in range(400):
                first = (0x80, 0x16, 0x00, 0xFF)[i % 4]  # RTP, DTLS, STUN, nothing
                size = int(rng.integers(1, 1200))
                junk.sendto(bytes([first]) + rng.bytes(size), ("127.0.0.1", port))
                if i % 20 == 0:
                    await asyncio.sleep(0.01)
        await asyncio.wait_for(track.done.wait(), 20)
        await asyncio.sleep(0.3)
        peer.send(p.encode(p.End()))
        ready = await peer.wait_for("session", timeout=30)
        assert ready["lift"] == 1
        # Samples kept coming through it all, and the connection never dropped.
        assert len(peer.of_type("sample")) >= samples_before + 0.8 * (track.sent - samples_before)
        assert not peer.of_type("error") and peer.pc.connectionState == "connected"
        await peer.pc.close()
        assert await wait_until(lambda: not registry.sessions, 10)


async def test_garbage_jpeg_frames_are_refused_then_the_connection_is_closed(
    tmp_path: Path, clip: DiscClip
) -> None:
    registry = make_registry(tmp_path, clip, RecordingFinaliser(), **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        async with WsClient.connect(url) as ws:
            hello = await ws.recv_until("hello")
            await ws.send(start())
            bad = [
                b"\x89PNG\r\n\x1a\n" + bytes(64),  # not a JPEG
                b"\xff\xd8" + bytes(500),  # a JPEG start, then nothing of a JPEG
                jpeg(np.zeros((8, 8, 3), np.uint8)),  # a real JPEG, too small to analyse
            ]
            for i, data in enumerate(bad):
                await ws.send(frame_message(i / 30, data))
                error = await ws.recv_until("error")
                assert error["code"] == "bad_frame" and not error["fatal"], error
            # A frame whose header declares 20000 x 20000 px is refused before decoding.
            huge = bytearray(jpeg(np.zeros((32, 32, 3), np.uint8)))
            sof = huge.index(b"\xff\xc0")
            huge[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2
            await ws.send(frame_message(0.2, bytes(huge)))
            error = await ws.recv_until("error")
            assert error["code"] == "bad_frame" and "20000x20000" in error["detail"]
            # Only garbage since `start`: told, then closed.
            error = await ws.recv_until("error", code="no_video")
            assert error["fatal"]
            assert await ws.recv() is None and ws.close_code == 1000
        assert await wait_until(lambda: not registry.sessions, 10)
        assert registry.metrics.counters.frames_received == 0
        # The server still serves another WebSocket client.
        async with WsClient.connect(url) as ws:
            assert (await ws.recv_until("hello"))["connection_id"] != hello["connection_id"]
            await ws.send(p.encode(p.Ping(t=1.0)))
            assert (await ws.recv_until("pong"))["t"] == 1.0


# ---------------------------------------------------------------- 4. garbage and oversized messages

# (message, the error code it earns) for both transports.
GARBAGE: list[tuple[bytes | str, str]] = [
    (b"\xc1", "bad_msgpack"),  # a byte msgpack never uses
    (b"\x92\x01", "bad_msgpack"),  # an array cut short
    (msgpack.packb({"type": "ping", "v": 1}) + b"\x00", "bad_msgpack"),  # trailing bytes
    (msgpack.packb([1, 2, 3]), "bad_message"),
    (msgpack.packb({"type": "start", "v": 9, "exercise": "snatch"}), "bad_version"),
    (msgpack.packb({"type": "launch", "v": 1}), "bad_type"),
    (msgpack.packb({"type": "start", "v": 1, "exercise": "curl"}), "bad_exercise"),
    ('{"type": "ping", "v": 1}', "bad_encoding"),
]


def oversized_start(size: int) -> bytes:
    """A start message of about `size` bytes (a long title)."""
    packed: bytes = msgpack.packb(
        {"type": "start", "v": 1, "exercise": "snatch", "title": "x" * size}
    )
    return packed


async def test_garbage_and_oversized_messages_on_the_data_channel(
    tmp_path: Path, clip: DiscClip
) -> None:
    finaliser = RecordingFinaliser()
    registry = make_registry(tmp_path, clip, finaliser, **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        track = ClipTrack(clip.path)
        peer = await open_peer(url, track)
        await asyncio.wait_for(peer.opened.wait(), 10)
        await peer.wait_for("hello")
        garbage = [
            *GARBAGE,
            # A WebSocket frame: binary fields are refused on the control channel.
            (p.encode(p.Frame(t=0.0, jpeg=b"\xff\xd8")), "bad_msgpack"),
            (oversized_start(5000), "too_large"),
            (bytes(200_000), "too_large"),  # far beyond the limit, within SCTP's
        ]
        for data, _code in garbage:
            peer.send(data)
            peer.send(p.encode(p.Ping(t=1.0)))  # each answered: the channel goes on
        assert await wait_until(lambda: len(peer.of_type("pong")) == len(garbage), 10)
        errors = peer.of_type("error")
        # Each message earned its own error, in order, and none ended the connection.
        assert [e["code"] for e in errors] == [code for _, code in garbage], errors
        assert not any(e["fatal"] for e in errors)
        assert all(e["detail"] and not e["detail"].endswith(": ") for e in errors), errors
        too_large = [e for e in errors if e["code"] == "too_large"]
        assert all(f"exceeds {p.MAX_CONTROL_BYTES} bytes" in e["detail"] for e in too_large)
        # A burst of pings: every one is answered (or refused when the inbox is full), none lost.
        for i in range(300):
            peer.send(p.encode(p.Ping(t=1000.0 + i)))
        flood = lambda: [m for m in peer.of_type("pong") if m["t"] >= 1000]  # noqa: E731
        assert await wait_until(
            lambda: len(flood()) + len(peer.of_type("error")) - len(errors) == 300, 10
        )
        refused = [e for e in peer.of_type("error")[len(errors) :]]
        assert all(e["code"] == "too_many_messages" for e in refused)
        # The connection still works end to end: a whole lift and its session.
        (session,) = registry.sessions
        peer.send(start())
        track.go.set()
        await asyncio.wait_for(track.done.wait(), 20)
        await asyncio.sleep(0.3)
        peer.send(p.encode(p.End()))
        ready = await peer.wait_for("session", timeout=30)
        assert ready["lift"] == 1 and len(peer.of_type("sample")) >= 0.9 * track.sent
        assert not session.closed.is_set()
        await peer.pc.close()
        assert await wait_until(lambda: not registry.sessions, 10)
    assert registry.metrics.connections_closed == 1


async def test_garbage_and_oversized_messages_on_the_websocket(
    tmp_path: Path, clip: DiscClip
) -> None:
    finaliser = RecordingFinaliser()
    registry = make_registry(tmp_path, clip, finaliser, **FAULT_CONFIG)
    async with running_server(make_app(registry)) as url:
        async with WsClient.connect(url) as ws:
            await ws.recv_until("hello")
            garbage = [
                *GARBAGE,
                # Frames may be large here, but strings stay short.
                (oversized_start(5000), "bad_msgpack"),
                (frame_message(0.0, b"\xff\xd8" + bytes(p.MAX_FRAME_BYTES)), "too_large"),
            ]
            for i, (data, code) in enumerate(garbage):
                await ws.send(data)
                error = await ws.recv_until("error")
                assert error["code"] == code and not error["fatal"], (i, error)
                assert error["detail"] and not error["detail"].endswith(": ")
            await ws.send(p.encode(p.Ping(t=2.0)))
            assert (await ws.recv_until("pong"))["t"] == 2.0
            # A burst far beyond the inbox: one ordered stream, so each is handled before the
            # next is read (TCP holds the rest back) and every one is answered, in order.
            for i in range(200):
                await ws.send(p.encode(p.Ping(t=1000.0 + i)))
            answers = [await ws.recv() for _ in range(200)]
            assert [m["t"] for m in answers if m is not None] == [1000.0 + i for i in range(200)]
            # The connection still works end to end: a whole lift and its session.
            await ws.send(start())
            for i, data in enumerate(clip_jpegs(clip)):
                await ws.send(frame_message(i / 30, data))
                # The first frames follow `start` at once: they must count (and be recorded)
                # all the same. Then a camera's pace, near enough.
                await asyncio.sleep(0.01 if i >= 10 else 0)
            await ws.send(p.encode(p.End()))
            ready = await ws.recv_until("session", timeout=30)
            assert ready["lift"] == 1
            (session,) = registry.sessions
            counters = session.metrics.counters
            assert counters.frames_received == counters.recorded_frames == len(clip.t)
            assert counters.frames_processed > 0
            # A message beyond the server's WebSocket limit (16 MiB) ends the connection.
            with contextlib.suppress(ConnectionError):
                await ws.send(bytes(17 * 1024 * 1024))
            with contextlib.suppress(ConnectionError):
                while await ws.recv(10) is not None:
                    pass
            assert ws.close_code == 1009
        assert await wait_until(session.closed.is_set, 10)
        assert await wait_until(lambda: not registry.sessions, 10)
        # The server still serves another WebSocket client, and still wants its token.
        async with WsClient.connect(url) as ws:
            await ws.recv_until("hello")
            await ws.send(p.encode(p.Ping(t=3.0)))
            assert (await ws.recv_until("pong"))["t"] == 3.0
        async with WsClient.connect(url, token=None) as ws:
            assert ws.close_code == 403
        async with WsClient.connect(url, token="wrong") as ws:
            assert ws.close_code == 403
    assert registry.metrics.connections_opened == 2
    assert len(finaliser.requests) == 1


# ---------------------------------------------------------------- 5. connections opened and dropped


def rss_mib() -> float:
    """This process's resident memory (server and clients both run in it), MiB, after handing
    freed heap back to the system (glibc keeps it otherwise, and RSS then swings by tens of MiB
    with the codec threads' arenas whether or not anything leaks)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def own_threads() -> set[str]:
    """Threads other than thread-pool workers (which live on, idle, by design)."""
    return {
        f"{t.name}#{t.ident}"
        for t in threading.enumerate()
        if not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))
    }


async def open_and_drop(url: str, clip: DiscClip, jpegs: list[bytes], style: int) -> str:
    """One connection, dropped one of four ways; returns its connection id."""
    if style == 3:  # WebSocket: start, a few frames, then the TCP connection is reset
        async with WsClient.connect(url) as ws:
            hello = await ws.recv_until("hello")
            await ws.send(start())
            for i, data in enumerate(jpegs[:8]):
                await ws.send(frame_message(i / 30, data))
            await ws.recv_until("sample")
        return str(hello["connection_id"])
    track = ClipTrack(clip.path, loops=5)
    peer = await open_peer(url, track)
    if style == 0:  # gone before ICE even connects
        await peer.pc.close()
        return peer.connection_id
    await asyncio.wait_for(peer.opened.wait(), 10)
    if style == 2:  # recording under way (no lift yet), then the network vanishes
        peer.send(start())
        track.go.set()
        await peer.wait_for("sample")
        vanish(peer.pc)
    await peer.pc.close()  # style 1: a plain hang-up
    return peer.connection_id


async def test_twenty_connections_opened_and_dropped_leave_nothing_behind(
    tmp_path: Path, clip: DiscClip
) -> None:
    registry = make_registry(tmp_path, clip, RecordingFinaliser(), **FAULT_CONFIG)
    jpegs = clip_jpegs(clip, 8)
    async with running_server(make_app(registry)) as url:
        # Warm up (codecs, thread pools, malloc arenas of the codec threads), then measure.
        for i in range(8):
            await open_and_drop(url, clip, jpegs, i % 4)
        assert await wait_until(lambda: not registry.sessions, 15)
        await asyncio.sleep(0.5)
        gc.collect()
        tasks_before = set(asyncio.all_tasks())
        threads_before = own_threads()
        objects_before = len(gc.get_objects())
        rss_before = rss_mib()

        ids = {await open_and_drop(url, clip, jpegs, i % 4) for i in range(20)}
        assert len(ids) == 20
        assert await wait_until(lambda: not registry.sessions, 15), [
            (s.connection_id, s.close_reason) for s in registry.sessions
        ]
        assert registry.background_count == 0  # no lift, nothing being finalised
        leftover = lambda: set(asyncio.all_tasks()) - tasks_before  # noqa: E731
        assert await wait_until(lambda: not leftover(), 10), [t.get_name() for t in leftover()]
        assert await wait_until(lambda: own_threads() <= threads_before, 10), (
            own_threads() - threads_before
        )
        gc.collect()
        rss_after = rss_mib()
        objects = gc.get_objects()
        alive = [o for o in objects if isinstance(o, StreamSession | RTCPeerConnection)]
        print(
            f"20 connections: RSS {rss_before:.1f} -> {rss_after:.1f} MiB "
            f"({rss_after - rss_before:+.1f}), Python objects {objects_before} -> {len(objects)}, "
            f"tasks {len(tasks_before)} -> {len(asyncio.all_tasks())}, "
            f"threads {len(threads_before)} -> {len(own_threads())}"
        )
        assert not alive, alive  # nothing holds on to a session or a peer connection
        assert len(objects) - objects_before < 2000, (objects_before, len(objects))
        # Native memory (codec threads' arenas) settles after the warm-up; a leak of a frame or
        # a recorder per connection would be tens of MiB here.
        assert rss_after - rss_before < 50, (rss_before, rss_after)
        del objects, alive
        m = await _metrics_answer(url)
        assert m["connections_open"] == 0
        assert m["connections_opened"] == m["connections_closed"] == 28
        # The server still serves after it all.
        result = await stream_clip(url, clip.path, p.Start(exercise="snatch"), token=TOKEN)
        assert len(result.of_type("session")) == 1
    # Recordings without a lift were deleted, and with them each connection's folder.
    assert not any((registry.config.recordings_dir / cid).exists() for cid in ids), list(
        registry.config.recordings_dir.iterdir()
    )


# ---------------------------------------------------------------- 6. /metrics after a clip


def parse_prometheus(text: str) -> dict[str, float]:
    """name{labels} value lines -> {"name{labels}": value}; comments skipped."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_metrics_after_a_streamed_clip_are_positive_and_consistent(
    tmp_path: Path, clip: DiscClip
) -> None:
    registry = make_registry(tmp_path, clip, RecordingFinaliser())
    async with running_server(make_app(registry)) as url, httpx.AsyncClient(timeout=10) as http:
        live: list[dict[str, Any]] = []

        async def watch() -> None:
            # While the clip plays, the JSON form lists the open connection.
            while True:
                response = await http.get(f"{url}/metrics", headers={"Accept": "application/json"})
                live.extend(response.json()["streams"])
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        result = await stream_clip(url, clip.path, p.Start(exercise="snatch"), token=TOKEN)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        assert await wait_until(lambda: not registry.sessions, 10)
        text = await http.get(f"{url}/metrics")
        body = (await http.get(f"{url}/metrics", params={"format": "json"})).json()
    assert len(result.of_type("session")) == 1
    assert live and {s["connection_id"] for s in live} == {result.connection_id}
    assert max(s["frames_received"] for s in live) > 0

    # JSON: counts that add up, with what the client saw.
    assert body["connections_opened"] == body["connections_closed"] == 1
    assert body["connections_open"] == 0 and body["streams"] == []
    received, processed = body["frames_received"], body["frames_processed"]
    assert 0.9 * result.frames_sent <= received <= result.frames_sent
    assert processed > 0 and processed + body["dropped_frames"] <= received
    assert body["frame_errors"] == 0
    # The disc is in every frame: each processed frame sent its sample or dropped it.
    assert body["samples_sent"] + body["dropped_samples"] == processed
    assert body["samples_sent"] == len(result.of_type("sample"))  # a reliable channel
    assert 0.9 * received <= body["recorded_frames"] <= received
    for key in ("processing", "latency"):
        s = body[key]
        assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"], (key, s)
        assert 0 < s["mean_ms"] <= s["max_ms"] < 1000, (key, s)
    assert body["processing"]["count"] == processed
    assert body["latency"]["count"] == body["samples_sent"]
    # A sample leaves after its frame's analysis: latency is never below processing time.
    assert body["latency"]["p50_ms"] >= body["processing"]["p50_ms"]

    # Text: the same figures, Prometheus style (summaries in seconds).
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    values = parse_prometheus(text.text)
    for name in ("frames_received", "frames_processed", "dropped_frames", "samples_sent"):
        assert values[f"liftstream_stream_{name}_total"] == body[name], name
    assert values["liftstream_stream_connections_open"] == 0
    for key in ("processing", "latency"):
        metric = f"liftstream_stream_{key}_seconds"
        assert values[f"{metric}_count"] == body[key]["count"]
        for q, field_name in (("0.5", "p50_ms"), ("0.9", "p90_ms"), ("0.99", "p99_ms")):
            seconds = values[f'{metric}{{quantile="{q}"}}']
            assert seconds > 0
            assert seconds == pytest.approx(body[key][field_name] / 1000, abs=1e-6)
