"""Helpers for the web client's browser tests: the real app on a uvicorn server in its own thread
(so the test drives Selenium synchronously), a Chromium page wrapper that collects console
errors and saves screenshots, and the fake-camera clips."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette

from tests.stream_support import running_server
from tests.video_helpers import ffmpeg

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = (390, 844)
PHONE_LANDSCAPE = (844, 390)
DESKTOP = (1366, 900)
T = TypeVar("T")


@contextlib.contextmanager
def server_thread(app: Starlette) -> Iterator[str]:
    """Serve `app` (lifespan included) on 127.0.0.1 from a thread with its own event loop."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    found: dict[str, Any] = {}
    stop = asyncio.Event()

    async def main() -> None:
        async with running_server(app) as url:
            found["url"] = url
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # handed to the test thread below
            found["error"] = exc
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name="liftstream-test-server", daemon=True)
    thread.start()
    ready.wait(60)
    try:
        if "url" not in found:
            raise RuntimeError(f"the server did not start: {found.get('error')!r}")
        yield found["url"]
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        if "error" in found:
            raise found["error"]


def camera_clip(
    src: Path, dst: Path, *, size: tuple[int, int], fps: int, lead_s: float, tail_s: float
) -> Path:
    """The fake camera's y4m: `src` scaled to `size` at `fps`, its first frame held for lead_s
    seconds (the camera starts before the connection is up; the lift must come after) and its
    last for tail_s (Chromium loops the file: the next lift must not start before the test is
    done with this one)."""
    w, h = size
    vf = (
        f"scale={w}:{h},fps={fps},"
        f"tpad=start_duration={lead_s}:start_mode=clone:stop_duration={tail_s}:stop_mode=clone"
    )
    ffmpeg("-i", str(src), "-vf", vf, "-pix_fmt", "yuv420p", str(dst))
    return dst


def gray_camera(dst: Path, *, size: tuple[int, int], fps: int, seconds: float) -> Path:
    """A fake camera that films nothing: a plain grey picture (no plate to find)."""
    w, h = size
    color = f"color=c=0x707070:s={w}x{h}:r={fps}"
    ffmpeg(
        "-f", "lavfi", "-i", color, "-t", str(seconds), "-pix_fmt", "yuv420p", str(dst), timeout=60
    )
    return dst


class Page:
    """One Chromium window: waits, console errors and screenshots."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.console: list[dict[str, Any]] = []

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(
        self, what: str, check: Callable[[], T], timeout: float = 30.0, every: float = 0.2
    ) -> T:
        """Poll `check` until it returns something truthy; fail naming `what` after timeout s."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                self.collect_console()
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}; console: {self.console[-10:]}"
                )
            time.sleep(every)

    def collect_console(self) -> list[dict[str, Any]]:
        self.console.extend(self.driver.get_log("browser"))
        return self.console

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.collect_console() if e.get("level") == "SEVERE"]

    def viewport(self, size: tuple[int, int]) -> None:
        """Emulate a viewport of size CSS pixels (a phone is a touch device in portrait)."""
        w, h = size
        mobile = w < 900 or h < 500
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile},
        )
        time.sleep(0.3)  # let layout, ResizeObservers and canvases settle

    def screenshot(self, label: str, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", params)
        path = ARTIFACTS / f"{label}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
