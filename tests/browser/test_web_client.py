"""The web client in real headless Chromium against the real app (uvicorn, local tokens, the real
pose models and live analyzer): sign-in, the live view on a fake camera playing a synthetic lift
and the real snatch clip, the session view (video, phase timeline, charts, comment threads) and
the upload form. Any console error fails the test; screenshots at phone and desktop size go to
test-artifacts/screenshots/."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.app import create_app
from server.auth.local import LocalTokens
from server.settings import Settings
from server.synth.clip import RenderOptions, render_clip
from server.synth.trajectory import make_trajectory
from tests.browser.chromium import require_browser, start_chromium
from tests.browser.web_client_support import (
    DESKTOP,
    PHONE,
    PHONE_LANDSCAPE,
    Page,
    camera_clip,
    gray_camera,
    server_thread,
)
from tests.conftest import clip_path
from tests.pose_model_fixtures import real_cache_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REAL_SNATCH = "snatch_side_competition_wdias.mp4"
USER = "athlete"
# Every change of the readouts, recorded by the page itself so none is missed between polls.
RECORDER = """
window.__seen = {velocity: [], phase: []};
const watch = (id, key, read) => {
  const el = document.getElementById(id);
  new MutationObserver(() => {
    const v = read(el), seen = window.__seen[key];
    if (seen[seen.length - 1] !== v) seen.push(v);
  }).observe(el, {childList: true, characterData: true, subtree: true, attributes: true});
};
watch('velocity', 'velocity', (el) => el.textContent);
watch('phase', 'phase', (el) => el.dataset.phase || '');
"""


# Form controls and buttons without a name a screen reader can say.
UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120));
"""


# Visible text whose colour against the background behind it falls below WCAG AA (4.5:1, or 3:1
# for large text: 24 px, or 18.66 px bold). The background is the nearest opaque one up the tree
# (translucent layers are blended onto it); text over images, video or canvas is left out.
LOW_CONTRAST = """
const rgba = (c) => { const m = c.match(/[\\d.]+/g) || []; return m.length >= 3 ? [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1] : null; };
const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const blend = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3]));
const behind = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const cs = getComputedStyle(e);
    if (cs.backgroundImage !== 'none' || ['IMG', 'VIDEO', 'CANVAS'].includes(e.tagName)) return null;
    const c = rgba(cs.backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let out = [255, 255, 255];
  for (const c of layers.reverse()) out = c[3] >= 1 ? c.slice(0, 3) : blend(c, out);
  return out;
};
const bad = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!n.textContent.trim() || !el || !el.getClientRects().length) continue;
  const cs = getComputedStyle(el);
  if (cs.visibility !== 'visible' || +cs.opacity === 0) continue;
  const bg = behind(el);
  const fg = rgba(cs.color);
  if (!bg || !fg) continue;
  const text = blend(fg, bg);
  const [a, b] = [lum(text), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(cs.fontSize), weight = +cs.fontWeight || 400;
  const large = size >= 24 || (size >= 18.66 && weight >= 700);
  if (ratio < (large ? 3 : 4.5)) bad.push(`${ratio.toFixed(2)}: ${el.tagName}.${el.className} "${n.textContent.trim().slice(0, 40)}"`);
}
return bad;
"""


@dataclass(frozen=True)
class Site:
    url: str
    token: str
    synthetic_mp4: Path
    work: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_browser()
    real_cache_or_skip("pose_detection")
    work = tmp_path_factory.mktemp("web-client")
    settings = Settings.from_env(data_dir=work / "data")
    token = LocalTokens.from_settings(settings).mint(USER, plan="pro")
    synthetic = work / "snatch.mp4"
    # 480x360 at 25 fps keeps the 2-core machine close to real time; the lift starts once the
    # connection is up and the plate is calibrated (the camera clip adds a lead-in too).
    traj = make_trajectory("snatch", seed=8, lift_start=1.2, hold=3.0)
    render_clip(
        traj, synthetic, fps=25.0, size=(480, 360), options=RenderOptions(seed=8, noise_sigma=2.0)
    )
    app = create_app(settings)
    # Before the web client's catch-all mount: a way for the test to cut every live connection.
    app.router.routes.insert(0, Route("/test/drop-streams", _drop_streams, methods=["POST"]))
    with server_thread(app) as url:
        yield Site(url, token, synthetic, work)


async def _drop_streams(request: Request) -> JSONResponse:
    """Close every live connection from the server's side, as a network drop would."""
    registry = request.state.liftstream.extras["stream_registry"]
    sessions = list(registry.sessions)
    for session in sessions:
        await session.close("dropped by the test")
    return JSONResponse({"closed": len(sessions)})


