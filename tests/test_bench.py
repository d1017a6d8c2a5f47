"""The benchmark harness in its short mode, so it cannot rot (figures are reported, not asserted)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.pose_model_fixtures import real_cache_or_skip


@pytest.mark.slow
def test_short_bench_writes_json_and_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real_cache_or_skip("pose_detection")
    import json

    from bench import harness

    assert harness.main(SimpleNamespace(short=True, out=str(tmp_path))) == 0
    (path,) = tmp_path.glob("bench-short-*.json")
    result = json.loads(path.read_text())
    assert {r["batch"] for r in result["pose"]} == {1, 4}
    assert all(r["landmark_ms_per_image"] > 0 for r in result["pose"])
    (row,) = result["analyze"]
    assert "error" not in row and row["frames"] > 50 and row["x_realtime"] > 0
    # our side of the peer comparison runs; the peers are skipped in short mode, and say so
    assert "skipped" in result["peers"] and result["peer_python"] is None
    (pose,) = result["pose_vs_mediapipe"]
    assert pose["ours_ms"] > 0 and "skipped" in pose["peer"]
    bar = [r for r in result["bar_vs_opencv"] if r.get("tracker") == "ours"]
    assert len(bar) == 1 and bar[0]["lost_frames"] < bar[0]["frames"]
    assert all(m["peak_rss_mib"] > 0 for m in result["memory"])
    # one live stream through a real `liftstream serve`, with the server's counters
    (live,) = result["live"]
    assert live["streams"] == 1 and not live["errors"], live
    assert live["frames_sent"] > 0 and live["per_stream"][0]["frames_received"] > 0
    out = capsys.readouterr().out
    assert "analyze:" in out and "bar tracking:" in out and "live (" in out


def test_gpu_script_runs_on_the_cpu_provider_and_refuses_to_pass_it_off_as_cuda(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/gpu.py is run on a GPU machine only; here its CPU mode keeps it working."""
    cache = real_cache_or_skip("pose_landmark_lite")
    import json

    from bench import gpu
    from server.pose.runtime import CUDA

    out = tmp_path / "gpu.json"
    argv = ["--provider", "cpu", "--variants", "lite", "--batches", "1,2", "--runs", "3"]
    assert gpu.main([*argv, "--model-dir", str(cache.model_dir), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["batch"] for r in rows] == [1, 2]
    for r in rows:
        assert r["provider"] == "CPUExecutionProvider" and r["images_per_s"] > 0
        assert r["run_p99_ms"] >= r["run_p50_ms"] > 0
        assert r["streams_at_30fps"] >= 0
    assert "streams@30fps" in capsys.readouterr().out
    import onnxruntime

    if CUDA not in onnxruntime.get_available_providers():
        with pytest.raises(SystemExit, match="CUDAExecutionProvider is not available"):
            gpu.main(["--variants", "lite", "--batches", "1", "--runs", "1", "--out", str(out)])
