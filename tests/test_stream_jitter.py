"""The marker-bit jitter buffer: a video frame is handed on at its last packet (RTP marker bit),
not when the next frame's first packet arrives; gaps, reordering, a lost marker packet and
sequence-number wrap-around still give whole frames in order. And a real aiortc connection gets
it installed on its video receiver (this pins the private aiortc attribute it replaces)."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from server.stream.jitter import MarkerJitterBuffer, use_marker_jitter_buffer


def packet(seq: int, ts: int, data: bytes, *, marker: bool = False) -> RtpPacket:
    p = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq % 65536, timestamp=ts)
    p._data = data  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return p


def frames_of(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, bytes] | None]:
    """What `add` hands on after each packet: (timestamp, data) or None."""
    out: list[tuple[int, bytes] | None] = []
    for p in packets:
        _, frame = buffer.add(p)
        out.append(None if frame is None else (frame.timestamp, frame.data))
    return out


def test_a_frame_is_complete_at_its_marker_packet() -> None:
    packets = [
        packet(10, 3000, b"a1"),
        packet(11, 3000, b"a2"),
        packet(12, 3000, b"a3", marker=True),
        packet(13, 6000, b"b1", marker=True),
    ]
    assert frames_of(MarkerJitterBuffer(), packets) == [
        None,
        None,
        (3000, b"a1a2a3"),
        (6000, b"b1"),
    ]
    # aiortc's own buffer hands frame a on only with frame b's first packet, and b not at all yet.
    assert frames_of(JitterBuffer(capacity=512, is_video=True), packets) == [
        None,
        None,
        None,
        (3000, b"a1a2a3"),
    ]


def test_reordered_packets_wait_for_the_gap_to_fill() -> None:
    packets = [
        packet(100, 90, b"x1"),
        packet(102, 90, b"x3", marker=True),  # x2 is late
        packet(101, 90, b"x2"),
        packet(103, 180, b"y1", marker=True),
    ]
    assert frames_of(MarkerJitterBuffer(), packets) == [None, None, (90, b"x1x2x3"), (180, b"y1")]


def test_a_lost_marker_packet_ends_the_frame_at_the_next_timestamp() -> None:
    packets = [
        packet(5, 1000, b"p1"),
        packet(6, 1000, b"p2"),  # the marker packet (7) never comes; 8 is the next frame's
    ]
    buffer = MarkerJitterBuffer()
    assert frames_of(buffer, packets) == [None, None]
    # Without packet 7 the walk stops at the gap, as aiortc's does ...
    assert frames_of(buffer, [packet(8, 2000, b"q1", marker=True)]) == [None]
    # ... and a packet with no marker but a new timestamp right behind a frame ends it.
    buffer = MarkerJitterBuffer()
    assert frames_of(
        buffer, [packet(5, 1000, b"p1"), packet(6, 1000, b"p2"), packet(7, 2000, b"q1")]
    ) == [None, None, (1000, b"p1p2")]
    assert frames_of(buffer, [packet(8, 2000, b"q2", marker=True)]) == [(2000, b"q1q2")]


def test_sequence_numbers_wrap_around() -> None:
    packets = [
        packet(65534, 500, b"m1"),
        packet(65535, 500, b"m2", marker=True),
        packet(65536, 600, b"n1"),  # = 0
        packet(65537, 600, b"n2", marker=True),
    ]
    assert frames_of(MarkerJitterBuffer(), packets) == [None, (500, b"m1m2"), None, (600, b"n1n2")]


def test_a_late_duplicate_of_a_handed_on_frame_is_ignored() -> None:
    buffer = MarkerJitterBuffer()
    assert frames_of(
        buffer, [packet(1, 10, b"a", marker=True), packet(1, 10, b"a", marker=True)]
    ) == [
        (10, b"a"),
        None,
    ]
    assert frames_of(buffer, [packet(2, 20, b"b", marker=True)]) == [(20, b"b")]


def test_a_real_aiortc_connection_gets_it_on_its_video_receiver() -> None:
    async def main() -> tuple[bool, type, bool]:
        sender, receiver = RTCPeerConnection(), RTCPeerConnection()
        try:
            sender.addTransceiver("video", direction="sendonly")
            await sender.setLocalDescription(await sender.createOffer())
            installed: list[bool] = []
            receivers: list[RTCRtpReceiver] = []

            @receiver.on("track")
            def on_track(track: object) -> None:
                for t in receiver.getTransceivers():
                    if t.receiver.track is track:
                        receivers.append(t.receiver)
                        installed.append(use_marker_jitter_buffer(t.receiver))

            await receiver.setRemoteDescription(sender.localDescription)
            assert receivers, "no track event"
            buffer = receivers[0]._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
            # A second call finds our buffer already there and changes nothing.
            return installed[0], type(buffer), use_marker_jitter_buffer(receivers[0])
        finally:
            await sender.close()
            await receiver.close()

    installed, kind, again = asyncio.run(main())
    assert installed and kind is MarkerJitterBuffer and not again


def test_an_unexpected_receiver_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    class Other:
        pass

    assert use_marker_jitter_buffer(Other()) is False
    assert "no video JitterBuffer" in caplog.text


def test_padding_between_frames_is_dropped_not_handed_on_as_an_empty_frame() -> None:
    # What Chrome sends: after frame a, bandwidth probes with no payload and a's timestamp.
    packets = [
        packet(1, 100, b"a", marker=True),
        packet(2, 100, b""),
        packet(3, 100, b""),
        packet(4, 200, b"b1"),
        packet(5, 200, b"b2", marker=True),
        packet(6, 200, b""),
        packet(7, 300, b"c", marker=True),
    ]
    assert frames_of(MarkerJitterBuffer(), packets) == [
        (100, b"a"),
        None,
        None,
        None,
        (200, b"b1b2"),
        None,
        (300, b"c"),
    ]
