"""Starlette app factory: `create_app(settings)`; the lifespan owns every long-lived object.

Lifespan order (reverse at shutdown): store (migrations applied) -> media storage -> auth
verifier -> pose inference service (when the real pipeline is used and models are present) ->
job worker (resumes interrupted jobs) -> demo session -> stream registry (live ingest, see
`_stream_routes` / `ctx.on_shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.analysis.process import ProcessAnalyzer
from server.api import data, docs, health, media, report, sessions, threads, users
from server.api.coach import Coach, RulesCoach
from server.api.context import AppContext
from server.api.demo import DemoSession, render_demo_clip
from server.api.errors import (
    ApiError,
    InternalErrorMiddleware,
    api_error_handler,
    http_error_handler,
)
from server.auth.firebase import EMULATOR_ENV, FirebaseVerifier, resolve_project
from server.auth.keys import read_or_create_secret
from server.auth.local import LocalTokens, LocalVerifier
from server.auth.principal import Verifier
from server.errors import InvalidInputError, LiftStreamError, ModelMissingError
from server.jobs import AnalyzeFn, DemoRenderFn, JobWorker, ProgressFn
from server.settings import Settings
from server.store.gcs import GcsMedia
from server.store.media import LocalMedia, MediaStorage, UrlSigner
from server.store.repo import Store

log = logging.getLogger(__name__)

API_ROOT = "/api"
API = f"{API_ROOT}/v1"
WEB_CLIENT = Path(__file__).resolve().parent.parent / "web_client"
MEDIA_SECRET = "media-secret"


def create_app(
    settings: Settings,
    *,
    analyze: AnalyzeFn | None = None,
    coach: Coach | None = None,
    render_demo: DemoRenderFn | None = render_demo_clip,
    verifier_factory: Callable[[Settings], Verifier] | None = None,
    warm_demo: bool = False,
    freeze_gc: bool = False,
) -> Starlette:
    """The LiftStream app. `analyze` defaults to the real pipeline (server.analysis.pipeline);
    tests may inject a fake analyse function, coach or verifier. warm_demo starts making the demo
    session at start-up instead of on the first demo=true request. freeze_gc (the served app):
    once started, everything alive is moved out of the cyclic collector's reach (gc.freeze), so
    a full collection during a stream scans only what came after: for the started server with
    its models, 66-82 ms (124 000 objects) against 0.1 ms, measured here on 2026-12-02. 66 ms is
    more than a frame's whole latency budget."""
    check_auth_environment(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            ctx = await _start(settings, stack, analyze, coach, render_demo, verifier_factory)
            if warm_demo:
                await ctx.demo.ensure_queued()
            if freeze_gc:
                gc.collect()
                gc.freeze()
            yield {"liftstream": ctx}
            # AsyncExitStack closes in reverse: shutdown hooks, worker, service, verifier, store.

    return Starlette(
        routes=[*_api_routes(), *_stream_routes(), *_site_routes()],
        middleware=[Middleware(InternalErrorMiddleware)],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )


def check_auth_environment(settings: Settings) -> None:
    """Refuse firebase mode with the emulator variable set unless emulator mode is explicit."""
    if settings.auth_mode not in ("local", "firebase"):
        raise InvalidInputError(f"auth mode {settings.auth_mode!r}: use 'local' or 'firebase'")
    if (
        settings.auth_mode == "firebase"
        and os.environ.get(EMULATOR_ENV)
        and not settings.firebase_emulator
    ):
        raise LiftStreamError(
            f"refusing to start in firebase auth mode: {EMULATOR_ENV} is set, and with it "
            "firebase-admin accepts forged, unsigned tokens. Unset it, or set "
            "LIFTSTREAM_FIREBASE_EMULATOR=1 for a test against the emulator."
        )
    if settings.auth_mode == "firebase":
        resolve_project(settings.firebase_project_id)


async def _start(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    analyze: AnalyzeFn | None,
    coach: Coach | None,
    render_demo: DemoRenderFn | None,
    verifier_factory: Callable[[Settings], Verifier] | None,
) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Spooled uploads and job scratch folders from a killed server are useless: their sessions
    # were either never created or are re-run from the stored original.
    for scratch in ("uploads", "work"):
        shutil.rmtree(settings.data_dir / scratch, ignore_errors=True)
    store = await asyncio.to_thread(Store.open, settings.effective_database_url)
    stack.callback(store.close)
    media_storage = await asyncio.to_thread(make_media, settings)
    verifier = (verifier_factory or make_verifier)(settings)
    stack.callback(verifier.close)
    service = None
    if analyze is None:
        service = await asyncio.to_thread(_inference_service, settings)
        if service is not None:
            stack.callback(service.close)
            # Jobs run in child processes (server.analysis.process): a lift being re-analysed
            # cannot hold the GIL the live streams' threads need, nor crash the server.
            jobs = ProcessAnalyzer(settings.model_dir, settings.landmark_variant)
            await asyncio.to_thread(jobs.start)
            stack.callback(jobs.close)
            analyze = jobs
        else:
            analyze = PipelineAnalyzer(None)  # every job fails naming the command to run
    worker = JobWorker(
        store,
        media_storage,
        analyze,
        work_dir=settings.data_dir / "work",
        concurrency=settings.worker_concurrency,
        render_demo=render_demo,
    )
    await worker.start()
    stack.push_async_callback(worker.stop)
    ctx = AppContext(
        settings=settings,
        store=store,
        media=media_storage,
        verifier=verifier,
        worker=worker,
        coach=coach or RulesCoach(),
        demo=DemoSession(store, worker),
        extras={},
        on_shutdown=[],
    )

    async def run_shutdown_hooks() -> None:
        for hook in reversed(ctx.on_shutdown):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)

    stack.push_async_callback(run_shutdown_hooks)
    # Live streaming (server/stream): its registry, closed at shutdown by ctx.on_shutdown.
    from server.stream.wiring import attach_stream

    ctx.extras["pose_service"] = service
    attach_stream(ctx)
    await asyncio.to_thread(_import_live_analysis)
    return ctx