@pytest.fixture
def browser(site: Site, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open Chromium with the camera clip the test names via indirect parametrisation."""
    y4m: Path = getattr(request, "param", None) or _camera(site, "synthetic")
    driver = start_chromium(
        y4m, site.work / f"profile-{request.node.name}", window=DESKTOP, console_log=True
    )
    page = Page(driver)
    try:
        yield page
        assert page.console_errors() == []
    finally:
        driver.quit()


def _camera(site: Site, which: str) -> Path:
    if which == "synthetic":
        dst = site.work / "synthetic.y4m"
        if not dst.exists():
            camera_clip(site.synthetic_mp4, dst, size=(480, 360), fps=25, lead_s=2.0, tail_s=20.0)
        return dst
    dst = site.work / "real.y4m"
    if not dst.exists():
        camera_clip(clip_path(REAL_SNATCH), dst, size=(360, 450), fps=25, lead_s=2.0, tail_s=20.0)
    return dst


def _sign_in(page: Page, site: Site, route: str) -> None:
    page.driver.get(f"{site.url}/?token={site.token}#/{route}")
    page.wait(
        "the signed-in header", lambda: page.js("return !!document.getElementById('sign-out')")
    )
    assert "token=" not in page.driver.current_url  # taken out of the address bar


def _run_live_lift(page: Page, site: Site, label: str) -> str:
    """Start the live view, watch a lift, return the session link's href from its card."""
    page.viewport(DESKTOP)
    _sign_in(page, site, "live")
    page.js(RECORDER)
    page.driver.find_element("id", "start-live").click()
    page.wait(
        "the live connection",
        lambda: page.js(
            "return document.getElementById('live-status').dataset.state === 'connected'"
        ),
        30,
    )
    page.wait(
        "a phase label",
        lambda: page.js("return window.__seen.phase.some((p) => p && p !== 'done')"),
        60,
    )
    page.screenshot(f"{label}-live-desktop")
    page.wait(
        "a lift summary card",
        lambda: page.js("return !!document.querySelector('.card .peak-value')"),
        60,
    )
    page.viewport(PHONE_LANDSCAPE)
    page.screenshot(f"{label}-live-phone-landscape")
    page.viewport(PHONE)
    page.screenshot(f"{label}-live-phone")
    href = page.wait(
        "the session link on the card",
        lambda: page.js(
            "const a = document.querySelector('.card a.open-session'); return a && a.getAttribute('href');"
        ),
        120,
    )
    seen = page.js("return window.__seen")
    numbers = {v for v in seen["velocity"] if v not in ("—", "")}
    assert len(numbers) >= 3, seen["velocity"]
    assert "first_pull" in seen["phase"], seen["phase"]
    peak = page.js("return document.querySelector('.card .peak-value').textContent")
    assert peak.endswith("m/s") and float(peak.split()[0]) > 0.8, peak
    page.screenshot(f"{label}-live-phone-card")
    return str(href)


def _check_session_view(page: Page, label: str) -> None:
    page.wait(
        "the session video to load",
        lambda: page.js(
            "const v = document.getElementById('session-video'); return v && v.readyState >= 2"
        ),
        60,
    )
    page.wait(
        "the charts",
        lambda: page.js("return document.querySelectorAll('canvas.chart').length >= 5"),
    )
    points = page.js(
        "return Object.fromEntries([...document.querySelectorAll('canvas.chart')]"
        ".map((c) => [c.id, Number(c.dataset.points || 0)]))"
    )
    for chart in (
        "chart-velocity",
        "chart-height",
        "chart-power",
        "chart-angles",
        "chart-bar-path",
    ):
        assert points.get(chart, 0) > 20, points
    # The velocity line really is on the canvas: count pixels of its colour (#4cc9f0).
    coloured = page.js(
        "const c = document.getElementById('chart-velocity');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) {"
        "  if (Math.abs(d[i] - 76) < 30 && Math.abs(d[i + 1] - 201) < 30 && Math.abs(d[i + 2] - 240) < 30) n++; }"
        "return n;"
    )
    assert coloured > 100, coloured
    assert page.js("return document.getElementById('bar-path-type').textContent").startswith(
        ("type", "not")
    )
    # The video plays: its clock advances.
    start = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const v = document.getElementById('session-video');"
        "v.currentTime = 0; v.play().then(() => done(v.currentTime), (e) => done('play failed: ' + e));"
    )
    assert isinstance(start, (int, float)), start
    page.wait(
        "the video to play",
        lambda: (
            page.js("return document.getElementById('session-video').currentTime") > start + 0.4
        ),
        10,
    )
    page.js("document.getElementById('session-video').pause()")
    # A phase on the timeline seeks the video to its start.
    buttons = page.driver.find_elements("css selector", ".timeline .phase-button")
    assert len(buttons) >= 4
    target = next(
        (b for b in buttons if b.get_attribute("data-phase") == "second_pull"), buttons[2]
    )
    phase_start = float(target.get_attribute("data-start"))
    target.click()
    page.wait(
        "the phase click to seek",
        lambda: page.js(
            "const v = document.getElementById('session-video'); return !v.seeking && Math.abs(v.currentTime - arguments[0]) < 0.05",
            phase_start,
        ),
        10,
    )
    assert "current" in (target.get_attribute("class") or "")
    # From the keyboard: a focused chart is a slider over the video's time.
    chart = page.driver.find_element("id", "chart-velocity")
    chart.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    page.wait(
        "two arrow presses to step the video two frames",
        lambda: page.js(
            "const v = document.getElementById('session-video');"
            "return !v.seeking && v.currentTime > arguments[0] + 0.05 && v.currentTime < arguments[0] + 0.2",
            phase_start,
        ),
        10,
    )
    assert page.js("return document.activeElement.id") == "chart-velocity"
    chart.send_keys(Keys.END)
    end = float(chart.get_attribute("aria-valuemax"))
    page.wait(
        "End to seek to the end of the charted range",
        lambda: page.js(
            "const v = document.getElementById('session-video');"
            "return !v.seeking && Math.abs(v.currentTime - arguments[0]) < 0.05",
            end,
        ),
        10,
    )
    assert abs(float(chart.get_attribute("aria-valuenow")) - end) < 0.05
    page.js("document.querySelector('.keyframes').scrollIntoView()")  # the images load lazily
    page.wait(
        "the key frames",
        lambda: page.js(
            "const i = [...document.querySelectorAll('.frames img')]; return i.length >= 4 && i.every((x) => x.complete && x.naturalWidth > 0)"
        ),
        20,
    )
    page.wait(
        "the report", lambda: page.js("return !!document.querySelector('.report .verdict')"), 20
    )
    page.wait(
        "the summary",
        lambda: page.js("return !!document.querySelector('.summary .summary-text')"),
        20,
    )
    assert page.js(UNLABELLED) == []
    assert page.js(LOW_CONTRAST) == []
    page.viewport(DESKTOP)
    page.js("window.scrollTo(0, 0)")
    page.screenshot(f"{label}-session-desktop")
    page.screenshot(f"{label}-session-desktop-full", full_page=True)
    page.viewport(PHONE)
    page.js("window.scrollTo(0, 0)")
    page.screenshot(f"{label}-session-phone")
    page.screenshot(f"{label}-session-phone-full", full_page=True)
    page.viewport(DESKTOP)


