"""Real browser end to end: headless Chromium's fake camera -> WebRTC -> server -> data channel."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from tests.browser.chromium import PAGE, make_y4m, require_browser, start_chromium
from tests.stream_support import (
    TOKEN,
    RecordingFinaliser,
    make_app,
    make_registry,
    render_disc_clip,
    running_server,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def page(request: Request) -> FileResponse:
    return FileResponse(PAGE)


async def run_page(
    url: str, y4m: Path, profile: Path, query: str, timeout: float
) -> dict[str, Any]:
    """Open the test page in Chromium and return what it collected once a session arrived."""
    driver = await asyncio.to_thread(start_chromium, y4m, profile)
    try:
        await asyncio.to_thread(driver.get, f"{url}/test-assets/stream.html?token={TOKEN}&{query}")
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = await asyncio.to_thread(
                driver.execute_script,
                "return {status: window.__status, errors: window.__errors, "
                "messages: window.__messages, first: window.__firstSampleStats || null, "
                "atSummary: window.__summaryStats || null, offer: window.__offerSdp || ''};",
            )
            if state["errors"] or any(m["type"] == "session" for m in state["messages"]):
                break
            await asyncio.sleep(0.25)
        # Hang up like a page that is closed: the server closes its side at once.
        await asyncio.to_thread(driver.execute_script, "window.__pc && window.__pc.close();")
        return state
    finally:
        await asyncio.to_thread(driver.quit)


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_browser_camera_gets_samples_phases_summary_and_session(
    tmp_path: Path, codec: str
) -> None:
    require_browser()
    # The fake camera starts playing at getUserMedia; the lift starts after the connection is up.
    clip = render_disc_clip(tmp_path / "disc.mp4", "snatch", fps=25, lift_start=3.0, hold=1.5)
    y4m = make_y4m(clip.path, tmp_path / "disc.y4m", fps=25)
    finaliser = RecordingFinaliser()
    registry = make_registry(tmp_path, clip, finaliser)
    app = make_app(registry)
    app.router.routes.append(Route("/test-assets/stream.html", page))
    async with running_server(app) as url:
        state = await run_page(url, y4m, tmp_path / "profile", f"codec={codec}", timeout=60)
        assert not state["errors"], state["errors"]
        assert await wait_until(lambda: not registry.sessions, 10)
    messages = state["messages"]
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "hello", kinds[:3]
    samples = [m for m in messages if m["type"] == "sample"]
    summary = next(m for m in messages if m["type"] == "lift_summary")
    # Acceptance: samples for >= 90 % of the frames the browser sent (25 fps) while analysing.
    first, at_summary = state["first"], state["atSummary"]
    sent = at_summary["framesSent"] - first["framesSent"]
    received = sum(
        1
        for m in samples
        if m["_rx"] <= next(x["_rx"] for x in messages if x["type"] == "lift_summary")
    )
    assert sent > 50
    assert received >= 0.9 * sent, (received, sent)
    phases = [m["name"] for m in messages if m["type"] == "phase"]
    assert phases[:4] == ["first_pull", "turnover", "catch", "recovery"]
    ts = [m["t"] for m in messages if m["type"] == "phase"][:4]
    assert ts == sorted(ts)
    truth = float(
        clip.trajectory.velocity(np.linspace(0, clip.trajectory.duration, 5000))[:, 1].max()
    )
    # 25 fps one-frame differences of a browser-encoded picture: a loose check of the numbers.
    assert summary["peak_velocity_mps"] == pytest.approx(truth, rel=0.1)
    session = next(m for m in messages if m["type"] == "session")
    assert session["lift"] == summary["lift"] == 1
    assert finaliser.frames and finaliser.frames[0] >= 0.9 * (summary["end_t"] - 0) * 25 * 0.5
    assert "m=video" in state["offer"]
