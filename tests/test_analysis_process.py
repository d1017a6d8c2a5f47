"""Jobs' analyses in child processes (server.analysis.process) with the real models."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.analysis.process import ProcessAnalyzer
from server.api.demo import DEMO_OPTIONS
from server.errors import ModelMissingError, VideoError
from server.jobs import JobCancelled
from server.pose.models import ModelCache
from server.pose.service import resolve_variant
from server.settings import Settings
from server.synth.clip import RenderOptions, render_clip
from server.synth.trajectory import make_trajectory
from tests.pose_model_fixtures import real_cache_or_skip

OPTIONS: dict[str, Any] = {**DEMO_OPTIONS, "barbell_mass_kg": 60.0, "render": False}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    traj = make_trajectory("snatch", seed=2, lift_start=0.5, hold=0.5)
    path = tmp_path_factory.mktemp("clip") / "snatch.mp4"
    render_clip(traj, path, fps=30.0, size=(640, 360), options=RenderOptions(seed=2))
    return path, traj.params["peak_velocity"]


@pytest.fixture
def analyzer() -> Iterator[ProcessAnalyzer]:
    real_cache_or_skip("pose_detection")
    settings = Settings()
    real_cache_or_skip(
        f"pose_landmark_{resolve_variant(settings.landmark_variant, ModelCache(settings.model_dir))}"
    )
    jobs = ProcessAnalyzer(settings.model_dir, settings.landmark_variant)
    jobs.start()
    yield jobs
    jobs.close()


def _out(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


def _child(jobs: ProcessAnalyzer) -> Any:
    assert len(jobs._idle) == 1
    return jobs._idle[0].proc


@pytest.mark.slow
def test_a_job_runs_in_a_lower_priority_child_and_reports_progress(
    analyzer: ProcessAnalyzer, clip: tuple[Path, float], tmp_path: Path
) -> None:
    child = _child(analyzer)
    assert child.pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, child.pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 10
    seen: list[float] = []
    path, peak = clip
    analyzer(path, OPTIONS, tmp_path, seen.append)
    doc = json.loads((tmp_path / "session.json").read_text())
    assert doc["lift"]["peak_bar_velocity"]["value"] == pytest.approx(peak, rel=0.05)
    assert seen and seen == sorted(seen) and seen[0] >= 0.0 and seen[-1] <= 1.0
    # Refused input keeps its error class and message; the same child takes the next job.
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(VideoError):
        analyzer(bad, OPTIONS, _out(tmp_path, "bad"), seen.append)
    assert _child(analyzer) is child and child.is_alive()


@pytest.mark.slow
def test_a_stopped_or_dead_child_is_replaced(
    analyzer: ProcessAnalyzer, clip: tuple[Path, float], tmp_path: Path
) -> None:
    path, _ = clip
    first = _child(analyzer)

    def cancel(_fraction: float) -> None:
        raise JobCancelled("stopping")

    with pytest.raises(JobCancelled):
        analyzer(path, OPTIONS, _out(tmp_path, "a"), cancel)
    assert not first.is_alive() and analyzer._idle == []
    # A child killed mid-job (a decoder fault, the OOM killer) fails that job only.
    started = threading.Event()
    pids: list[int] = []

    def kill_once(_fraction: float) -> None:
        if not started.is_set():
            started.set()
            busy = [int(c.pid) for c in multiprocessing.active_children()]
            pids.extend(busy)
            os.kill(busy[0], signal.SIGKILL)

    with pytest.raises(RuntimeError, match="analysis process stopped"):
        analyzer(path, OPTIONS, _out(tmp_path, "b"), kill_once)
    assert pids and pids[0] != first.pid
    analyzer(path, OPTIONS, _out(tmp_path, "c"), lambda _f: None)
    assert (tmp_path / "c" / "session.json").is_file()


def test_missing_models_are_named_at_start(tmp_path: Path) -> None:
    jobs = ProcessAnalyzer(tmp_path / "no-models", "full")
    with pytest.raises(ModelMissingError, match="liftstream models prepare"):
        jobs.start()
    jobs.close()
