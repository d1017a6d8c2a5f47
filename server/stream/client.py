"""A real WebRTC client (aiortc) that plays a video file to a LiftStream server.

`liftstream stream-file CLIP --server URL [--token T]` sends the clip at its native rate (each
frame at its own presentation time) as a camera would, sends `start`, prints every message the
server sends as a JSON line, sends `end` when the clip is over and waits for the finalised session.
`stream_clip()` is the same for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import ipaddress
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.errors import InvalidInputError, VideoError
from server.settings import Settings
from server.stream import protocol as p
from server.stream.ice import use_loopback_candidates

_RTP_CLOCK = fractions.Fraction(1, 90000)
# After `end`, these server messages mean no session will come for that lift.
_FINAL_ERRORS = {"no_lift", "finalise_failed", "not_finalised", "no_recording"}


class ClipTrack(MediaStreamTrack):
    """Plays a video file as a live camera: frame i is released at its presentation time.

    Nothing is sent before `go` is set (the server ignores frames before `start`). `done` is set
    after the last frame; `sent` counts frames handed to the encoder. max_frames / loops limit or
    repeat the clip.
    """

    kind = "video"

    def __init__(self, path: Path, *, loops: int = 1, max_frames: int | None = None) -> None:
        super().__init__()
        self._path = path
        self._loops = loops
        self._max_frames = max_frames
        self._frames = self._decode()
        self.go = asyncio.Event()
        self.done = asyncio.Event()
        self.sent = 0
        self.send_times: list[float] = []
        self._t0: float | None = None

    def _decode(self) -> Iterator[tuple[float, av.VideoFrame]]:
        offset = 0.0
        for _ in range(self._loops):
            last = 0.0
            with av.open(str(self._path)) as container:
                stream = container.streams.video[0]
                first: float | None = None
                for frame in container.decode(stream):
                    if frame.pts is None or frame.time_base is None:
                        continue
                    pts = float(frame.pts * frame.time_base)
                    first = pts if first is None else first
                    last = pts - first
                    yield offset + last, frame
            offset += last + 1.0 / 30.0

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        await self.go.wait()
        if self._max_frames is not None and self.sent >= self._max_frames:
            return await self._finish()
        try:
            t, frame = next(self._frames)
        except StopIteration:
            return await self._finish()
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now - t
        delay = self._t0 + t - now
        if delay > 0:
            await asyncio.sleep(delay)
        frame.pts = round(t / _RTP_CLOCK)
        frame.time_base = _RTP_CLOCK
        self.sent += 1
        self.send_times.append(time.perf_counter())
        return frame

    async def _finish(self) -> av.VideoFrame:
        self.done.set()
        self.stop()
        raise MediaStreamError


@dataclass
class StreamResult:
    """What a streaming run saw. messages: server messages with `_rx` (perf_counter at receipt)."""

    connection_id: str
    frames_sent: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    send_times: list[float] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def post_offer(url: str, token: str | None, sdp: str) -> dict[str, Any]:
    """POST the offer; returns the answer JSON or raises InvalidInputError with the server's word."""
    body = json.dumps({"sdp": sdp, "type": "offer"}).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url.rstrip("/") + "/api/v1/stream/offer", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise InvalidInputError(f"server refused the offer ({exc.code}): {detail}") from None
    except urllib.error.URLError as exc:
        raise InvalidInputError(f"cannot reach {url}: {exc.reason}") from None


async def stream_clip(
    server: str,
    clip: Path,
    start: p.Start,
    *,
    token: str | None = None,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    codec: str | None = None,
    loops: int = 1,
    max_frames: int | None = None,
    session_timeout_s: float = 120.0,
    send_end: bool = True,
) -> StreamResult:
    """Play `clip` to `server` over WebRTC and collect the server's messages.

    codec: "video/H264" or "video/VP8" to prefer one (default: aiortc's order). Returns after the
    finalised session (or its error) arrived, or session_timeout_s after the clip ended.
    """
    if not clip.is_file():
        raise VideoError(f"clip {clip} does not exist")
    if is_loopback_url(server):
        use_loopback_candidates(True)
    pc = RTCPeerConnection()
    track = ClipTrack(clip, loops=loops, max_frames=max_frames)
    channel = pc.createDataChannel("liftstream")
    transceiver = pc.addTransceiver(track, direction="sendonly")
    if codec is not None:
        codecs = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType == codec])
    messages: list[dict[str, Any]] = []
    opened = asyncio.Event()
    finished = asyncio.Event()
    pending_lifts: set[int] = set()
    done_lifts: set[int] = set()
    acknowledged = asyncio.Event()

    @channel.on("open")
    def on_open() -> None:
        opened.set()

    @channel.on("message")
    def on_msg(data: bytes | str) -> None:
        if isinstance(data, str):
            return
        msg = p.decode_server(data)
        msg["_rx"] = time.perf_counter()
        messages.append(msg)
        if on_message is not None:
            on_message(msg)
        kind = msg["type"]
        if kind == "lift_summary":
            pending_lifts.add(int(msg["lift"]))
        elif kind == "ended":
            if msg["lift"] is not None:
                pending_lifts.add(int(msg["lift"]))
            acknowledged.set()
        elif kind == "session" or (kind == "error" and msg["code"] in _FINAL_ERRORS):
            done_lifts.add(int(msg.get("lift", -1)))
        if acknowledged.is_set() and pending_lifts <= done_lifts:
            finished.set()

    connection_id = ""
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await asyncio.to_thread(post_offer, server, token, pc.localDescription.sdp)
        connection_id = str(answer.get("connection_id", ""))
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(opened.wait(), timeout=20)
        channel.send(p.encode(start))
        track.go.set()
        await track.done.wait()
        if send_end:
            await asyncio.sleep(0.3)  # let the last frames reach the server before `end`
            channel.send(p.encode(p.End()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), timeout=session_timeout_s)
    finally:
        await pc.close()
    return StreamResult(
        connection_id=connection_id,
        frames_sent=track.sent,
        messages=messages,
        send_times=track.send_times,
    )


def cli_stream_file(settings: Settings, args: argparse.Namespace) -> int:
    """`liftstream stream-file CLIP --server URL [--token T] [--exercise E]`: print the events."""
    del settings  # the client needs nothing of the server's configuration

    def show(msg: dict[str, Any]) -> None:
        print(json.dumps({k: v for k, v in msg.items() if k != "_rx"}), flush=True)

    start = p.Start(exercise=args.exercise)
    result = asyncio.run(
        stream_clip(args.server, Path(args.clip), start, token=args.token, on_message=show)
    )
    sessions = result.of_type("session")
    print(
        f"sent {result.frames_sent} frames, got {len(result.of_type('sample'))} samples, "
        f"{len(result.of_type('phase'))} phase events, {len(sessions)} session(s)",
        file=sys.stderr,
    )
    return 0 if sessions else 1
