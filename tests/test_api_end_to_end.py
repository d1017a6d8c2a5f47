"""End to end with the real pipeline: a uvicorn server on loopback, the real pose models, a
synthetic clip and (when present) a real clip uploaded, analysed, read back, media played."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import httpx
import pytest

from server.api.demo import DEMO_SEED
from server.app import create_app
from server.auth.local import LocalTokens
from server.settings import Settings
from server.synth.clip import RenderOptions, render_clip
from server.synth.trajectory import make_trajectory
from tests.conftest import CLIPS
from tests.pose_model_fixtures import real_cache_or_skip
from tests.stream_support import running_server

pytestmark = pytest.mark.slow


def _clips(tmp: Path) -> list[tuple[Path, str]]:
    synthetic = tmp / "snatch.mp4"
    traj = make_trajectory("snatch", seed=8, lift_start=0.6, hold=0.6)
    render_clip(
        traj, synthetic, fps=30.0, size=(640, 480), options=RenderOptions(seed=8, noise_sigma=2.0)
    )
    clips = [(synthetic, "snatch")]
    real = CLIPS / "snatch_side_competition_wdias.mp4"
    if real.is_file():
        clips.append((real, "snatch"))
    return clips


async def test_upload_analyse_and_read_everything_back(tmp_path: Path) -> None:
    real_cache_or_skip("pose_detection")
    settings = Settings.from_env(data_dir=tmp_path / "data")
    app = create_app(settings)
    token = LocalTokens.from_settings(settings).mint("athlete", plan="pro")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        running_server(app) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http,
    ):
        ids = []
        for clip, exercise in _clips(tmp_path):
            with clip.open("rb") as f:
                r = await http.post(
                    "/api/v1/sessions",
                    data={"user_id": "athlete", "exercise": exercise, "barbell_mass": "80"},
                    files={"video": (clip.name, f, "video/mp4")},
                )
            assert r.status_code == 200, r.text
            ids.append(r.json()["session_id"])
        for sid in ids:
            base = f"/api/v1/sessions/{sid}"
            for _ in range(600):
                details = (await http.get(base)).json()
                if details["status"] in ("ready", "failed"):
                    break
                await asyncio.sleep(0.5)
            assert details["status"] == "ready", details
            data = (await http.get(f"{base}/data")).json()
            assert data["exercise"] == "snatch" and data["activity"] == "Weightlifting"
            assert 1.2 < data["lift"]["peak_bar_velocity"]["value"] < 2.6
            assert len(data["key_metrics"]["barbell_velocity"]) == len(data["timestamps"])
            assert "second_pull" in data["chart_data"]
            report = await http.get(f"{base}/report")
            summary = await http.get(f"{base}/summary")
            threads = await http.post(f"{base}/comment-threads")
            assert report.status_code == summary.status_code == threads.status_code == 200
            assert "barbell_velocity" in threads.json()
            video = await http.get(details["analyzed_video_url"])
            assert video.status_code == 200
            with av.open(io.BytesIO(video.content)) as container:
                frames = sum(1 for _ in container.decode(video=0))
            assert frames >= 0.9 * len(data["timestamps"])
            image = await http.get(data["phase_data"]["start_of_lifting"]["image_url"])
            assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
        # The demo session is the project's simulated snatch analysed by this same pipeline (the
        # first demo=true request makes it): its numbers are the simulated lift's.
        demo = await http.get("/api/v1/sessions/any/data?demo=true", timeout=600)
        assert demo.status_code == 200, demo.text
        truth = make_trajectory("snatch", seed=DEMO_SEED, lift_start=0.8, hold=0.8)
        peak = demo.json()["lift"]["peak_bar_velocity"]["value"]
        assert peak == pytest.approx(truth.params["peak_velocity"], rel=0.03)
        details = (await http.get("/api/v1/sessions/any?demo=true")).json()
        assert details["demo"] is True and details["status"] == "ready"
        video = await http.get(details["analyzed_video_url"])
        with av.open(io.BytesIO(video.content)) as container:
            assert sum(1 for _ in container.decode(video=0)) == len(demo.json()["timestamps"])
