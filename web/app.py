"""The application factory: nothing is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import anyio.to_thread
from aiortc import RTCIceServer
from fastapi import FastAPI
from fastapi.routing import APIRoute

from rooms.echo import EchoTests
from scheduler.db import utcnow
from signaling.bus import Bus, InMemoryBus
from signaling.gate import Gate
from signaling.hub import Hub
from web import document_uploads, errors, logs, metrics, pages
from web.api import (
    altcha,
    callbacks,
    connection_test,
    devmail,
    docs,
    documents,
    feeds,
    health,
    openapi,
    public,
    rights,
    rooms,
    signaling,
    staff,
    staff_documents,
    staff_people,
    stats,
    waitlist,
)
from web.container import Container
from web.i18n import Catalogues
from web.kept_searches import PATH, KeptSearches
from web.middleware import Activity, BodySizeLimit, CountRequests, SecurityHeaders
from web.observe import Observe
from web.pages import callback_form, staff_import, staff_media, waitlist_pages
from web.pages import offer as offer_pages
from web.pages.language import LanguageMiddleware
from web.pages.rendering import Pages
from web.protection import Protection
from web.routing import add_routes
from web.settings import Settings


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or Settings()
    container = Container.build(settings, clock=clock)
    echo = EchoTests(
        settings.connection_test_sessions,
        settings.connection_test_seconds,
        ice_servers=lambda: [
            RTCIceServer(
                urls=list(server.urls), username=server.username, credential=server.credential
            )
            for server in container.ice.for_participant("connection-test")
        ],
    )
    hub = Hub(
        _bus(settings),
        Gate(container.rooms, container.ice, clock),
        observe=metrics.observe_signaling,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        logs.install()
        # Handlers run in threads that share one interpreter lock and, on SQLite, one writer
        # lock: more threads than that only add switching (measured in bench/booking_burst).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = settings.worker_threads
        if settings.embedded_worker:
            container.worker.start()
            container.daily_purge.start()
            container.waitlist_worker.start()
            container.scan_worker.start()
        await hub.start()
        await protection.start()
        switching = sys.getswitchinterval()
        if settings.switch_interval_ms is not None:
            sys.setswitchinterval(settings.switch_interval_ms / 1000)
        if settings.freeze_startup_objects:
            gc.collect()
            gc.freeze()
            # Fewer, larger young collections; a request or a signaling message allocates
            # thousands of short-lived objects that reference counting frees anyway.
            gc.set_threshold(50_000, 20, 100)
        lag = asyncio.create_task(metrics.watch_loop_lag())
        yield
        lag.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag
        await hub.stop()
        await echo.close_all()
        container.worker.stop()
        container.daily_purge.stop()
        container.waitlist_worker.stop()
        container.scan_worker.stop()
        container.engine.dispose()
        await protection.aclose()
        metrics.process_ended()
        sys.setswitchinterval(switching)

    app = FastAPI(
        title="Sprechstunde",
        version="1",
        description="Appointment booking and video consultation for public administrations.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    # Read through web.deps, the only other module that touches app.state.
    catalogues = Catalogues()
    app.state.container = container
    app.state.catalogues = catalogues
    app.state.pages = Pages(catalogues, container.settings)
    app.state.echo = echo
    app.state.hub = hub
    app.state.protection = protection = Protection(settings, lambda: clock().timestamp())
    errors.install(app)
    openapi.install(app)
    add_routes(app, health.router)
    if settings.docs_enabled:
        docs.install(app)
    add_routes(app, public.router)
    add_routes(app, waitlist.router)
    add_routes(app, documents.router)
    add_routes(app, rights.router)
    add_routes(app, altcha.router)
    add_routes(app, staff.router)
    add_routes(app, stats.router)
    add_routes(app, staff_documents.router)
    add_routes(app, staff_people.router)
    add_routes(app, callbacks.router)
    add_routes(app, feeds.router)
    add_routes(app, connection_test.router)
    add_routes(app, rooms.router)
    add_routes(app, signaling.router)
    if settings.env != "production":
        add_routes(app, devmail.router)
    pages.install(app)
    add_routes(app, offer_pages.router)
    add_routes(app, waitlist_pages.router)
    add_routes(app, callback_form.router)
    # Innermost: it answers in place of the route, inside every middleware of ours.
    app.add_middleware(
        KeptSearches, container=container, protection=protection, route=_route(app, PATH)
    )
    secure = settings.base_url.startswith("https://")
    app.add_middleware(LanguageMiddleware, catalogues=catalogues, secure=secure)
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        # A video, and room for its captions and the rest of the form.
        uploads=(
            (staff_media.PATH + "/", settings.media_max_bytes + settings.max_body_bytes),
            (staff_import.PATH, staff_import.BODY_LIMIT),
            *(
                (path, settings.document_max_bytes + document_uploads.MULTIPART_OVERHEAD)
                for path in document_uploads.UPLOAD_PATHS
            ),
        ),
    )
    app.add_middleware(SecurityHeaders, hsts=settings.env == "production")
    # The embedded mail worker gives way while requests are answered (at most 10 s).
    activity = Activity()
    container.worker.give_way = activity.busy
    app.add_middleware(CountRequests, activity=activity)
    # Outermost: the request's id reaches every log event and every answer, errors included.
    app.add_middleware(Observe)
    return app


def _route(app: FastAPI, path: str) -> APIRoute:
    return next(r for r in app.routes if isinstance(r, APIRoute) and r.path == path)


def _bus(settings: Settings) -> Bus:
    """Redis when configured, so that several processes share their rooms."""
    if settings.redis_url:
        from signaling.redis_bus import RedisBus

        return RedisBus(settings.redis_url)
    return InMemoryBus(time.time)