def _import_live_analysis() -> None:
    """Import the live analysis now, off the event loop. Its modules import scipy (through
    filterpy): 0.7 s here on 2026-12-02, more on a cold disk. Imported by the first stream's
    `start`, they held the event loop, and with it every connection and request; a stream's
    first 1.6 s of frames could go unread (CI, 2026-12-02)."""
    try:
        importlib.import_module("server.stream.live_pipeline")
    except ImportError as exc:  # the factory says so to each stream (analysis_unavailable)
        log.warning("live analysis unavailable: %s", exc)


def make_media(settings: Settings) -> MediaStorage:
    if settings.media_backend == "gcs":
        return GcsMedia(settings.gcs_bucket, settings.media_url_ttl_s)
    if settings.media_backend != "local":
        raise InvalidInputError(f"media backend {settings.media_backend!r}: use 'local' or 'gcs'")
    signer = UrlSigner(
        read_or_create_secret(settings.data_dir / MEDIA_SECRET), settings.media_url_ttl_s
    )
    return LocalMedia(settings.media_dir, signer)


def make_verifier(settings: Settings) -> Verifier:
    if settings.auth_mode == "firebase":
        return FirebaseVerifier(settings.firebase_project_id, emulator=settings.firebase_emulator)
    return LocalVerifier(LocalTokens.from_settings(settings))


def _inference_service(settings: Settings, intra_threads: int | None = None) -> Any:
    """A pose service, or None (jobs then fail naming the fix) when models are missing.
    intra_threads: onnxruntime threads per run (None: one per core)."""
    from server.pose.service import InferenceService

    try:
        service = InferenceService(
            settings.model_dir, settings.landmark_variant, intra_threads=intra_threads
        )
    except ModelMissingError as exc:
        log.warning(
            "pose models unavailable (%s); uploads will fail until `liftstream models prepare`", exc
        )
        return None
    service.warm_up()
    return service


