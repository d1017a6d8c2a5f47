"""The web client's Firebase sign-in in real headless Chromium against the real app in firebase
mode and the real Firebase Auth emulator (started and stopped here): the page learns the web API
key and the auth host from /healthz, signs in with email and password over the Firebase Auth
REST API, sends the ID token the server verifies, and renews an expired ID token with the refresh
token. Any console error other than the failed sign-in's own 400 fails the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.auth.firebase import EMULATOR_ENV
from server.settings import Settings
from tests.browser.chromium import require_browser, start_chromium
from tests.browser.web_client_support import DESKTOP, PHONE, Page, gray_camera, server_thread
from tests.firebase_emulator import (
    API_KEY,
    PROJECT,
    AuthEmulator,
    missing_prerequisite,
    token_claims,
    unsigned_token,
)

pytestmark = [pytest.mark.browser, pytest.mark.firebase, pytest.mark.slow]

EMAIL = "coach@example.com"
PASSWORD = "correct-horse"
STORAGE_KEY = "liftstream.auth"


@dataclass(frozen=True)
class Site:
    url: str
    emulator: AuthEmulator
    uid: str
    work: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_browser()
    reason = missing_prerequisite()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("web-client-firebase")
    emulator = AuthEmulator()
    emulator.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(EMULATOR_ENV, emulator.host)
            uid, _ = emulator.sign_up(EMAIL, PASSWORD)
            settings = Settings.from_env(
                data_dir=work / "data",
                auth_mode="firebase",
                firebase_project_id=PROJECT,
                firebase_emulator=True,
                firebase_web_api_key=API_KEY,
            )
            with server_thread(create_app(settings)) as url:
                yield Site(url, emulator, uid, work)
    finally:
        emulator.stop()


@pytest.fixture
def page(site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    camera = site.work / "gray.y4m"
    if not camera.exists():
        gray_camera(camera, size=(320, 240), fps=10, seconds=1.0)
    driver = start_chromium(
        camera, site.work / f"profile-{request.node.name}", window=DESKTOP, console_log=True
    )
    page = Page(driver)
    try:
        yield page
    finally:
        driver.quit()


def _stored(page: Page) -> dict[str, Any]:
    raw = page.js(f"return localStorage.getItem('{STORAGE_KEY}')")
    assert raw, "nothing stored after sign-in"
    stored: dict[str, Any] = json.loads(raw)
    return stored


def _wait_for_sessions(page: Page) -> None:
    page.wait(
        "the sessions page",
        lambda: page.js("return document.getElementById('sessions-heading')?.textContent"),
        30,
    )


def _wait_for_list(page: Page) -> None:
    """The sessions list came back from the API (so the server accepted the ID token)."""
    page.wait(
        "the sessions list from the API",
        lambda: "No sessions yet" in page.js("return document.getElementById('view').textContent"),
        20,
    )


def test_healthz_hands_the_page_the_key_and_the_emulator_host(site: Site) -> None:
    health = httpx.get(f"{site.url}/healthz").json()
    assert health["auth_mode"] == "firebase"
    assert health["firebase"] == {"api_key": API_KEY, "emulator_host": site.emulator.host}


def test_email_password_sign_in_then_the_api_accepts_the_id_token(site: Site, page: Page) -> None:
    page.driver.get(f"{site.url}/#/sessions")
    page.wait(
        "the sign-in form", lambda: page.js("return !!document.getElementById('signin-form')")
    )
    page.viewport(PHONE)
    page.screenshot("firebase-signin-phone")
    page.viewport(DESKTOP)
    email = page.driver.find_element("css selector", "#signin-form input[type=email]")
    password = page.driver.find_element("css selector", "#signin-form input[type=password]")
    submit = page.driver.find_element("css selector", "#signin-form button[type=submit]")

    # A wrong password is the emulator's refusal, said in words on the page.
    email.send_keys(EMAIL)
    password.send_keys("wrong-password")
    submit.click()
    status = page.wait(
        "the refusal",
        lambda: page.js(
            "const t = document.getElementById('signin-status').textContent;"
            "return t && !t.startsWith('Signing') ? t : null"
        ),
    )
    assert "password is wrong" in status or "email address or password is wrong" in status, status
    assert page.js(f"return localStorage.getItem('{STORAGE_KEY}')") is None

    password.clear()
    password.send_keys(PASSWORD)
    submit.click()
    _wait_for_sessions(page)
    _wait_for_list(page)
    stored = _stored(page)
    assert stored["mode"] == "firebase" and stored["email"] == EMAIL
    claims = token_claims(stored["token"])
    assert claims["user_id"] == site.uid and claims["aud"] == PROJECT
    # The sessions list was fetched with that ID token and the server accepted it.
    assert page.js("return !!document.getElementById('sign-out')")
    assert EMAIL in page.js("return document.querySelector('header').textContent")
    r = httpx.get(
        f"{site.url}/api/v1/sessions",
        headers={"Authorization": f"Bearer {stored['token']}"},
    )
    assert r.status_code == 200, r.text

    # Still signed in after a reload; signed out for good after "Sign out".
    page.driver.refresh()
    _wait_for_sessions(page)
    page.driver.find_element("id", "sign-out").click()
    page.wait(
        "the sign-in form again", lambda: page.js("return !!document.getElementById('signin-form')")
    )
    assert page.js(f"return localStorage.getItem('{STORAGE_KEY}')") is None
    # The one console error allowed: the browser's own log line for the refused sign-in's 400.
    errors = page.console_errors()
    refused = [e for e in errors if "accounts:signInWithPassword" in e and "400" in e]
    assert len(refused) == 1 and len(errors) == 1, errors


def test_an_expired_id_token_is_renewed_with_the_refresh_token(site: Site, page: Page) -> None:
    page.driver.get(f"{site.url}/#/sessions")
    page.wait(
        "the sign-in form", lambda: page.js("return !!document.getElementById('signin-form')")
    )
    page.driver.find_element("css selector", "#signin-form input[type=email]").send_keys(EMAIL)
    page.driver.find_element("css selector", "#signin-form input[type=password]").send_keys(
        PASSWORD
    )
    page.driver.find_element("css selector", "#signin-form button[type=submit]").click()
    _wait_for_sessions(page)
    stored = _stored(page)

    # The ID token ran out an hour ago (an emulator-style unsigned token, which the server would
    # refuse as expired); the refresh token is still good.
    claims = token_claims(stored["token"])
    stale = unsigned_token({**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600})
    page.js(
        f"localStorage.setItem('{STORAGE_KEY}', JSON.stringify(arguments[0]))",
        {**stored, "token": stale},
    )
    page.driver.refresh()
    _wait_for_sessions(page)
    # The sessions list's request renews the token first (the heading shows before it is sent).
    page.wait("the renewed ID token", lambda: _stored(page)["token"] != stale, 20)
    _wait_for_list(page)
    renewed = _stored(page)
    fresh = token_claims(renewed["token"])
    assert fresh["user_id"] == site.uid and fresh["exp"] > claims["iat"]
    r = httpx.get(
        f"{site.url}/api/v1/sessions",
        headers={"Authorization": f"Bearer {renewed['token']}"},
    )
    assert r.status_code == 200, r.text
    assert page.console_errors() == []
