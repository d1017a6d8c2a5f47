"""Headless Chromium with a fake camera playing a y4m file (Debian's chromium + chromedriver)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.video_helpers import ffmpeg

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE = Path(__file__).with_name("stream_page.html")


def require_browser() -> None:
    """Skip when Chromium, chromedriver or ffmpeg is not installed (make system installs them)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if shutil.which("ffmpeg") is None:
        missing.append("ffmpeg")
    if missing:
        pytest.skip(f"browser test needs {', '.join(missing)}")


def make_y4m(src: Path, dst: Path, *, fps: int = 25, size: tuple[int, int] = (480, 360)) -> Path:
    """The fake camera's input: raw yuv420p frames at a fixed rate, as real-clients.md says."""
    w, h = size
    ffmpeg("-i", str(src), "-pix_fmt", "yuv420p", "-vf", f"scale={w}:{h}", "-r", str(fps), str(dst))
    return dst


def start_chromium(  # type: ignore[no-untyped-def]
    y4m: Path,
    profile: Path,
    *,
    window: tuple[int, int] | None = None,
    console_log: bool = False,
    accept_camera: bool = True,
):
    """A headless Chromium whose camera plays `y4m` in a loop; ICE may use loopback.

    window: the window size in CSS pixels. console_log: keep the page's console messages for
    `driver.get_log("browser")`. accept_camera=False: no automatic yes to the camera prompt, so
    the camera permission follows CDP's Browser.setPermission.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    if window is not None:
        options.add_argument(f"--window-size={window[0]},{window[1]}")
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *(["--use-fake-ui-for-media-stream"] if accept_camera else []),
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
        # Loopback-only ICE (the server offers 127.0.0.1 and drops other candidates).
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
