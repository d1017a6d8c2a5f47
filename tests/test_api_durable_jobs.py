"""Jobs are durable: a server killed in the middle of an analysis resumes it on restart, a job the
server keeps dying on fails with a reason after `max_attempts`, and the original video is kept
in every case.

The first test kills a real `liftstream serve` process (SIGKILL, no clean-up of any kind) while
the real pipeline is analysing a synthetic clip, then starts a new process on the same data folder.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.local import LocalTokens
from server.settings import Settings
from server.store.models import SessionRow
from server.store.repo import Store
from server.synth.clip import RenderOptions, render_clip
from server.synth.trajectory import make_trajectory
from tests import api_support
from tests.api_support import Api, FakeAnalyzer, FakeCoach, fake_render_demo, make_settings
from tests.pose_model_fixtures import real_cache_or_skip
from tests.serve_support import Server, serve, wait_for_job

database_url = api_support.database_url
postgres_server = api_support.postgres_server

S = "/api/v1/sessions"


def _original_path(server: Server, session_id: str) -> Path:
    """The stored original video of a session, found from its URL (local media)."""
    url = str(server.session(session_id)["original_video_url"])
    key = urlparse(url).path.removeprefix("/media/")
    return server.data_dir / "media" / key


def _wait_processing(server: Server, session_id: str, min_progress: float) -> float:
    """Poll until the job is processing with at least `min_progress`; that progress."""
    deadline = time.monotonic() + 180
    while True:
        details = server.session(session_id)
        assert details["status"] in ("queued", "processing"), details
        progress = float(str(details["progress"]))
        if details["status"] == "processing" and progress >= min_progress:
            return progress
        assert time.monotonic() < deadline, f"job never reached {min_progress}: {details}"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_server_killed_mid_analysis_resumes_the_job_on_restart(tmp_path: Path) -> None:
    models = real_cache_or_skip("pose_detection")
    clip = tmp_path / "snatch.mp4"
    traj = make_trajectory("snatch", seed=5, lift_start=1.0, hold=1.0)
    render_clip(traj, clip, fps=30.0, size=(640, 480), options=RenderOptions(seed=5))
    data_dir = tmp_path / "data"
    with serve(data_dir, model_dir=models.model_dir) as first:
        with clip.open("rb") as f:
            r = httpx.post(
                f"{first.url}{S}",
                headers=first.headers,
                data={"user_id": "ana", "exercise": "snatch", "barbell_mass": "70"},
                files={"video": ("snatch.mp4", f, "video/mp4")},
                timeout=60,
            )
        assert r.status_code == 200, r.text
        sid = r.json()["session_id"]
        progress = _wait_processing(first, sid, min_progress=0.2)
        original = _original_path(first, sid)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    assert first.proc.returncode == -signal.SIGKILL
    # Killed part-way: the job had started and not finished; the upload is intact on disk.
    assert 0.2 <= progress < 1.0
    assert original.read_bytes() == clip.read_bytes()

    with serve(data_dir, model_dir=models.model_dir) as second:
        assert wait_for_job(second, sid, timeout_s=300) == "ready", second.session(sid)
        details = second.session(sid)
        assert details["failure_reason"] is None and details["progress"] == 1.0
        data = httpx.get(f"{second.url}{S}/{sid}/data", headers=second.headers).json()
        peak = data["lift"]["peak_bar_velocity"]["value"]
        assert peak == pytest.approx(traj.params["peak_velocity"], rel=0.05)
        video = httpx.get(str(details["analyzed_video_url"]))
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert _original_path(second, sid).read_bytes() == clip.read_bytes()
    log = second.log_path.read_text()
    assert f"re-queued ['{sid}']" in log, log[-3000:]


def _mark_processing(settings: Settings, session_id: str, attempts: int) -> None:
    """Leave the row as a server killed while processing it would: status processing."""
    store = Store.open(settings.effective_database_url)
    try:
        with store.engine.begin() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(status="processing", progress=0.4, attempts=attempts)
            )
    finally:
        store.close()


def _app(settings: Settings) -> Api:
    analyzer = FakeAnalyzer()
    app = create_app(settings, analyze=analyzer, coach=FakeCoach(), render_demo=fake_render_demo)
    client = TestClient(app, raise_server_exceptions=False)
    return Api(client, settings, LocalTokens.from_settings(settings), analyzer)


@pytest.mark.parametrize(
    ("attempts", "outcome"), [(1, "ready"), (2, "ready"), (3, "failed")], ids=str
)
def test_restart_requeues_an_interrupted_job_until_max_attempts(
    tmp_path: Path, database_url: str, attempts: int, outcome: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    first = _app(settings)
    with first.client:
        sid = first.ready_session("ana")
        original = first.client.get(f"{S}/{sid}", headers=first.headers("ana")).json()
    _mark_processing(settings, sid, attempts)
    second = _app(settings)
    with second.client:
        h = second.headers("ana")
        details = second.wait(sid, h)
        assert details["status"] == outcome, details
        if outcome == "failed":
            assert details["failure_reason"] == (
                "the server stopped during processing 3 times; the original video is kept"
            )
            assert second.client.get(f"{S}/{sid}/data", headers=h).status_code == 404
        else:
            assert details["failure_reason"] is None
            assert second.client.get(f"{S}/{sid}/data", headers=h).status_code == 200
        # Re-queued jobs run again; the one that failed is not tried a fourth time.
        assert len(second.analyzer.calls) == (1 if outcome == "ready" else 0)
        # The original video is still stored and served in both cases.
        url = urlparse(details["original_video_url"])
        assert url.path == urlparse(original["original_video_url"]).path
        video = second.client.get(url.path)
        assert video.status_code == 200 and video.content == b"fake video bytes"
