"""Starlette routes of the live stream: the WebRTC offer, the WebSocket, and /metrics.

`stream_routes(resolve)` returns the routes to mount. `resolve(connection)` gives the registry and
the bearer-token check of the app serving that request (the app builds both in its lifespan, so
they are looked up per request, never held in module globals); `fixed(registry, verify)` is the
resolver for an app built around one registry (tests). `verify(token)` returns the user id, or
None when the token is not valid.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from server.errors import InvalidInputError
from server.stream.registry import StreamRegistry
from server.stream.webrtc import answer_offer, parse_offer
from server.stream.websocket import serve_websocket, websocket_token

log = logging.getLogger(__name__)

TokenVerifier = Callable[[str], Awaitable[str | None]]
Resolver = Callable[[HTTPConnection], tuple[StreamRegistry, TokenVerifier]]
MAX_OFFER_BYTES = 128 * 1024


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def fixed(registry: StreamRegistry, verify_token: TokenVerifier) -> Resolver:
    """A resolver that always answers with this registry and token check."""

    def resolve(_connection: HTTPConnection) -> tuple[StreamRegistry, TokenVerifier]:
        return registry, verify_token

    return resolve


def stream_routes(resolve: Resolver) -> list[BaseRoute]:
    """POST /api/v1/stream/offer, WS /api/v1/stream/ws, GET /metrics."""

    async def offer(request: Request) -> Response:
        registry, verify_token = resolve(request)
        token = _bearer(request)
        user_id = await verify_token(token) if token else None
        if user_id is None:
            return _error(401, "unauthorized", "a valid bearer token is required")
        body_bytes = await request.body()
        if len(body_bytes) > MAX_OFFER_BYTES:
            return _error(400, "invalid_offer", f"offer larger than {MAX_OFFER_BYTES} bytes")
        if registry.full():
            return _error(503, "busy", "the server is at its live-stream limit; retry later")
        try:
            description = parse_offer(json.loads(body_bytes))
            session, answer = await answer_offer(
                registry, user_id, description, base_url=str(request.base_url).rstrip("/")
            )
        except (ValueError, InvalidInputError) as exc:
            return _error(400, "invalid_offer", str(exc))
        return JSONResponse(
            {"sdp": answer.sdp, "type": answer.type, "connection_id": session.connection_id}
        )

    async def websocket(ws: WebSocket) -> None:
        registry, verify_token = resolve(ws)
        token = websocket_token(ws)
        user_id = await verify_token(token) if token else None
        await serve_websocket(ws, registry, user_id, base_url=str(ws.base_url).rstrip("/"))

    async def metrics(request: Request) -> Response:
        registry, _ = resolve(request)
        live = [s.metrics for s in registry.sessions]
        wants_json = request.query_params.get("format") == "json" or (
            "application/json" in request.headers.get("accept", "")
        )
        if wants_json:
            return JSONResponse(registry.metrics.as_dict(live))
        return PlainTextResponse(registry.metrics.as_text())

    return [
        Route("/api/v1/stream/offer", offer, methods=["POST"]),
        WebSocketRoute("/api/v1/stream/ws", websocket),
        Route("/metrics", metrics, methods=["GET"]),
    ]