def _reply_survives_reload(page: Page) -> None:
    page.driver.find_element("id", "make-comment-threads").click()
    page.wait(
        "the comment threads",
        lambda: page.js("return document.querySelectorAll('details.thread').length >= 3"),
        20,
    )
    thread_id = page.js("return document.querySelector('details.thread').dataset.thread")
    opened = f"details.thread[data-thread='{thread_id}']"
    page.driver.find_element("css selector", f"{opened} > summary").click()
    page.wait(
        "the coach's message",
        lambda: page.js(f'return document.querySelectorAll("{opened} li.message").length >= 1'),
        10,
    )
    reply = "Felt fast off the floor; will keep the bar closer next set."
    page.driver.find_element("css selector", f"{opened} textarea").send_keys(reply)
    page.driver.find_element("css selector", f"{opened} form.reply button").click()
    page.wait(
        "the reply to be sent",
        lambda: page.js(
            f"return document.querySelector(\"{opened} form.reply .form-note\").textContent === 'Sent.'"
        ),
        10,
    )
    page.driver.refresh()
    page.wait(
        "the thread after reload",
        lambda: page.js(f'return !!document.querySelector("{opened}")'),
        60,
    )
    page.driver.find_element("css selector", f"{opened} > summary").click()
    page.wait(
        "the reply after reload",
        lambda: page.js(
            f'return [...document.querySelectorAll("{opened} li.message .text")].some((p) => p.textContent === arguments[0])',
            reply,
        ),
        10,
    )


