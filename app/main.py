"""The application factory: routers, problem handlers, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app import problems
from app.alerts.router import cap_router, places_router
from app.alerts.router import router as alerts_router
from app.auth.firebase import FirebaseVerifier, firebase_configured
from app.auth.passwords import PasswordHasher
from app.auth.router import jwks_router
from app.auth.router import router as auth_router
from app.auth.service import AuthContext
from app.auth.tokens import TokenService
from app.channels import run_channels
from app.db import create_sessionmaker, long_running_engine
from app.devices.router import router as devices_router
from app.evidence.router import router as evidence_router
from app.groups.router import router as groups_router
from app.health import router as health_router
from app.incidents.cluster_router import router as clusters_router
from app.incidents.intake import ReportIntake
from app.incidents.media import LocalMediaStore
from app.incidents.router import PHOTO_UPLOAD_PATH
from app.incidents.router import router as incidents_router
from app.integrations.cap_in.poller import run_poller
from app.integrations.cap_in.router import router as cap_sources_router
from app.integrations.open311.router import contacts_router as open311_contacts_router
from app.integrations.open311.router import router as open311_router
from app.metrics import Metrics
from app.middleware import RequestContextMiddleware
from app.migrate import head_revision
from app.openapi import build_openapi, operation_id
from app.privacy.router import router as privacy_router
from app.push.router import router as outbox_router
from app.push.stats import push_counts
from app.ratelimit import memory_limiter, redis_limiter
from app.realtime.bus import bus_for
from app.realtime.hub import Hub
from app.realtime.router import LIVE_EVENTS_PATH, live_events
from app.realtime.seats import seats_for
from app.settings import Settings
from app.webhooks.router import router as webhooks_router

log = logging.getLogger(__name__)

DESCRIPTION = """\
The API behind neighbourhood-watch mobile apps: accounts and devices, watch groups,
citizen incident reports, geofenced alerts delivered by push and WebSocket, public
alerts as CAP 1.2 documents and an Atom feed, agencies' CAP 1.2 feeds taken in as
alerts (`/v1/admin/cap-sources`), and Open311 GeoReport v2 (`/open311/v2/`, XML and
JSON) for the apps and council systems that speak it.

Errors are RFC 9457 problem documents (`application/problem+json`), except at the
OAuth2 token endpoint, which answers as RFC 6749 §5.2. Lists are cursor-paginated.
"""

TAGS: list[dict[str, Any]] = [
    {"name": "auth", "description": "Accounts, sign-in and tokens"},
    {"name": "devices", "description": "Phones registered for push"},
    {"name": "groups", "description": "Watch groups, membership, invitations and roles"},
    {"name": "incidents", "description": "Citizen reports, moderation and updates"},
    {"name": "places", "description": "What a resident watches, and their alert preferences"},
    {"name": "alerts", "description": "Geofenced alerts, acknowledgements and statistics"},
    {"name": "evidence", "description": "What works against crime: the prevention library"},
    {"name": "cap", "description": "Public alerts as CAP 1.2 and an Atom feed (no sign-in)"},
    {"name": "webhooks", "description": "Signed webhooks for API clients (Standard Webhooks)"},
    {"name": "your data", "description": "A resident's export and erasure (UK GDPR)"},
    {"name": "admin", "description": "Administration (admin role only)"},
    {
        "name": "open311",
        "description": "Open311 GeoReport v2 and Service Discovery, in XML and JSON by the "
        "path's extension; errors in the specification's shape",
    },
    {"name": "operations", "description": "Health, readiness and metrics"},
]


@contextlib.contextmanager
def collector_tuned_for_serving() -> Iterator[None]:
    """The cyclic garbage collector, tuned for a server's heap.

    What exists once the app has started (modules, routes, compiled schemas: some 200,000
    objects) lives as long as the process, so it is frozen out of the collector's passes;
    and the youngest generation is collected after 10,000 new objects, not 700, so that
    a request's short-lived objects die before they are promoted. Under report load
    (bench/incidents.py, SQLite) the collector had taken 1.9 s of 15, in full passes of
    up to 151 ms every second or so; tuned, 0.12 s, and no full pass. The push worker
    runs under it too: untuned, a push cost it 218 µs of CPU where the API process,
    tuned, spent 147 µs (bench/push_fanout.py, PostgreSQL).
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, 10, 10)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check()
    tokens = TokenService(settings)  # fails fast on a bad key configuration
    hasher = PasswordHasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with long_running_engine(settings) as engine, running(app, engine):
            yield

    @asynccontextmanager
    async def running(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        limiter = (
            redis_limiter(redis, settings.redis_url)
            if redis is not None and settings.redis_url
            else memory_limiter()
        )
        app.state.limiter = limiter
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.auth = AuthContext(settings, tokens, hasher, limiter)
        app.state.incident_intake = ReportIntake(app.state.sessionmaker, settings, limiter)
        app.state.media_store = LocalMediaStore(settings.var_dir / "media")
        app.state.push_counts = push_counts  # the push channel's, for alert statistics
        app.state.firebase = FirebaseVerifier(settings) if firebase_configured(settings) else None
        stop = asyncio.Event()
        bus = bus_for(settings.redis_url)
        seats = seats_for(settings.redis_url, settings.ws_connections_per_user)
        app.state.hub = Hub(
            app.state.sessionmaker,
            bus,
            metrics,
            per_user=settings.ws_connections_per_user,
            seats=seats,
        )
        hub_task = asyncio.create_task(app.state.hub.run(), name="realtime-hub")
        background: list[asyncio.Task[None]] = []
        if settings.runs_dispatcher:
            background.append(
                asyncio.create_task(
                    run_channels(settings, app.state.sessionmaker, stop, bus), name="dispatcher"
                )
            )
            # Agencies' CAP feeds are polled in the dispatcher's process (app.cli worker).
            background.append(
                asyncio.create_task(
                    run_poller(settings, app.state.sessionmaker, stop), name="cap-poller"
                )
            )
        log.info(
            "started",
            extra={
                "shape": settings.shape,
                "jwt_alg": tokens.algorithm,
                "dispatcher": settings.runs_dispatcher,
            },
        )
        try:
            with collector_tuned_for_serving():
                yield
        finally:
            await app.state.incident_intake.drain()
            stop.set()
            for task in background:
                await task
            hub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hub_task
            await bus.close()
            await seats.close()
            if app.state.firebase is not None:
                app.state.firebase.close()
            if redis is not None:
                await redis.aclose()

    # The docs pages load Swagger UI and ReDoc from the package's copies, served here
    # under /static-offline-docs: FastAPI's own pages load them from a CDN, and so stay
    # blank on a closed network.
    app = FastAPIOffline(
        title="Neighbourwatch API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.schema_head = head_revision()
    problems.install(app)
    for router in (
        auth_router,
        jwks_router,
        devices_router,
        groups_router,
        clusters_router,  # before incidents_router: /incidents/similar
        incidents_router,
        places_router,
        alerts_router,
        cap_router,
        outbox_router,
        webhooks_router,
        privacy_router,
        cap_sources_router,
        evidence_router,
        health_router,
        open311_router,
        open311_contacts_router,
    ):
        app.include_router(router)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
        # A photo plus the multipart envelope around it.
        body_limits=[(PHOTO_UPLOAD_PATH, settings.max_photo_bytes + 64 * 1024)],
        websockets={LIVE_EVENTS_PATH: live_events},
    )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
