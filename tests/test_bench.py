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
    assert "analyze:" in capsys.readouterr().out
