"""Fuzz the API from its own /openapi.json with schemathesis: no 5xx, nothing the document forbids.

The app runs under uvicorn on loopback (real HTTP, real multipart) with the fake analysis. Each
operation gets schemathesis' examples, coverage and fuzzing phases, derandomised with a fixed
seed so a run is repeatable. Two passes:

- generated: valid and invalid requests as a plain user, with generated path ids (mostly unknown
  sessions and threads: the 4xx paths);
- known: valid requests as an admin with the path ids pinned to a ready session, one of its
  threads and its owner, so the 200 bodies are checked against their schemas too (an admin, so
  that a generated user_id in the upload form is not a 403).

Besides no 5xx and conforming responses, the checks hold the document to what the server accepts:
a request the document calls invalid must get a 4xx, and one it calls valid must not get a 400
(except the upload, whose barbell-mass range depends on the owner's units).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from starlette.applications import Starlette

from server.api.openapi import build_openapi
from server.app import create_app
from server.auth.local import LocalTokens
from tests.api_support import FakeAnalyzer, FakeCoach, fake_render_demo, make_settings

SEED = 20261201
MAX_EXAMPLES = 150
USER = "fuzzer"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.ignored_auth,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
    checks.missing_required_header,
    checks.unsupported_method,
]
OPERATIONS = 14


@dataclass(frozen=True)
class Served:
    url: str
    user_token: str
    admin_token: str
    session_id: str
    thread_id: str


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        return None


@contextlib.contextmanager
def uvicorn_in_thread(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free loopback port from a thread with its own event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _ThreadServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _ready_session(url: str, token: str) -> tuple[str, str]:
    """A ready session of USER and one of its comment threads: (session id, thread id)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        r = http.post(
            "/api/v1/sessions",
            data={"user_id": USER, "exercise": "snatch"},
            files={"video": ("lift.mp4", b"fake video", "video/mp4")},
        )
        sid = r.json()["session_id"]
        deadline = time.monotonic() + 20
        while http.get(f"/api/v1/sessions/{sid}").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the seed session did not become ready"
            time.sleep(0.05)
        threads = http.post(f"/api/v1/sessions/{sid}/comment-threads").json()
    return sid, threads["bar_height"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = make_settings(tmp_path_factory.mktemp("fuzz"))
    app = create_app(
        settings, analyze=FakeAnalyzer(), coach=FakeCoach(), render_demo=fake_render_demo
    )
    with uvicorn_in_thread(app) as url:
        tokens = LocalTokens.from_settings(settings)
        user = tokens.mint(USER, plan="pro")
        session_id, thread_id = _ready_session(url, user)
        yield Served(url, user, tokens.mint("fuzz-admin", admin=True), session_id, thread_id)


def _schema(modes: list[GenerationMode] | None = None) -> Any:
    """The document /openapi.json serves (test_served_document_is_the_fuzzed_one checks that)."""
    config = SchemathesisConfig.from_dict(
        {
            "operations": [
                {
                    # The mass range is in kg or lb by the owner's profile, which a schema of the
                    # form cannot say: a mass out of range is a 400 for schema-valid data.
                    "include-path": "/api/v1/sessions",
                    "include-method": "POST",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "401", "403", "404"]
                        }
                    },
                }
            ]
        }
    )
    schema = schemathesis.openapi.from_dict(build_openapi(), config=config)
    schema.config.seed = SEED
    schema.config.update(request_timeout=30)
    schema.config.generation.update(
        modes=modes, max_examples=MAX_EXAMPLES, deterministic=True, database="none", no_shrink=True
    )
    return schema


generated = _schema()
valid_only = _schema([GenerationMode.POSITIVE])

# (pass, "METHOD /path", status) -> count: what the fuzzing reached, checked at the end.
SEEN: Counter[tuple[str, str, int]] = Counter()


def _call(case: Any, url: str, token: str, name: str) -> None:
    response = case.call_and_validate(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )
    if case.method.upper() == case.operation.method.upper():  # not a wrong-method probe
        SEEN[(name, f"{case.method.upper()} {case.operation.path}", response.status_code)] += 1


@generated.parametrize()
def test_fuzz_generated_ids(case: Any, served: Served) -> None:
    _call(case, served.url, served.user_token, "generated")


@valid_only.parametrize()
def test_fuzz_known_ids(case: Any, served: Served) -> None:
    # Coverage cases can be invalid in any mode; pinning their ids could make them valid.
    if case.meta is None or case.meta.generation.mode.is_positive:
        known = {"session_id": served.session_id, "thread_id": served.thread_id, "user_id": USER}
        for name in (case.path_parameters or {}).keys() & known.keys():
            case.path_parameters[name] = known[name]
    _call(case, served.url, served.admin_token, "known")


def test_served_document_is_the_fuzzed_one(served: Served) -> None:
    assert httpx.get(f"{served.url}/openapi.json").json() == build_openapi(served.url)


def test_fuzzing_reached_the_success_and_error_paths() -> None:
    """Runs after the fuzz tests (file order): every operation answered, and not only with 4xx."""
    if not SEEN:
        pytest.skip("the fuzz tests did not run in this session")
    statuses: dict[tuple[str, str], set[int]] = {}
    for name, operation, status in SEEN:
        statuses.setdefault((name, operation), set()).add(status)
    operations = {op for _name, op in statuses}
    assert len(operations) == OPERATIONS, sorted(operations)
    ok = {op for (name, op), codes in statuses.items() if name == "known" and 200 in codes}
    # Every operation but media (whose keys are random) succeeded with real ids.
    assert operations - ok == {"GET /media/{key}"}, sorted(operations - ok)
    codes = {op: c for (name, op), c in statuses.items() if name == "generated"}
    assert 404 in codes["GET /api/v1/sessions/{session_id}/data"]
    assert {400, 403} <= codes["POST /api/v1/sessions"]
    assert 401 in set().union(*codes.values())
    print(f"\nfuzz: {sum(SEEN.values())} requests")
    for (name, op), c in sorted(statuses.items()):
        print(f"  {name:9} {op:55} {sorted(c)}")
