"""The seed's status codes that the other API tests leave out, for the reason the seed gives:
401 for expired, wrong-signature and malformed tokens and 500 for an internal fault on every seed
operation, 400 for a bad admin uid, 405 for a wrong method; and the document lists, for every
seed operation, exactly the seed's statuses.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from server.auth.local import LocalTokens
from tests import api_support
from tests.api_support import Api

api = api_support.api
database_url = api_support.database_url
postgres_server = api_support.postgres_server

S = "/api/v1/sessions"
# (method, path after /api/v1/sessions) of the seed's seven operations; {sid} a ready session.
SEED_OPERATIONS = [
    ("POST", ""),
    ("GET", "/{sid}"),
    ("GET", "/{sid}/data"),
    ("GET", "/{sid}/report"),
    ("POST", "/{sid}/comment-threads"),
    ("GET", "/{sid}/summary"),
    ("POST", "/{sid}/summary-threads"),
]
IDS = [f"{m} {p or '/'}" for m, p in SEED_OPERATIONS]


def send(api: Api, method: str, path: str, sid: str, headers: dict[str, str]) -> Any:
    if path == "":
        return api.upload(headers, user_id="ana")
    return api.client.request(method, S + path.format(sid=sid), headers=headers)


@pytest.mark.parametrize(("method", "path"), SEED_OPERATIONS, ids=IDS)
def test_401_expired_wrong_signature_and_malformed_tokens(api: Api, method: str, path: str) -> None:
    sid = api.ready_session("ana")
    month_ago = time.time() - 31 * 86400
    expired = api.tokens.mint("ana", plan="pro", days=30, now=month_ago)
    # Same claims, signed with a secret that is not the server's.
    forged = LocalTokens(b"not-the-server-secret-0123456789abcdef".ljust(32)).mint(
        "ana", plan="pro"
    )
    cases = {
        "expired_token": f"Bearer {expired}",
        "invalid_signature": f"Bearer {forged}",
        "malformed_token": "Bearer not.a.jwt",
    }
    for code, header in cases.items():
        r = send(api, method, path, sid, {"Authorization": header})
        assert r.status_code == 401, (code, r.text)
        assert r.json()["error"] == code and r.headers["www-authenticate"] == "Bearer"
    for header in ("Bearer", "Token abc", "Bearer two parts"):
        r = send(api, method, path, sid, {"Authorization": header})
        assert r.status_code == 401 and r.json()["error"] == "malformed_token", header
    # The same request with a good token goes through (the token was the only fault).
    assert send(api, method, path, sid, api.headers("ana")).status_code == 200


@pytest.mark.parametrize(("method", "path"), SEED_OPERATIONS, ids=IDS)
def test_500_internal_fault_without_a_stack_trace(
    api: Api,
    method: str,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid = api.ready_session("ana")
    store = api.client.app_state["liftstream"].store

    def fault(*_args: Any) -> Any:
        raise RuntimeError("connection to db-secret-host:5432 lost")

    # Create stores a new session; every other operation loads one.
    monkeypatch.setattr(store, "create_session" if path == "" else "get_session", fault)
    with caplog.at_level(logging.ERROR, logger="server.api.errors"):
        r = send(api, method, path, sid, api.headers("ana"))
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "error": "internal_error",
        "detail": "an unexpected error occurred; it has been logged",
    }
    assert "db-secret-host" not in r.text and "Traceback" not in r.text
    # The traceback is in the server's log instead.
    assert any(rec.exc_info and "db-secret-host" in str(rec.exc_info[1]) for rec in caplog.records)
    monkeypatch.undo()
    # One failed request leaves the server serving.
    assert api.client.get(f"{S}/{sid}", headers=api.headers("ana")).status_code == 200


def test_400_invalid_admin_uid(api: Api) -> None:
    admin = api.headers("coach", admin=True)
    for bad in ("has space", "x" * 129, "semi;colon"):
        r = api.client.get(S, params={"user_id": bad}, headers=admin)
        assert r.status_code == 400 and r.json()["error"] == "invalid_parameter", bad
        r = api.client.get(f"/api/v1/users/{bad}/profile", headers=admin)
        assert r.status_code == 400 and r.json()["error"] == "invalid_parameter", bad
    r = api.upload(admin, user_id="bad uid!")
    assert r.status_code == 400 and r.json()["error"] == "invalid_form"


def test_405_for_a_wrong_method_on_an_api_path(api: Api) -> None:
    h = api.headers("ana")
    r = api.client.get(f"{S}/any/comment-threads", headers=h)
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"
    r = api.client.put(S, headers=h)
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    # An unknown API path is the API's JSON 404, not the web client's.
    r = api.client.get("/api/v1/sessions/x/nothing", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


@pytest.mark.parametrize(("method", "path"), SEED_OPERATIONS, ids=IDS)
def test_document_lists_the_seed_statuses(api: Api, method: str, path: str) -> None:
    doc = api.client.get("/openapi.json").json()
    operation = doc["paths"][f"{S}{path.replace('{sid}', '{session_id}')}"][method.lower()]
    extra = {"413"} if path == "" else set()
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "500"} | extra
