"""How the app plugs live streaming in: the registry built in the lifespan, the finaliser that
turns a recorded lift into a stored session through the job worker (the same analysis, document,
report, annotated video and key frames as an uploaded clip), and the live analyzer factory.

app.py calls `attach_stream(ctx)` in its lifespan and mounts `app_stream_routes()`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from server.api.context import AppContext
from server.api.present import ANALYZED
from server.auth.principal import TokenError
from server.errors import LiftStreamError, ModelMissingError
from server.store.records import utcnow
from server.stream.live import FinalisedSession, FinaliseRequest, LiveAnalyzer
from server.stream.protocol import Start
from server.stream.registry import StreamConfig, StreamRegistry
from server.stream.routes import Resolver, TokenVerifier, stream_routes

log = logging.getLogger(__name__)

REGISTRY_KEY = "stream_registry"
_TITLES = {"snatch": "Snatch", "clean": "Clean", "clean_and_jerk": "Clean and jerk"}


class StoreFinaliser:
    """Queues a recorded lift as a session of its user and waits until it is analysed."""

    def __init__(self, ctx: AppContext, *, poll_s: float = 0.25, timeout_s: float = 900.0) -> None:
        self.ctx = ctx
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    async def __call__(self, request: FinaliseRequest) -> FinalisedSession:
        ctx = self.ctx
        owner = await asyncio.to_thread(ctx.store.ensure_user, request.user_id)
        start = request.start
        options: dict[str, Any] = {
            "exercise": start.exercise,
            "barbell_mass_kg": round(start.barbell_mass_kg, 3),
            "joints": list(dict.fromkeys(start.joints)),
            "plate_diameter_m": 0.45,
            "units": start.units,
            "lifter_height_m": None if owner.height_cm is None else owner.height_cm / 100.0,
            "body_mass_kg": owner.weight_kg,
            "render": True,
        }
        title = start.title or f"{_TITLES[start.exercise]} (live) {utcnow():%d/%m/%Y}"
        record = await ctx.worker.submit(
            request.user_id, request.video, title=title, options=options
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while record.status not in ("ready", "failed"):
            if loop.time() > deadline:
                raise LiftStreamError(
                    f"session {record.id} still {record.status} after {self.timeout_s:.0f} s"
                )
            await asyncio.sleep(self.poll_s)
            found = await asyncio.to_thread(ctx.store.get_session, record.id)
            if found is None:
                raise LiftStreamError(f"session {record.id} vanished from the store")
            record = found
        if record.status == "failed":
            raise LiftStreamError(f"session {record.id} failed: {record.failure_reason}")
        base = (ctx.settings.public_base_url or request.base_url).rstrip("/")
        api = f"{base}/api/v1/sessions/{record.id}"
        urls = {"details": api, "data": f"{api}/data", "report": f"{api}/report"}
        if record.original_key is not None:
            urls["original_video"] = ctx.media.url(record.original_key, base)
        if ANALYZED in record.media:
            urls["analyzed_video"] = ctx.media.url(record.media[ANALYZED], base)
        return FinalisedSession(record.id, urls)


def live_analyzer_factory(ctx: AppContext) -> Any:
    """Per-connection live analysis with the app's shared pose service (see live_pipeline)."""

    def factory(start: Start) -> LiveAnalyzer:
        service = ctx.extras.get("pose_service")
        try:
            from server.stream.live_pipeline import PipelineAnalyzer
        except ImportError as exc:  # the analysis stage is not installed in this build
            raise ModelMissingError(f"live analysis unavailable: {exc}") from None
        analyzer: LiveAnalyzer = PipelineAnalyzer.create(start, service)
        return analyzer

    return factory


def attach_stream(ctx: AppContext) -> StreamRegistry:
    """Create the app's registry, keep it in ctx.extras and close it at shutdown."""
    settings = ctx.settings
    config = StreamConfig(
        recordings_dir=settings.data_dir / "recordings",
        ice_servers=settings.ice_servers,
        loopback_ice=_loopback_only(settings.host),
    )
    registry = StreamRegistry(config, live_analyzer_factory(ctx), StoreFinaliser(ctx))
    ctx.extras[REGISTRY_KEY] = registry
    ctx.on_shutdown.append(registry.close_all)
    return registry


def _loopback_only(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")


def _app_resolver(connection: HTTPConnection) -> tuple[StreamRegistry, TokenVerifier]:
    ctx = connection.state.liftstream
    assert isinstance(ctx, AppContext)
    registry = ctx.extras[REGISTRY_KEY]
    assert isinstance(registry, StreamRegistry)

    async def verify(token: str) -> str | None:
        try:
            return (await ctx.verifier.verify(token)).user_id
        except TokenError:
            return None

    return registry, verify


def app_stream_routes() -> list[BaseRoute]:
    """The stream routes of the LiftStream app (registry and verifier from the lifespan)."""
    resolver: Resolver = _app_resolver
    return stream_routes(resolver)
