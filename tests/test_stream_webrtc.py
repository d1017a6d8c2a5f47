"""End to end over real WebRTC (aiortc client <-> aiortc server on 127.0.0.1), no browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.stream import protocol as p
from server.stream.client import stream_clip
from tests.stream_support import (
    TOKEN,
    RecordingFinaliser,
    make_app,
    make_registry,
    render_disc_clip,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_clip_streams_samples_phases_summary_and_session(tmp_path: Path, codec: str) -> None:
    clip = render_disc_clip(tmp_path / "disc.mp4", "snatch")
    finaliser = RecordingFinaliser()
    registry = make_registry(tmp_path, clip, finaliser)
    async with running_server(make_app(registry)) as url:
        result = await stream_clip(
            url,
            clip.path,
            p.Start(exercise="snatch", want_keypoints=True),
            token=TOKEN,
            codec=codec,
            session_timeout_s=30,
        )
        # The client hung up: the server closes its side of the connection by itself.
        assert await wait_until(lambda: not registry.sessions, 10)
    n = len(clip.t)
    assert result.frames_sent == n
    samples = result.of_type("sample")
    # Acceptance: samples for at least 90 % of the frames sent.
    assert len(samples) >= 0.9 * n, (len(samples), n)
    # Timestamps come from the stream's clock: they match the clip's frame times.
    ts = np.array([s["t"] for s in samples])
    assert np.all(np.diff(ts) > 0)
    frames = np.array([s["frame"] for s in samples])
    assert np.allclose(ts, clip.t[frames] - clip.t[frames[0]] + ts[0], atol=0.002)
    # Positions are the disc's, measured from the received pixels.
    idx = np.round((ts - ts[0]) * 30).astype(int) + frames[0]
    err = np.hypot(
        np.array([s["x_m"] for s in samples]) - clip.position_m[idx, 0],
        np.array([s["y_m"] for s in samples]) - clip.position_m[idx, 1],
    )
    assert np.median(err) < 0.005, np.median(err)
    assert all(len(s["keypoints"]) == 33 for s in samples)
    names = [m["name"] for m in result.of_type("phase")]
    assert names == ["first_pull", "turnover", "catch", "recovery"]
    (summary,) = result.of_type("lift_summary")
    truth_peak = float(
        clip.trajectory.velocity(np.linspace(0, clip.trajectory.duration, 5000))[:, 1].max()
    )
    assert summary["peak_velocity_mps"] == pytest.approx(truth_peak, rel=0.05)
    assert summary["max_height_m"] == pytest.approx(float(clip.position_m[:, 1].max()), abs=0.01)
    assert list(summary["phase_durations_s"]) == names
    (session,) = result.of_type("session")
    assert session["lift"] == summary["lift"] == 1
    # The original video was recorded: every frame up to the end of the lift.
    (request,) = finaliser.requests
    assert request.user_id == "user-1" and request.start.exercise == "snatch"
    assert finaliser.frames[0] >= 0.9 * (summary["end_t"] * 30)
    m = registry.metrics.as_dict()
    assert m["frames_processed"] >= len(samples) and m["latency"]["count"] >= len(samples)
    assert m["connections_open"] == 0


async def test_offer_needs_a_valid_bearer_token(tmp_path: Path) -> None:
    clip = render_disc_clip(tmp_path / "disc.mp4", "snatch", hold=0.2)
    registry = make_registry(tmp_path, clip, RecordingFinaliser())
    async with running_server(make_app(registry)) as url:
        for token in (None, "wrong"):
            with pytest.raises(Exception, match="401"):
                await stream_clip(url, clip.path, p.Start(exercise="snatch"), token=token)
    assert registry.metrics.connections_opened == 0
