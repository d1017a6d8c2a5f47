"""`/healthz`: liveness plus whether the database answers and how many jobs wait."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api.context import context, db


async def healthz(request: Request) -> JSONResponse:
    ctx = context(request)
    try:
        queued = await db(ctx.store.has_queued)
        database = "ok"
    except Exception:
        # Health must answer even when the database does not: report it, do not raise.
        queued, database = False, "unavailable"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "jobs_waiting": queued,
        "auth_mode": ctx.settings.auth_mode,
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
