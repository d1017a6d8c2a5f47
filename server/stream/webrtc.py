"""WebRTC ingest: answer a client's SDP offer with aiortc and wire the peer to a StreamSession.

The client sends its offer only once ICE gathering is complete (aiortc does not trickle), opens
a data channel for the protocol and sends one video track. The track reader stays thin: receive a
frame, stamp it from pts * time_base, hand it to the session; MediaStreamError is the track's
normal end. Each video receiver gets a jitter buffer that completes a frame at its RTP marker
bit (server/stream/jitter.py) rather than one frame interval later.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamError

from server.errors import InvalidInputError
from server.stream.ice import keep_loopback_candidates, rtc_configuration, use_loopback_candidates
from server.stream.jitter import use_marker_jitter_buffer
from server.stream.registry import StreamRegistry
from server.stream.session import IncomingFrame, StreamSession

log = logging.getLogger(__name__)

MAX_SDP_CHARS = 64 * 1024


class _ChannelSink:
    """A data channel as the session's message sink."""

    def __init__(self, channel: RTCDataChannel) -> None:
        self._channel = channel

    def is_open(self) -> bool:
        return self._channel.readyState == "open"

    def buffered_amount(self) -> int:
        return int(self._channel.bufferedAmount)

    def send(self, data: bytes) -> None:
        self._channel.send(data)


def parse_offer(body: Any) -> RTCSessionDescription:
    """The JSON body {"sdp": ..., "type": "offer"}, checked."""
    if not isinstance(body, dict):
        raise InvalidInputError("the offer must be a JSON object with sdp and type")
    sdp, kind = body.get("sdp"), body.get("type")
    if kind != "offer":
        raise InvalidInputError(f"type must be 'offer', got {kind!r}")
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP_CHARS:
        raise InvalidInputError(f"sdp must be an SDP offer of at most {MAX_SDP_CHARS} characters")
    return RTCSessionDescription(sdp=sdp, type="offer")


async def answer_offer(
    registry: StreamRegistry, user_id: str, offer: RTCSessionDescription, *, base_url: str = ""
) -> tuple[StreamSession, RTCSessionDescription]:
    """Create the peer and its session, and return the complete answer (ICE gathered)."""
    config = registry.config
    if config.loopback_ice:
        use_loopback_candidates(True)
        offer = RTCSessionDescription(sdp=keep_loopback_candidates(offer.sdp), type=offer.type)
    pc = RTCPeerConnection(configuration=rtc_configuration(config.ice_servers))
    session = registry.open_session(user_id, "webrtc", base_url=base_url)
    session.add_closer(pc.close)
    _wire(pc, session)
    try:
        await pc.setRemoteDescription(offer)
        if not any(t.kind == "video" for t in pc.getTransceivers()):
            raise InvalidInputError("the offer has no video track")
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
    except InvalidInputError:
        await session.close("bad offer")
        raise
    except OperationError as exc:
        # aiortc's word for a media section with no codec in common with ours.
        await session.close("no common codec")
        raise InvalidInputError(
            f"no codec in the offer is supported (use VP8 or H264 video): {exc}"
        ) from None
    except (
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        InternalError,
        InvalidAccessError,
        InvalidStateError,
    ) as exc:
        # aiortc raises plain errors, or its own, for SDP it cannot parse or accept.
        await session.close("bad offer")
        raise InvalidInputError(f"cannot accept this offer: {exc}") from None
    video = [t for t in pc.getTransceivers() if t.kind == "video"]
    if all(t.currentDirection in (None, "inactive") for t in video):
        await session.close("no common video codec")
        raise InvalidInputError("no video codec in the offer is supported (use VP8 or H264)")
    local = pc.localDescription
    return session, RTCSessionDescription(sdp=local.sdp, type=local.type)


def _wire(pc: RTCPeerConnection, session: StreamSession) -> None:
    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    use_marker_jitter_buffer(transceiver.receiver)
            session.spawn(_read_video(track, session), "video-track")
        else:
            # An unread remote track queues decoded frames forever: drain it.
            session.spawn(_drain(track), f"{track.kind}-track")

    @pc.on("datachannel")
    def on_datachannel(channel: RTCDataChannel) -> None:
        @channel.on("message")
        def on_message(message: bytes | str) -> None:
            session.message_arrived(message)

        @channel.on("close")
        def on_close() -> None:
            session.close_soon("data channel closed")

        session.attach_sink(_ChannelSink(channel))

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            await session.close(f"peer connection {pc.connectionState}")


async def _read_video(track: MediaStreamTrack, session: StreamSession) -> None:
    pts0: int | None = None
    wall0 = time.perf_counter()
    index = 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            break
        arrival = time.perf_counter()
        pts, time_base = getattr(frame, "pts", None), getattr(frame, "time_base", None)
        if pts is None or time_base is None:
            t = arrival - wall0
        else:
            if pts0 is None:
                pts0 = pts
            t = float((pts - pts0) * time_base)
        session.frame_arrived(IncomingFrame(index=index, t=t, arrival=arrival, video=frame))  # type: ignore[arg-type]
        index += 1
    session.track_ended()


async def _drain(track: MediaStreamTrack) -> None:
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return
