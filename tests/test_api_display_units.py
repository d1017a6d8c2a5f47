"""Report and summary in the unit system the reader asks for (`?measurement_system=`), used by
the web client so the coach's texts match the numbers it shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import api_support
from tests.api_support import Api

api = api_support.api
S = "/api/v1/sessions"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the query parameter does not touch the database."""
    return f"sqlite:///{tmp_path / 'liftstream.db'}"


@pytest.mark.parametrize("resource", ["report", "summary"])
def test_report_and_summary_follow_the_asked_units(api: Api, resource: str) -> None:
    sid = api.ready_session("ana")
    h = api.headers("ana")
    own = api.client.get(f"{S}/{sid}/{resource}", headers=h)
    assert own.status_code == 200 and own.json()["measurement_system"] == "metric"
    asked = api.client.get(f"{S}/{sid}/{resource}?measurement_system=imperial", headers=h)
    assert asked.status_code == 200, asked.text
    assert asked.json()["measurement_system"] == "imperial"
    body = asked.json()
    # What the (fake) coach was given: the summary says it, the report's finding carries it.
    assert (body.get("units") or body["findings"][0]["units"]) == "imperial"
    bad = api.client.get(f"{S}/{sid}/{resource}?measurement_system=furlongs", headers=h)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_parameter"
