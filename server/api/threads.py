"""Comment threads: generate per-metric and summary threads; read a thread and reply to it.

A thread's first message is the rules engine's comment; users (the session owner or an admin)
can then reply. Generating again makes fresh threads; the session data's `comments` points at
the latest analysis threads.
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
    require_self_or_admin,
)
from server.api.errors import bad_request, not_found
from server.api.params import json_body, units_from_body
from server.api.present import session_units
from server.api.schemas import BLANK
from server.auth.plans import Feature
from server.auth.principal import Principal
from server.store.records import ThreadRecord

COACH_AUTHOR = "liftstream-coach"
MAX_MESSAGE = 4000


async def create_comment_threads(request: Request) -> JSONResponse:
    ctx = context(request)
    principal = await authenticate(request)
    await require_feature(ctx, principal, "comment_threads", 404)
    session = await load_session(request, principal, request.path_params["session_id"], demo=False)
    units = await units_from_body(request, session_units(session))
    document = require_ready(session)
    messages = await db(ctx.coach.analysis_messages, document, units)
    ids = await db(ctx.store.create_threads, session.id, "analysis", units, messages, COACH_AUTHOR)
    await db(ctx.store.set_comments, session.id, ids)
    return JSONResponse(ids)


async def create_summary_threads(request: Request) -> JSONResponse:
    ctx = context(request)
    principal = await authenticate(request)
    await require_feature(ctx, principal, "summary_threads", 404)
    session = await load_session(request, principal, request.path_params["session_id"], demo=False)
    units = await units_from_body(request, session_units(session))
    document = require_ready(session)
    messages = await db(ctx.coach.summary_messages, document, units)
    ids = await db(ctx.store.create_threads, session.id, "summary", units, messages, COACH_AUTHOR)
    return JSONResponse(ids)


async def _load_thread(request: Request) -> tuple[Principal, ThreadRecord]:
    ctx = context(request)
    principal = await authenticate(request)
    thread_id = request.path_params["thread_id"]
    thread = await db(ctx.store.get_thread, thread_id)
    if thread is None:
        raise not_found("thread_not_found", f"no thread {thread_id[:80]!r}")
    session = await db(ctx.store.get_session, thread.session_id)
    assert session is not None
    require_self_or_admin(principal, session.user_id)
    feature: Feature = "comment_threads" if thread.kind == "analysis" else "summary_threads"
    await require_feature(ctx, principal, feature, 404)
    return principal, thread


def _thread_body(thread: ThreadRecord) -> dict[str, Any]:
    return {
        "thread_id": thread.id,
        "session_id": thread.session_id,
        "kind": thread.kind,
        "topic": thread.topic,
        "measurement_system": thread.units,
        "created_at": thread.created_at.isoformat(),
        "messages": [
            {
                "message_id": m.id,
                "author": m.author,
                "role": m.role,
                "text": m.text,
                "created_at": m.created_at.isoformat(),
            }
            for m in thread.messages
        ],
    }


async def get_thread(request: Request) -> JSONResponse:
    _, thread = await _load_thread(request)
    return JSONResponse(_thread_body(thread))


async def reply_to_thread(request: Request) -> JSONResponse:
    ctx = context(request)
    principal, thread = await _load_thread(request)
    body = await json_body(request, required=True)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip(BLANK):
        raise bad_request("invalid_body", "the body needs a non-blank string field 'text'")
    if len(text) > MAX_MESSAGE:
        raise bad_request("invalid_body", f"text is {len(text)} characters; at most {MAX_MESSAGE}")
    await db(ctx.store.add_message, thread.id, principal.user_id, "user", text.strip(BLANK))
    updated = await db(ctx.store.get_thread, thread.id)
    assert updated is not None
    return JSONResponse(_thread_body(updated))
