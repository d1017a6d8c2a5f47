"""A lift the live machine started and then cancelled (the bar came back down without an Olympic
pull): the client is told with `lift_cancelled`, no summary, recording or session is made for it,
and the next real lift takes its number and is finalised as usual."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from server.stream import protocol as p
from server.stream.live import LiveStep
from server.stream.session import IncomingFrame
from tests.stream_support import RecordingFinaliser, started_session, wait_until

FPS = 30.0
RGB = np.zeros((48, 64, 3), np.uint8)


class Sink:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def is_open(self) -> bool:
        return True

    def buffered_amount(self) -> int:
        return 0

    def send(self, data: bytes) -> None:
        self.messages.append(p.decode_server(data))


class Scripted:
    """Frame 10: a lift starts (2.5 m/s at 15); 20: it is cancelled; 40: a lift starts (1.5 m/s
    at 55); 70: it ends."""

    async def step(self, rgb: NDArray[np.uint8], t: float) -> LiveStep:
        i = round(t * FPS)
        return LiveStep(
            t=t,
            center_px=np.array([32.0, 24.0]),
            position_m=np.array([0.0, 0.225]),
            vy_mps={15: 2.5, 55: 1.5}.get(i, 0.0),
            confidence=1.0,
            phases=(("first_pull", t),) if i in (10, 40) else (),
            lift_started=i in (10, 40),
            lift_cancelled=i == 20,
            lift_ended=i == 70,
        )

    def end_lift(self, t: float) -> tuple[tuple[str, float], ...]:
        return ()


async def test_a_cancelled_lift_is_dropped_and_the_next_takes_its_number(tmp_path: Path) -> None:
    finaliser = RecordingFinaliser()
    registry, session = await started_session(tmp_path, Scripted(), finaliser)
    sink = Sink()
    session.attach_sink(sink)
    t0 = time.perf_counter()  # arrivals on the server's clock (its watchdog reads it too)
    for i in range(90):
        session.frame_arrived(IncomingFrame(index=i, t=i / FPS, arrival=t0 + i / FPS, rgb=RGB))
        await wait_until(lambda i=i: session.metrics.counters.frames_processed > i, 5)
    await registry.wait_background(20)
    kinds = [(m["type"], m.get("lift")) for m in sink.messages if m["type"] != "sample"]
    assert kinds == [
        ("hello", None),
        ("phase", 1),
        ("lift_cancelled", 1),
        ("phase", 1),
        ("lift_summary", 1),
        ("session", 1),
    ], kinds
    cancelled = next(m for m in sink.messages if m["type"] == "lift_cancelled")
    assert cancelled["t"] == round(20 / FPS, 4)
    summary = next(m for m in sink.messages if m["type"] == "lift_summary")
    assert abs(summary["start_t"] - 40 / FPS) < 1e-3
    assert summary["peak_velocity_mps"] == 1.5  # the cancelled rise's 2.5 m/s is not in it
    (request,) = finaliser.requests
    assert request.lift == 1
    await session.close("test over")
    await registry.close_all()
    await asyncio.sleep(0)
