"""The lift analysis report and the session summary, built by the rules engine (api/coach.py).

Plan gates follow the seed: no valid plan is 404 for the report and 403 for the summary. The
demo session's report and summary are open to every authenticated user.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api.context import (
    authenticate,
    context,
    db,
    load_session,
    require_feature,
    require_ready,
)
from server.api.params import check_units, query_bool
from server.api.present import session_date, session_units, user_information
from server.store.records import SessionRecord


def display_units(request: Request, session: SessionRecord) -> str:
    """`?measurement_system=` (the web client's choice), else the session's own system."""
    raw = request.query_params.get("measurement_system")
    return session_units(session) if raw is None else check_units(raw)


async def get_report(request: Request) -> JSONResponse:
    ctx = context(request)
    principal = await authenticate(request)
    demo = query_bool(request, "demo")
    if not demo:
        await require_feature(ctx, principal, "report", 404)
    session = await load_session(request, principal, request.path_params["session_id"], demo=demo)
    document = require_ready(session)
    units = display_units(request, session)
    report: dict[str, Any] = await db(ctx.coach.report, document, units)
    report.setdefault("session_id", session.id)
    report.setdefault("exercise", session.exercise)
    report.setdefault("measurement_system", units)
    return JSONResponse(report)


async def get_summary(request: Request) -> JSONResponse:
    ctx = context(request)
    principal = await authenticate(request)
    demo = query_bool(request, "demo")
    if not demo:
        await require_feature(ctx, principal, "summary", 403)
    session = await load_session(request, principal, request.path_params["session_id"], demo=demo)
    document = require_ready(session)
    units = display_units(request, session)
    owner = await db(ctx.store.get_user, session.user_id)
    summary: dict[str, Any] = await db(
        ctx.coach.summary, document, units, user_information(owner, units)
    )
    summary.setdefault("session_id", session.id)
    summary.setdefault("exercise", session.exercise)
    summary.setdefault("session_date", session_date(session))
    summary.setdefault("measurement_system", units)
    return JSONResponse(summary)
