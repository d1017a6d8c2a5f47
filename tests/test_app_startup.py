"""Start-up does the slow imports, off the event loop: the first live stream's `start` must not
hold the loop (server.app._import_live_analysis). A 2 s hold there (on the CI machine, the
import of the live analysis took over 1.6 s) left every frame of a 1 s stream unread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# In a fresh interpreter: this process has imported everything already.
_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from starlette.testclient import TestClient
    from server.app import create_app
    from tests.api_support import FakeAnalyzer, FakeCoach, fake_render_demo, make_settings

    LIVE = "server.stream.live_pipeline"
    app = create_app(
        make_settings(Path(sys.argv[1])),
        analyze=FakeAnalyzer(),
        coach=FakeCoach(),
        render_demo=fake_render_demo,
    )
    before = LIVE in sys.modules
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        print(before, LIVE in sys.modules, "scipy.stats" in sys.modules)
    """
)


def test_the_live_analysis_is_imported_at_start_up_not_at_the_first_stream(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # not imported by create_app, imported (with the scipy it pulls in) once started
    assert done.stdout.split() == ["False", "True", "True"], done.stdout
