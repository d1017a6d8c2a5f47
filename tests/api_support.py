"""Helpers for the API tests: a fake analysis and coach, app fixtures, upload and poll helpers.

The fake analysis stands in for server.analysis.pipeline in the fast tests (the end-to-end tests
use the real one). What it does is steered by the first bytes of the uploaded "video":
b"NOLIFT" -> NoLiftError, b"CRASH" -> RuntimeError, b"SLOW<n>" -> n progress steps of 0.1 s.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.local import LocalTokens
from server.errors import NoLiftError
from server.settings import Settings
from tests.pg_server import postgres_server  # noqa: F401 - re-exported fixture

METRIC_GROUPS = {
    "key_metrics": ("power_output", "ground_reaction_force", "barbell_velocity"),
    "body_positioning": ("hip_velocity", "shin_angle", "hip_height", "torso_angle"),
    "barbell_positioning": ("bar_height", "barbell_trajectory", "vertical_shoulder_height"),
}
METRICS = (
    "power_output",
    "ground_reaction_force",
    "barbell_velocity",
    "hip_velocity",
    "shin_angle",
    "hip_height",
    "torso_angle",
    "hip_angle",
    "knee_angle",
    "bar_height",
    "barbell_trajectory",
    "vertical_shoulder_height",
)
PHASES = ("start_of_lifting", "first_pull_end")


@dataclass
class FakeAnalyzer:
    """Writes a seed-shaped session.json whose numbers depend on the options it was given."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, video: Path, options: dict[str, Any], out_dir: Path, progress: Any) -> None:
        head = video.read_bytes()[:16]
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        self.calls.append({"video": video, "options": dict(options), "head": head, "nice": nice})
        if head.startswith(b"NOLIFT"):
            raise NoLiftError("no barbell lift found in the clip (no plate left the floor)")
        if head.startswith(b"CRASH"):
            raise RuntimeError("secret internal detail /etc/passwd")
        if head.startswith(b"SLOW"):
            steps = int(head[4:8].decode() or "10")
            for i in range(steps):
                progress(i / steps)
                time.sleep(0.1)
        n = 5
        mass = float(options["barbell_mass_kg"])
        doc: dict[str, Any] = {
            "exercise": options["exercise"],
            "timestamps": [round(i / 30, 4) for i in range(n)],
            "joint_angles": {
                f"{j}_angle": [170.0 - i for i in range(n)] for j in options["joints"]
            },
            "phase_data": {e: {"image_url": f"phases/{e}.jpg"} for e in PHASES},
            "chart_data": {
                "setup": {"start": 0, "end": 100},
                "first_pull": {"start": 100, "end": 130},
            },
        }
        for group, names in METRIC_GROUPS.items():
            doc[group] = {name: [mass * (i + 1) for i in range(n)] for name in names}
        (out_dir / "phases").mkdir()
        for event in PHASES:
            (out_dir / "phases" / f"{event}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + event.encode())
        (out_dir / "analyzed.mp4").write_bytes(b"analyzed:" + head)
        (out_dir / "session.json").write_text(json.dumps(doc))


class FakeCoach:
    """Deterministic rules stand-in; every message names the metric's peak value and the units."""

    def report(self, document: dict[str, Any], units: str) -> dict[str, Any]:
        peak = max(document["key_metrics"]["barbell_velocity"])
        return {"findings": [{"metric": "barbell_velocity", "value": peak, "units": units}]}

    def summary(
        self, document: dict[str, Any], units: str, user_info: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "headline": f"{document['exercise']} for {user_info['display_name']}",
            "units": units,
        }

    def analysis_messages(self, document: dict[str, Any], units: str) -> dict[str, str]:
        return {m: f"{m} in {units}" for m in METRICS}

    def summary_messages(self, document: dict[str, Any], units: str) -> dict[str, str]:
        return {"overall": f"overall in {units}", "next_steps": f"next steps in {units}"}


def fake_render_demo(dest: Path) -> dict[str, Any]:
    dest.write_bytes(b"DEMO clip")
    return {
        "exercise": "snatch",
        "barbell_mass_kg": 100.0,
        "joints": ["hip", "knee"],
        "plate_diameter_m": 0.45,
        "units": "metric",
        "render": True,
    }


@dataclass
class Api:
    client: TestClient
    settings: Settings
    tokens: LocalTokens
    analyzer: FakeAnalyzer

    def headers(
        self, user: str, *, admin: bool = False, plan: str | None = "pro"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.mint(user, admin=admin, plan=plan)}"}

    def forge(self, **claims: Any) -> dict[str, str]:
        """A header with a token signed by the server's secret but with arbitrary claims."""
        import jwt

        from server.auth.local import ISSUER, secret_path

        now = int(time.time())
        body = {"iss": ISSUER, "iat": now, "exp": now + 600, **claims}
        token = jwt.encode(body, secret_path(self.settings).read_text().strip().encode(), "HS256")
        return {"Authorization": f"Bearer {token}"}

    def upload(
        self,
        headers: dict[str, str],
        video: bytes | None = b"fake video bytes",
        filename: str = "lift.mp4",
        **fields: str,
    ) -> Any:
        data = {"exercise": "snatch", **fields}
        if video is None:
            # httpx sends multipart only with `files`: the fields go there, as parts without a
            # filename, so the body stays multipart with no file in it.
            parts = {name: (None, value) for name, value in data.items()}
            return self.client.post("/api/v1/sessions", headers=headers, files=parts)
        files = {"video": (filename, video, "video/mp4")}
        return self.client.post("/api/v1/sessions", headers=headers, data=data, files=files)

    def wait(
        self, session_id: str, headers: dict[str, str], timeout: float = 20.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.client.get(
                f"/api/v1/sessions/{session_id}", headers=headers
            ).json()
            if body["status"] in ("ready", "failed") or time.monotonic() > deadline:
                return body
            time.sleep(0.05)

    def ready_session(self, user: str = "ana", **fields: str) -> str:
        h = self.headers(user)
        r = self.upload(h, user_id=user, **fields)
        assert r.status_code == 200, r.text
        assert self.wait(r.json()["session_id"], h)["status"] == "ready"
        return str(r.json()["session_id"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'liftstream.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.new_database())


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        model_dir=tmp_path / "models",
        database_url=database_url,
        **overrides,
    )


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    settings = make_settings(tmp_path, database_url)
    analyzer = FakeAnalyzer()
    app = create_app(settings, analyze=analyzer, coach=FakeCoach(), render_demo=fake_render_demo)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, settings, LocalTokens.from_settings(settings), analyzer)
