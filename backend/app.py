"""The application factory: settings -> verifier, engine, middleware, routers, error mapping."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend import health, metrics
from backend.auth.verifier import build_verifier
from backend.db.embedded import resolve_database_url
from backend.db.pool import build_pool
from backend.errors import install_error_handlers
from backend.logs import configure_logging
from backend.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from backend.openapi_docs import install_routers
from backend.settings import AuthMode, Settings
from backend.tasks import routes as tasks_routes

log = logging.getLogger("backend")

API_DESCRIPTION = """
A multi-user todo API. Every `/api/...` route needs `Authorization: Bearer <JWT>` from Better Auth, and a user
only ever reaches their own tasks. Errors are RFC 9457 problem details (`application/problem+json`).
"""
API_TAGS = [
    {"name": "tasks", "description": "A user's own tasks: every route needs a bearer token whose `sub` is `user_id`."},
    {"name": "health", "description": "Probes for orchestrators and load balancers: public, no token."},
]
# Relative: the API is wherever this document was served from (behind any proxy or prefix).
API_SERVERS = [{"url": "/", "description": "The server that serves this document"}]
API_CONTACT = {"name": "todo-api maintainers"}


def create_served_app() -> FastAPI:
    """What `todo-api serve` runs in each worker: the app, whose heap is frozen once it has started."""
    return create_app(freeze_heap=True)


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format, settings.access_log_flush_seconds)
    recorder = metrics.build_recorder(settings.metrics_port)
    database_url = resolve_database_url(settings)
    if settings.auth_mode is AuthMode.DEV:
        log.warning("=" * 70)
        log.warning("DEV MODE: no BETTER_AUTH_URL or BETTER_AUTH_SECRET; `todo-api token USER_ID` mints tokens")
        log.warning("=" * 70)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The pool belongs to the event loop that serves requests, so it is opened here, not at import. It connects
        # in the background: the server starts (and /readyz says 503) even while the database is down.
        async with (
            build_pool(settings, database_url) as pool,
            metrics.instrumented(recorder, pool, settings.metrics_host, settings.metrics_port),
        ):
            app.state.pool = pool
            if freeze_heap:
                # Everything alive after start-up (modules, the app, pydantic's validators) lives as long as the
                # process: moved out of the collector's reach, so a full collection no longer walks it (80 ms
                # pauses under load otherwise, specs/performance.md). Not for the tests' many in-process apps,
                # whose garbage it would keep.
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:  # what the log handler still holds is written when the app stops (backend/logs.py)
                for handler in logging.getLogger("backend").handlers:
                    handler.flush()

    docs = settings.docs_enabled
    app = FastAPI(
        title="Todo API",
        version="1.0.0",
        description=API_DESCRIPTION,
        openapi_tags=API_TAGS,
        servers=API_SERVERS,
        contact=API_CONTACT,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=lifespan,
        # The service's observability is its own (/metrics, the access log: specs/observability.md). FastAPI's native
        # OpenTelemetry would switch itself on if any library configured a global provider, and even off it asks
        # on every request whether one is configured (specs/performance.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = recorder
    app.state.verifier = build_verifier(settings, recorder)

    install_error_handlers(app, settings.retry_after_seconds, recorder)
    # A route that authenticates, or reads a JSON body, is documented as doing so (backend/openapi_docs.py).
    # The API's routes are matched first: a request tries each route in turn, and the probes are asked a few times a
    # minute, the API on every request (specs/performance.md).
    install_routers(app, [health.router, tasks_routes.router], match_first=[tasks_routes.router])

    # Added last = outermost: request ids wrap everything, including CORS preflights and 413s. Without CORS, the one
    # outer layer also applies the body-size limit (backend/middleware.py).
    limit: int | None = settings.max_body_bytes
    if settings.cors_origins:
        app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
        limit = None
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            # A browser frontend must be able to send the preconditions and keys, and read the ETag back.
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
            ],
            expose_headers=["Location", "Link", "X-Request-ID", "Retry-After", "ETag"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, metrics=recorder, access_log=settings.access_log, max_body_bytes=limit)
    return app
