"""Session data: the seed's example document for one analysed session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api.context import authenticate, context, db, load_session, require_ready
from server.api.params import query_bool
from server.api.present import session_data


async def get_session_data(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    demo = query_bool(request, "demo")
    session = await load_session(request, principal, request.path_params["session_id"], demo=demo)
    document = require_ready(session)
    user = await db(context(request).store.get_user, session.user_id)
    return JSONResponse(session_data(request, session, document, user))