def _imperial_units(page: Page) -> None:
    """The header's unit choice redraws the session in imperial, and back."""
    units = page.driver.find_element("id", "units")
    for system, velocity in (("imperial", "ft/s"), ("metric", "m/s")):
        Select(units).select_by_value(system)
        page.wait(
            f"the charts in {velocity}",
            lambda v=velocity: (
                page.js(
                    "return document.querySelector('#chart-velocity')?.closest('figure')"
                    ".querySelector('figcaption').textContent"
                )
                == f"Bar velocity ({v})"
            ),
            30,
        )
        units = page.driver.find_element("id", "units")
        if system == "imperial":
            page.wait(
                "the charts", lambda: page.js("return !!document.getElementById('bar-path-type')")
            )
            page.screenshot("synthetic-session-imperial-desktop")


def test_signed_out_page_and_token_sign_in(site: Site, browser: Page) -> None:
    page = browser
    page.driver.get(f"{site.url}/#/sessions")
    page.wait(
        "the signed-out page",
        lambda: page.js("return document.getElementById('signin-heading')?.textContent"),
    )
    text = page.js("return document.getElementById('view').textContent")
    assert "liftstream serve" in text and "liftstream token create" in text
    assert page.js(LOW_CONTRAST) == []
    # The check itself finds dim text: grey on this dark page is reported, white is not.
    page.js(
        "const p = document.createElement('p'); p.id = 'dim'; p.style.color = '#555';"
        "p.textContent = 'dim words'; document.getElementById('view').append(p);"
    )
    assert [line.split(": ", 1)[1] for line in page.js(LOW_CONTRAST)] == ['P. "dim words"']
    page.js("document.getElementById('dim').style.color = '#fff'")
    assert page.js(LOW_CONTRAST) == []
    page.js("document.getElementById('dim').remove()")
    page.viewport(PHONE)
    page.screenshot("signed-out-phone")
    page.viewport(DESKTOP)
    field = page.driver.find_element("css selector", "#token-form input")
    field.send_keys("not-a-token")
    page.driver.find_element("css selector", "#token-form button").click()
    assert "not a LiftStream token" in page.js(
        "return document.getElementById('signin-status').textContent"
    )
    field.clear()
    field.send_keys(site.token)
    page.driver.find_element("css selector", "#token-form button").click()
    page.wait(
        "the sessions page",
        lambda: page.js("return document.getElementById('sessions-heading')?.textContent"),
    )
    page.driver.find_element("id", "sign-out").click()
    page.wait(
        "signed out again",
        lambda: "signed out" in page.js("return document.getElementById('view').textContent"),
    )


def test_docs_page_lists_every_operation_of_the_document(site: Site, browser: Page) -> None:
    page = browser
    doc = httpx.get(f"{site.url}/openapi.json").json()
    expected = [f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops]
    page.driver.get(f"{site.url}/docs")
    page.wait(
        "the operations from /openapi.json",
        lambda: page.js("return document.querySelectorAll('section.op').length") > 0,
    )
    shown = page.js(
        "return [...document.querySelectorAll('section.op h3')].map(h => h.textContent)"
    )
    assert shown == expected
    assert page.js("return document.getElementById('title').textContent") == (
        f"{doc['info']['title']} {doc['info']['version']}"
    )
    # The seed's create-session form fields and status codes are on the page.
    create = page.js(
        "return [...document.querySelectorAll('section.op')]"
        ".find(s => s.querySelector('h3').textContent === 'POST /api/v1/sessions').textContent"
    )
    for word in ("user_id", "video", "exercise", "barbell_mass", "joints", "401", "403", "404"):
        assert word in create, word
    assert page.js(LOW_CONTRAST) == []


def test_live_synthetic_lift_then_session_view(site: Site, browser: Page) -> None:
    page = browser
    href = _run_live_lift(page, site, "synthetic")
    page.driver.find_element("css selector", ".card a.open-session").click()
    assert page.driver.current_url.endswith(href)
    _check_session_view(page, "synthetic")
    _reply_survives_reload(page)
    _imperial_units(page)


@pytest.fixture
def real_camera(site: Site) -> Path:
    return _camera(site, "real")