class PipelineAnalyzer:
    """The real analysis (server.analysis.pipeline) with the shared inference service."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def __call__(
        self, video: Path, options: dict[str, Any], out_dir: Path, progress: ProgressFn
    ) -> None:
        from server.analysis.pipeline import AnalysisOptions, analyze_video

        if self.service is None:
            raise ModelMissingError(
                "the pose models are not prepared: run `liftstream models prepare`"
            )
        analysis_options = AnalysisOptions(
            exercise=options["exercise"],
            barbell_mass_kg=float(options["barbell_mass_kg"]),
            joints=tuple(options["joints"]),
            plate_diameter_m=float(options["plate_diameter_m"]),
            units=options["units"],
            lifter_height_m=options.get("lifter_height_m"),
            body_mass_kg=options.get("body_mass_kg"),
            render=bool(options.get("render", True)),
        )
        analyze_video(video, analysis_options, out_dir, service=self.service, progress=progress)


def _api_routes() -> list[BaseRoute]:
    s = f"{API}/sessions/{{session_id}}"
    return [
        _methods(f"{API}/sessions", GET=sessions.list_sessions, POST=sessions.create_session),
        Route(s, sessions.get_session, methods=["GET"]),
        Route(f"{s}/data", data.get_session_data, methods=["GET"]),
        Route(f"{s}/report", report.get_report, methods=["GET"]),
        Route(f"{s}/summary", report.get_summary, methods=["GET"]),
        Route(f"{s}/comment-threads", threads.create_comment_threads, methods=["POST"]),
        Route(f"{s}/summary-threads", threads.create_summary_threads, methods=["POST"]),
        Route(f"{API}/threads/{{thread_id}}", threads.get_thread, methods=["GET"]),
        Route(f"{API}/threads/{{thread_id}}/messages", threads.reply_to_thread, methods=["POST"]),
        _methods(
            f"{API}/users/{{user_id}}/profile", GET=users.get_profile, PUT=users.update_profile
        ),
    ]


def _methods(path: str, **handlers: Callable[[Request], Awaitable[Response]]) -> Route:
    """One route for one path with a handler per method, so that a 405 lists them all in Allow
    (two routes for one path would each know only their own method)."""
    if "GET" in handlers:
        handlers.setdefault("HEAD", handlers["GET"])

    async def endpoint(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, endpoint, methods=list(handlers))


def _stream_routes() -> list[BaseRoute]:
    """Live ingest (WebRTC offer, WebSocket) from server/stream: its routes are listed here."""
    from server.stream.wiring import app_stream_routes

    return app_stream_routes()


def _site_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/openapi.json", docs.openapi_json, methods=["GET"]),
        Route("/docs", docs.docs_page, methods=["GET"]),
        Route("/media/{key:path}", media.get_media, methods=["GET", "HEAD"]),
    ]
    if (WEB_CLIENT / "index.html").is_file():
        routes.append(
            SiteMount("/", StaticFiles(directory=WEB_CLIENT, html=True), name="web_client")
        )
    else:
        routes.append(Route("/", _to_docs, methods=["GET"]))
    return routes


class SiteMount(Mount):
    """The web client's catch-all mount at "/", which leaves every /api/ path to the routes above.

    A router takes the first route that matches path and method over an earlier one that matches
    only the path, so a catch-all would answer GET /api/v1/sessions/x/comment-threads (a POST
    route) with the static 404 instead of the API's 405.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path, root = scope["path"], scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        if scope["type"] == "http" and route_path.startswith(f"{API_ROOT}/"):
            return Match.NONE, {}
        return super().matches(scope)


async def _to_docs(_request: Request) -> Response:
    return RedirectResponse("/docs")
