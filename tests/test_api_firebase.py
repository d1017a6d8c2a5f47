"""Firebase auth mode against the real Firebase Auth emulator (started and stopped here).

Tokens come from the emulator the way a client app gets them (email/password sign-in over the
REST API); custom claims, revocation and disabling are done with firebase-admin, as an operator
would. The emulator's tokens are unsigned, so wrong signatures cannot be tested here (local mode's
tests cover that 401); what is tested instead is that such forgeries are accepted in emulator
mode, which is why the server refuses to start in firebase mode with FIREBASE_AUTH_EMULATOR_HOST
set unless emulator mode is asked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.firebase import EMULATOR_ENV
from server.auth.local import LocalTokens
from server.errors import LiftStreamError
from tests.api_support import FakeAnalyzer, FakeCoach, fake_render_demo, make_settings
from tests.firebase_emulator import (
    PROJECT,
    AuthEmulator,
    missing_prerequisite,
    token_claims,
    unsigned_token,
)
from tests.pg_server import free_port

pytestmark = pytest.mark.firebase

S = "/api/v1/sessions"


@pytest.fixture(scope="module")
def emulator() -> Iterator[AuthEmulator]:
    reason = missing_prerequisite()
    if reason:
        pytest.skip(reason)
    emu = AuthEmulator()
    emu.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(EMULATOR_ENV, emu.host)
            yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def operator(emulator: AuthEmulator) -> Iterator[Any]:
    """A firebase-admin app for what an operator does: custom claims, revocation, disabling."""
    import firebase_admin

    app = firebase_admin.initialize_app(options={"projectId": PROJECT}, name="test-operator")
    yield app
    firebase_admin.delete_app(app)


@dataclass
class Firebase:
    client: TestClient
    emulator: AuthEmulator
    operator: Any

    def user(self, name: str) -> tuple[str, str]:
        """Sign up `name`@example.com: (uid, ID token)."""
        return self.emulator.sign_up(f"{name}@example.com")

    def fresh_token(self, name: str) -> str:
        return self.emulator.sign_in(f"{name}@example.com")

    def set_claims(self, uid: str, claims: dict[str, Any]) -> None:
        from firebase_admin import auth

        auth.set_custom_user_claims(uid, claims, app=self.operator)

    def upload(self, token: str, user_id: str) -> httpx.Response:
        return self.client.post(
            S,
            headers=bearer(token),
            data={"user_id": user_id, "exercise": "snatch"},
            files={"video": ("lift.mp4", b"fake video bytes", "video/mp4")},
        )

    def ready_session(self, token: str, user_id: str) -> str:
        r = self.upload(token, user_id)
        assert r.status_code == 200, r.text
        sid = str(r.json()["session_id"])
        deadline = time.monotonic() + 20
        while self.client.get(f"{S}/{sid}", headers=bearer(token)).json()["status"] != "ready":
            assert time.monotonic() < deadline, "the session did not become ready"
            time.sleep(0.05)
        return sid


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def firebase_app(tmp_path: Path, project: str = PROJECT) -> Any:
    settings = make_settings(
        tmp_path, None, auth_mode="firebase", firebase_project_id=project, firebase_emulator=True
    )
    return create_app(
        settings, analyze=FakeAnalyzer(), coach=FakeCoach(), render_demo=fake_render_demo
    )


@pytest.fixture
def fb(emulator: AuthEmulator, operator: Any, tmp_path: Path) -> Iterator[Firebase]:
    with TestClient(firebase_app(tmp_path), raise_server_exceptions=False) as client:
        yield Firebase(client, emulator, operator)
    emulator.clear()


def test_an_emulator_id_token_identifies_the_caller(fb: Firebase) -> None:
    ana_uid, ana = fb.user("ana")
    bob_uid, bob = fb.user("bob")
    assert fb.client.get("/healthz").json()["auth_mode"] == "firebase"
    r = fb.upload(ana, ana_uid)
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    details = fb.client.get(f"{S}/{sid}", headers=bearer(ana))
    assert details.status_code == 200 and details.json()["user_id"] == ana_uid
    # Another signed-in user is neither ana nor an admin.
    r = fb.client.get(f"{S}/{sid}", headers=bearer(bob))
    assert r.status_code == 403 and r.json()["error"] == "not_admin"
    r = fb.upload(bob, ana_uid)
    assert r.status_code == 403 and r.json()["error"] == "not_admin"
    listed = fb.client.get(S, headers=bearer(bob)).json()
    assert listed["user_id"] == bob_uid and listed["sessions"] == []


def test_admin_custom_claim_counts_from_the_next_token(fb: Firebase) -> None:
    ana_uid, ana = fb.user("ana")
    coach_uid, coach = fb.user("coach")
    assert fb.upload(coach, ana_uid).status_code == 403
    fb.set_claims(coach_uid, {"admin": True})
    # The claim is in tokens issued after it was set, not in the one the coach already holds.
    assert "admin" not in token_claims(coach)
    assert fb.upload(coach, ana_uid).status_code == 403
    coach = fb.fresh_token("coach")
    assert token_claims(coach)["admin"] is True
    r = fb.upload(coach, ana_uid)
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    assert fb.client.get(f"{S}/{sid}", headers=bearer(coach)).json()["user_id"] == ana_uid
    assert fb.client.get(f"{S}/{sid}", headers=bearer(ana)).status_code == 200
    # Only the boolean true makes an admin.
    fb.set_claims(coach_uid, {"admin": "yes"})
    assert fb.upload(fb.fresh_token("coach"), ana_uid).status_code == 403


def test_plan_custom_claim_gates_report_and_summary(fb: Firebase) -> None:
    ana_uid, ana = fb.user("ana")
    sid = fb.ready_session(ana, ana_uid)
    r = fb.client.get(f"{S}/{sid}/report", headers=bearer(ana))
    assert r.status_code == 404 and r.json()["error"] == "no_valid_plan"
    r = fb.client.get(f"{S}/{sid}/summary", headers=bearer(ana))
    assert r.status_code == 403 and r.json()["error"] == "no_valid_plan"
    fb.set_claims(ana_uid, {"plan": "pro"})
    ana = fb.fresh_token("ana")
    assert fb.client.get(f"{S}/{sid}/report", headers=bearer(ana)).status_code == 200
    assert fb.client.get(f"{S}/{sid}/summary", headers=bearer(ana)).status_code == 200
    profile = fb.client.get(f"/api/v1/users/{ana_uid}/profile", headers=bearer(ana)).json()
    assert profile["effective_plan"] == "pro"


def test_expired_token_is_401_expired(fb: Firebase) -> None:
    ana_uid, ana = fb.user("ana")
    claims = token_claims(ana)
    # The emulator's tokens are unsigned, so this is exactly the token it would have issued
    # two hours ago (valid for one hour).
    aged = {**claims, **{k: claims[k] - 7200 for k in ("iat", "exp", "auth_time")}}
    # And one issued now that lapsed a second ago.
    lapsed = {**claims, "exp": int(time.time()) - 1}
    for token in (unsigned_token(aged), unsigned_token(lapsed)):
        r = fb.upload(token, ana_uid)
        assert r.status_code == 401 and r.json()["error"] == "expired_token", r.text
        assert r.headers["www-authenticate"] == "Bearer"
    assert fb.upload(ana, ana_uid).status_code == 200


def test_revoked_token_is_401_and_a_new_sign_in_works(fb: Firebase) -> None:
    from firebase_admin import auth

    ana_uid, ana = fb.user("ana")
    assert fb.client.get(S, headers=bearer(ana)).status_code == 200
    time.sleep(1.1)  # revocation has one-second granularity: revoke after the token's second
    auth.revoke_refresh_tokens(ana_uid, app=fb.operator)
    r = fb.client.get(S, headers=bearer(ana))
    assert r.status_code == 401 and r.json()["error"] == "revoked_token"
    assert fb.client.get(S, headers=bearer(fb.fresh_token("ana"))).status_code == 200


def test_disabled_and_deleted_users_are_401(fb: Firebase) -> None:
    from firebase_admin import auth

    ana_uid, ana = fb.user("ana")
    auth.update_user(ana_uid, disabled=True, app=fb.operator)
    r = fb.client.get(S, headers=bearer(ana))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert "disabled" in r.json()["detail"]
    auth.delete_user(ana_uid, app=fb.operator)
    r = fb.client.get(S, headers=bearer(ana))
    assert r.status_code == 401 and "no longer exists" in r.json()["detail"]


def test_token_of_another_project_is_401(fb: Firebase, tmp_path: Path) -> None:
    _, ana = fb.user("ana")
    with TestClient(firebase_app(tmp_path / "other", "demo-elsewhere")) as other:
        r = other.get(S, headers=bearer(ana))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert "aud" in r.json()["detail"]


def test_missing_malformed_and_local_tokens_are_401(fb: Firebase, tmp_path: Path) -> None:
    ana_uid, _ = fb.user("ana")
    cases = {
        "missing_token": {},
        "malformed_token": bearer("not-a-jwt"),
    }
    for code, headers in cases.items():
        r = fb.client.get(S, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == code
    r = fb.client.get(S, headers={"Authorization": "Basic YW5hOnB3"})
    assert r.status_code == 401 and r.json()["error"] == "malformed_token"
    # A well-formed local-mode token is not a Firebase ID token.
    local = LocalTokens(b"k" * 32).mint(ana_uid, admin=True, plan="pro")
    r = fb.client.get(S, headers=bearer(local))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_emulator_mode_accepts_forged_tokens(fb: Firebase) -> None:
    """Why emulator mode must never run in production: nobody signs these tokens."""
    ana_uid, _ = fb.user("ana")
    _, bob = fb.user("bob")
    forged = unsigned_token({**token_claims(bob), "admin": True})
    r = fb.upload(forged, ana_uid)
    assert r.status_code == 200, r.text


def test_refuses_firebase_mode_with_the_emulator_variable_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:9099")
    settings = make_settings(tmp_path, None, auth_mode="firebase", firebase_project_id=PROJECT)
    with pytest.raises(LiftStreamError, match=f"refusing to start.*{EMULATOR_ENV}"):
        create_app(settings)
    # The variable means nothing to local mode.
    local = create_app(make_settings(tmp_path, None), analyze=FakeAnalyzer())
    with TestClient(local) as client:
        assert client.get("/healthz").json()["auth_mode"] == "local"


def test_firebase_mode_needs_a_project_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (EMULATOR_ENV, "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LiftStreamError, match="LIFTSTREAM_FIREBASE_PROJECT"):
        create_app(make_settings(tmp_path, None, auth_mode="firebase"))


def _serve(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in (EMULATOR_ENV, "LIFTSTREAM_FIREBASE_EMULATOR")
    }
    environ.update(
        LIFTSTREAM_DATA_DIR=str(tmp_path / "data"),
        LIFTSTREAM_MODEL_DIR=str(tmp_path / "no-models"),
        LIFTSTREAM_AUTH="firebase",
        LIFTSTREAM_FIREBASE_PROJECT=PROJECT,
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serve_refuses_loudly_and_starts_only_in_explicit_emulator_mode(tmp_path: Path) -> None:
    port = free_port()
    refused = _serve(
        tmp_path, FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099", LIFTSTREAM_PORT=str(port)
    )
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 2, out
    assert "refusing to start in firebase auth mode" in out and EMULATOR_ENV in out
    assert "LIFTSTREAM_FIREBASE_EMULATOR=1" in out

    server = _serve(
        tmp_path,
        FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099",
        LIFTSTREAM_FIREBASE_EMULATOR="1",
        LIFTSTREAM_PORT=str(port),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["auth_mode"] == "firebase"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert "FIREBASE EMULATOR MODE" in out and "NOT cryptographically verified" in out
