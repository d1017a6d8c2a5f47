"""The served app freezes what start-up made, so the cyclic collector's full passes during a
stream scan only what came after (server.app.create_app, freeze_gc)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.api_support import FakeAnalyzer, FakeCoach, fake_render_demo, make_settings


@pytest.mark.parametrize("freeze", [True, False])
def test_start_up_freezes_the_heap_only_when_asked(tmp_path: Path, freeze: bool) -> None:
    app = create_app(
        make_settings(tmp_path),
        analyze=FakeAnalyzer(),
        coach=FakeCoach(),
        render_demo=fake_render_demo,
        freeze_gc=freeze,
    )
    gc.unfreeze()  # whatever an earlier test left
    try:
        with TestClient(app) as client:
            frozen = gc.get_freeze_count()
            assert client.get("/healthz").status_code == 200
        if freeze:
            assert frozen > 10_000  # the imported modules and the started app, at least
        else:
            assert frozen == 0
    finally:
        gc.unfreeze()  # back in the collector's reach, for the tests after this one
