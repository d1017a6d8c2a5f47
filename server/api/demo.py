"""The demo session: a simulated snatch rendered by server.synth and analysed by the real pipeline.

It is made once, on the first `demo=true` request (or at start-up when asked), as an ordinary
durable job owned by the system user `liftstream-demo`, and kept (media + document) like any
session, so later requests read the cached result. Nothing in it is typed by hand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from server.api.errors import ApiError
from server.store.records import NewSession, SessionRecord
from server.store.repo import Store

if TYPE_CHECKING:
    from server.jobs import JobWorker

log = logging.getLogger(__name__)

DEMO_SESSION_ID = "demo"
DEMO_USER_ID = "liftstream-demo"
DEMO_SEED = 7
DEMO_OPTIONS: dict[str, Any] = {
    "exercise": "snatch",
    "barbell_mass_kg": 100.0,
    "joints": ["hip", "knee"],
    "plate_diameter_m": 0.45,
    "units": "metric",
    "lifter_height_m": None,
    "body_mass_kg": None,
    "render": True,
}


def render_demo_clip(dest: Path) -> dict[str, Any]:
    """Render the simulated snatch to `dest` (H.264 MP4) and return the options that fit it."""
    from server.synth.clip import RenderOptions, render_clip
    from server.synth.trajectory import make_trajectory

    trajectory = make_trajectory("snatch", seed=DEMO_SEED, lift_start=0.8, hold=0.8)
    render_clip(
        trajectory,
        dest,
        fps=30.0,
        size=(640, 480),
        options=RenderOptions(
            seed=DEMO_SEED, plate_diameter_m=0.45, motion_blur=0.5, noise_sigma=2.0
        ),
    )
    return dict(DEMO_OPTIONS)


class DemoSession:
    """Creates the demo job when first needed and waits for it to be ready."""

    def __init__(self, store: Store, worker: JobWorker, timeout_s: float = 900.0) -> None:
        self.store = store
        self.worker = worker
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._retried = False

    async def ensure_queued(self) -> SessionRecord:
        async with self._lock:
            session = await asyncio.to_thread(self.store.get_session, DEMO_SESSION_ID)
            if session is None:
                session = await asyncio.to_thread(self._create)
                self.worker.wake()
            elif session.status == "failed" and not self._retried:
                # One retry per server start: a fixed pipeline may now succeed.
                self._retried = True
                await asyncio.to_thread(self.store.requeue, DEMO_SESSION_ID)
                self.worker.wake()
            return session

    def _create(self) -> SessionRecord:
        self.store.update_profile(
            DEMO_USER_ID, {"display_name": "LiftStream demo (simulated lift)"}
        )
        try:
            return self.store.create_session(
                NewSession(
                    user_id=DEMO_USER_ID,
                    title="Demo snatch (simulated lift)",
                    exercise="snatch",
                    options=dict(DEMO_OPTIONS),
                    original_key=None,
                    kind="demo",
                    session_id=DEMO_SESSION_ID,
                )
            )
        except IntegrityError:
            found = self.store.get_session(DEMO_SESSION_ID)
            assert found is not None
            return found

    async def ready_session(self) -> SessionRecord:
        """The demo session once it is ready; a 500 if it cannot be made."""
        await self.ensure_queued()
        deadline = time.monotonic() + self.timeout_s
        while True:
            session = await asyncio.to_thread(self.store.get_session, DEMO_SESSION_ID)
            assert session is not None
            if session.status == "ready":
                return session
            if session.status == "failed":
                raise ApiError(
                    500,
                    "demo_unavailable",
                    f"the demo session could not be made: {session.failure_reason}",
                )
            if time.monotonic() > deadline:
                raise ApiError(500, "demo_unavailable", "the demo session is still being made")
            await asyncio.sleep(0.25)
