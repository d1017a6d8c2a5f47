"""Load shedding: a frame the server received later than the stream's own pace (the machine is
behind, so frames queued before the server saw them) is recorded but not analysed, and counted;
frames on time are analysed; a sender whose clock runs slightly slow is not taken for a late one.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from server.stream.live import LiveStep
from server.stream.registry import StreamRegistry
from server.stream.session import MAX_FRAME_DELAY_S, IncomingFrame, StreamSession
from tests.stream_support import started_session, wait_until

FPS = 30.0
RGB = np.zeros((48, 64, 3), np.uint8)


class Counting:
    """An analyzer that only notes which frames it was given."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def step(self, rgb: NDArray[np.uint8], t: float) -> LiveStep:
        self.seen.append(t)
        return LiveStep(t=t, center_px=None, position_m=None, vy_mps=None, confidence=0.0)

    def end_lift(self, t: float) -> tuple[tuple[str, float], ...]:
        return ()


async def _play(session: StreamSession, arrivals: list[tuple[float, float]]) -> None:
    """Hand the session frames (stream time t, server arrival time), one analysis at a time."""
    for i, (t, arrival) in enumerate(arrivals):
        session.frame_arrived(IncomingFrame(index=i, t=t, arrival=arrival, rgb=RGB))
        await asyncio.sleep(0.002)  # let the processor take it before the next one


async def _session(tmp_path: Path) -> tuple[StreamRegistry, StreamSession, Counting]:
    analyzer = Counting()
    registry, session = await started_session(tmp_path, analyzer)
    return registry, session, analyzer


async def test_frames_received_late_are_recorded_not_analysed(tmp_path: Path) -> None:
    registry, session, analyzer = await _session(tmp_path)
    t = np.arange(90) / FPS
    # 1 s on time (a constant 20 ms transport delay), then the server falls behind by 10 ms a
    # frame for a second, then catches up (the shed frames freed the CPU).
    lag = np.concatenate([np.zeros(30), np.arange(1, 31) * 0.010, np.zeros(30)])
    # arrivals on the server's clock (its no-video watchdog reads it too)
    arrival = time.perf_counter() + t + 0.020 + lag
    await _play(session, list(zip(t.tolist(), arrival.tolist(), strict=True)))
    assert await wait_until(lambda: len(analyzer.seen) + session.metrics.counters.late_frames == 90)
    late = {round(x, 4) for x in t[lag > MAX_FRAME_DELAY_S]}
    assert late and {round(x, 4) for x in analyzer.seen}.isdisjoint(late)
    assert session.metrics.counters.late_frames == len(late)
    assert len(analyzer.seen) == 90 - len(late)
    assert session.metrics.counters.recorded_frames == 90  # the recording keeps every frame
    assert not session.closed.is_set()
    await session.close("test over")
    await registry.close_all()


async def test_a_slow_sender_clock_is_not_lateness(tmp_path: Path) -> None:
    registry, session, _ = await _session(tmp_path)
    # The sender's clock runs 200 ppm slow for 100 s of stream (arrivals drift 20 ms), with a
    # little network jitter: nothing is late.
    rng = np.random.default_rng(3)
    t = np.arange(0, 100, 1 / FPS)
    arrival = time.perf_counter() + t * (1 + 200e-6) + rng.uniform(0, 0.01, t.size)
    for i in range(t.size):
        assert session.frame_delay(IncomingFrame(i, float(t[i]), float(arrival[i]), rgb=RGB)) < 0.03
        session.frame_arrived(IncomingFrame(i, float(t[i]), float(arrival[i]), rgb=RGB))
    await session.close("test over")
    await registry.close_all()
