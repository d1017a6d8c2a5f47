"""`/healthz`: liveness plus whether the database answers and how many jobs wait."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api.context import context, db
from server.auth.firebase import EMULATOR_ENV
from server.settings import Settings


async def healthz(request: Request) -> JSONResponse:
    ctx = context(request)
    try:
        queued = await db(ctx.store.has_queued)
        database = "ok"
    except Exception:
        # Health must answer even when the database does not: report it, do not raise.
        queued, database = False, "unavailable"
    body: dict[str, object] = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "jobs_waiting": queued,
        "auth_mode": ctx.settings.auth_mode,
    }
    if ctx.settings.auth_mode == "firebase":
        body["firebase"] = firebase_client_config(ctx.settings)
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


def firebase_client_config(settings: Settings) -> dict[str, str | None]:
    """What the web client needs to sign in with Firebase Auth: the project's web API key and, in
    emulator mode only, the emulator's host (the page then talks to it instead of Google's)."""
    emulator_host = os.environ.get(EMULATOR_ENV) if settings.firebase_emulator else None
    return {
        "api_key": settings.firebase_web_api_key,
        "emulator_host": emulator_host or None,
    }
