"""A video jitter buffer that hands a frame on as soon as its last packet is in.

aiortc's receiver reassembles a video frame from its RTP packets in a JitterBuffer that knows a
frame is complete only when the first packet of the *next* frame arrives (a packet with a new RTP
timestamp). Every frame then waits one frame interval in the server before it is decoded: 33 ms
at 30 fps, 40 ms at 25 fps, on top of everything else in the live latency.

The RTP marker bit says the same thing one interval earlier: for VP8 (RFC 7741, section 4.1) and
H.264 (RFC 6184, section 5.1) the sender sets it on the last packet of a frame. MarkerJitterBuffer
completes a frame at its marker packet when every packet from the frame's first one up to it is
present (no gap in sequence numbers), and still completes it on a new timestamp when the marker
packet was lost; padding packets between frames are dropped. Everything else (reordering, the capacity and its PLI requests, dropping a frame
that overflowed) is aiortc's.

It is installed per connection by replacing the receiver's buffer before media flows
(`use_marker_jitter_buffer`). That reaches a private attribute of aiortc's RTCRtpReceiver, so the
function checks what it finds and leaves the receiver alone when aiortc has changed (it returns
False, and the connection works as before, one interval slower); a test pins it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

log = logging.getLogger(__name__)

VIDEO_CAPACITY = 512  # packets; aiortc's value for video
_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video JitterBuffer, completing frames at their RTP marker bit."""

    def __init__(self, capacity: int = VIDEO_CAPACITY) -> None:
        super().__init__(capacity=capacity, prefetch=0, is_video=True)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        """The oldest complete frame (removed from the buffer), or None.

        Walks from the oldest packet while sequence numbers are contiguous. A frame is complete
        at its marker packet, or, when that packet never came, where the next frame begins.
        """
        if self._origin is None:
            return None
        # Padding (a packet with no payload, such as Chrome's bandwidth probes, which carry the
        # last frame's timestamp) between frames is no frame: drop it. Handed to the decoder as
        # an empty frame it would read as end of stream.
        while True:
            first = self._packets[self._origin % self.capacity]
            if first is None or first._data:  # type: ignore[attr-defined]
                break
            self.remove(1)
        packets: list[RtpPacket] = []
        timestamp: int | None = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None  # a gap: wait for the missing packet (or for the buffer to move on)
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                # The previous frame's marker packet was lost; it ends here all the same.
                return self._take(packets, timestamp, count)
            packets.append(packet)
            if packet.marker:
                return self._take(packets, timestamp, count + 1)
        return None

    def _take(self, packets: list[RtpPacket], timestamp: int, count: int) -> JitterFrame:
        frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)  # type: ignore[attr-defined]
        self.remove(count)
        return frame


def use_marker_jitter_buffer(receiver: Any) -> bool:
    """Give an aiortc video RTCRtpReceiver a MarkerJitterBuffer. Call it before media flows.

    Returns False (and changes nothing) when the receiver is not the aiortc this was written for
    or already holds packets, or has one already.
    """
    current = getattr(receiver, _BUFFER_ATTR, None)
    if isinstance(current, MarkerJitterBuffer):
        return False
    if type(current) is not JitterBuffer or not getattr(current, "_is_video", False):
        log.warning(
            "aiortc's receiver has no video JitterBuffer where expected (%s); frames will be "
            "completed one frame interval later",
            type(current).__name__,
        )
        return False
    if current._origin is not None:
        return False  # packets already arrived: swapping now would lose them
    setattr(receiver, _BUFFER_ATTR, MarkerJitterBuffer(current.capacity))
    return True