def test_live_real_snatch_clip(site: Site, real_camera: Path, tmp_path: Path) -> None:
    # Its own Chromium: the fake camera is fixed when the browser starts.
    driver = start_chromium(real_camera, tmp_path / "profile", window=DESKTOP, console_log=True)
    page = Page(driver)
    try:
        _run_live_lift(page, site, "real")
        page.driver.find_element("css selector", ".card a.open-session").click()
        page.wait(
            "the session video to load",
            lambda: page.js(
                "const v = document.getElementById('session-video'); return v && v.readyState >= 2"
            ),
            60,
        )
        page.wait(
            "the charts",
            lambda: page.js(
                "return Number(document.getElementById('chart-velocity')?.dataset.points || 0) > 20"
            ),
            20,
        )
        page.viewport(DESKTOP)
        page.screenshot("real-session-desktop")
        assert page.console_errors() == []
    finally:
        driver.quit()


def test_upload_form_shows_progress_and_lists_newest_first(site: Site, browser: Page) -> None:
    page = browser
    _sign_in(page, site, "sessions")
    page.wait(
        "the session list",
        lambda: page.js(
            "return document.querySelector('#sessions-heading + p')?.textContent !== 'Loading…'"
        ),
    )
    page.driver.find_element("css selector", "#upload-form input[type=file]").send_keys(
        str(site.synthetic_mp4)
    )
    page.driver.find_element("css selector", "#upload-form input[name=title]").send_keys(
        "Uploaded snatch"
    )
    page.driver.find_element("css selector", "#upload-form button[type=submit]").click()
    page.wait(
        "the analysis progress",
        lambda: page.js(
            "return !document.getElementById('analysis-progress').parentElement.hidden"
        ),
        30,
    )
    page.screenshot("sessions-upload-desktop")
    link = page.wait(
        "the analysed link",
        lambda: page.js(
            "const a = document.querySelector('#upload-status a'); return a && a.getAttribute('href')"
        ),
        120,
    )
    assert page.js("return document.getElementById('upload-progress').value") == 1
    page.wait(
        "the list to show it first",
        lambda: (
            page.js("return document.querySelector('#session-list li a')?.textContent")
            == "Uploaded snatch"
        ),
        10,
    )
    assert (
        page.js("return document.querySelector('#session-list li a').getAttribute('href')") == link
    )
    page.viewport(PHONE)
    page.screenshot("sessions-phone", full_page=True)


def test_live_says_camera_denied_no_plate_and_reconnects(site: Site, tmp_path: Path) -> None:
    camera = gray_camera(tmp_path / "gray.y4m", size=(320, 240), fps=15, seconds=4)
    driver = start_chromium(
        camera, tmp_path / "profile", window=DESKTOP, console_log=True, accept_camera=False
    )
    page = Page(driver)
    status = "return document.getElementById('live-status').dataset.state"
    alert = "const a = document.getElementById('live-alert'); return a.hidden ? '' : a.dataset.kind + ': ' + a.textContent"
    try:
        _sign_in(page, site, "live")
        driver.execute_cdp_cmd(
            "Browser.setPermission",
            {"permission": {"name": "camera"}, "setting": "denied", "origin": site.url},
        )
        driver.find_element("id", "start-live").click()
        denied = page.wait("the camera-denied message", lambda: page.js(alert))
        assert denied.startswith("camera: Camera access was denied"), denied
        page.viewport(PHONE)
        page.screenshot("live-camera-denied-phone")
        page.viewport(DESKTOP)
        driver.execute_cdp_cmd(
            "Browser.setPermission",
            {"permission": {"name": "camera"}, "setting": "granted", "origin": site.url},
        )
        # Keyboard only: the start button is reachable with Tab and pressed with Enter.
        body = driver.find_element("css selector", "body")
        for _ in range(30):
            body = driver.switch_to.active_element
            if body.get_attribute("id") == "start-live":
                break
            body.send_keys("\ue004")  # Tab
        assert driver.switch_to.active_element.get_attribute("id") == "start-live"
        driver.switch_to.active_element.send_keys("\ue007")  # Enter
        page.wait("the live connection", lambda: page.js(status) == "connected", 30)
        no_plate = page.wait("the no-plate message", lambda: page.js(alert), 10)
        assert no_plate.startswith("noplate: No plate visible"), no_plate
        page.viewport(PHONE)
        page.screenshot("live-no-plate-phone")
        page.viewport(DESKTOP)
        with urllib.request.urlopen(
            urllib.request.Request(f"{site.url}/test/drop-streams", method="POST")
        ) as r:
            assert json.load(r)["closed"] == 1
        page.wait("the reconnecting state", lambda: page.js(status) == "reconnecting", 10)
        page.wait("the new connection", lambda: page.js(status) == "connected", 30)
        unlabelled = page.js(UNLABELLED)
        assert unlabelled == [], unlabelled
        assert page.js(LOW_CONTRAST) == []
        assert page.console_errors() == []
    finally:
        driver.quit()
