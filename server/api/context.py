"""What every handler needs: the app context (from the lifespan state), the caller, the session.

Handlers get the context with `context(request)`; it is created by the lifespan in server/app.py
and travels in Starlette's lifespan state, not in module globals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from server.api.errors import ApiError, forbidden, not_found
from server.auth.plans import Feature, Plan, resolve_plan
from server.auth.principal import Principal, TokenError, Verifier
from server.settings import Settings
from server.store.media import MediaStorage
from server.store.records import ACTIVITY, SessionRecord, UserRecord
from server.store.repo import Store

if TYPE_CHECKING:
    from server.api.coach import Coach
    from server.api.demo import DemoSession
    from server.jobs import JobWorker

T = TypeVar("T")

_PROBLEM_CODES = {
    "missing": "missing_token",
    "malformed": "malformed_token",
    "expired": "expired_token",
    "bad_signature": "invalid_signature",
    "invalid": "invalid_token",
    "revoked": "revoked_token",
}


@dataclass
class AppContext:
    """The long-lived objects the lifespan owns; one per app."""

    settings: Settings
    store: Store
    media: MediaStorage
    verifier: Verifier
    worker: JobWorker
    coach: Coach
    demo: DemoSession
    # Filled by the stream part (WebRTC/WebSocket ingest): e.g. extras["stream_registry"].
    extras: dict[str, Any]
    # Awaited at shutdown, last added first, before the worker and the store close.
    on_shutdown: list[Callable[[], Awaitable[None]]]


def context(request: Request) -> AppContext:
    ctx = request.state.liftstream
    assert isinstance(ctx, AppContext)
    return ctx


async def db(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking store call off the event loop."""
    return await run_in_threadpool(fn, *args)


def base_url(request: Request) -> str:
    """The external origin for public URLs: the configured one, else the request's."""
    configured = context(request).settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


async def authenticate(request: Request) -> Principal:
    """The verified caller, or 401 naming what is wrong with the bearer token."""
    header = request.headers.get("authorization")
    try:
        if not header:
            raise TokenError("missing", "an Authorization: Bearer <token> header is required")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise TokenError("malformed", "the Authorization header must be 'Bearer <token>'")
        return await context(request).verifier.verify(token)
    except TokenError as exc:
        raise ApiError(401, _PROBLEM_CODES[exc.problem], str(exc)) from exc


def require_self_or_admin(principal: Principal, user_id: str) -> None:
    if user_id != principal.user_id and not principal.admin:
        raise forbidden(
            "not_admin",
            f"user {principal.user_id!r} may not act for user {user_id!r}: that needs admin",
        )


async def plan_of(ctx: AppContext, principal: Principal) -> tuple[Plan, UserRecord]:
    user = await db(ctx.store.ensure_user, principal.user_id)
    return resolve_plan(principal.plan, user.plan, admin=principal.admin), user


async def require_feature(
    ctx: AppContext, principal: Principal, feature: Feature, status: int
) -> None:
    """The seed's 'no valid payment plan' answer: 404 for report/threads, 403 for the summary."""
    plan, _ = await plan_of(ctx, principal)
    if not plan.allows(feature):
        raise ApiError(
            status,
            "no_valid_plan",
            f"the {feature.replace('_', ' ')} needs a plan that includes it; "
            f"user {principal.user_id!r} is on plan {plan.name!r}",
        )


async def load_session(
    request: Request, principal: Principal, session_id: str, *, demo: bool
) -> SessionRecord:
    """The caller's session (or the demo one): 404 unknown or not Weightlifting, 403 not theirs."""
    ctx = context(request)
    if demo:
        return await ctx.demo.ready_session()
    session = await db(ctx.store.get_session, session_id)
    if session is None:
        raise not_found("session_not_found", f"no session {session_id[:80]!r}")
    require_self_or_admin(principal, session.user_id)
    if session.activity != ACTIVITY:
        raise not_found(
            "wrong_activity",
            f"session {session_id!r} is a {session.activity!r} session, not {ACTIVITY!r}",
        )
    return session


def require_ready(session: SessionRecord) -> dict[str, Any]:
    """The analysed document, or 404 saying why there is none yet."""
    if session.status == "ready" and session.document is not None:
        return session.document
    if session.status == "failed":
        raise not_found(
            "session_failed", f"session {session.id!r} failed: {session.failure_reason}"
        )
    raise not_found(
        "session_not_ready",
        f"session {session.id!r} is {session.status} ({session.progress:.0%}); try again later",
    )
