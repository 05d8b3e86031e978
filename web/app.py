"""The application factory: nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import anyio.to_thread
from fastapi import FastAPI

from scheduler.db import utcnow
from web import errors, logs
from web.api import devmail, docs, feeds, health, public, staff
from web.container import Container
from web.i18n import Catalogues
from web.middleware import BodySizeLimit, SecurityHeaders
from web.settings import Settings


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or Settings()
    container = Container.build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        logs.install()
        # Handlers run in threads that share one interpreter lock and, on SQLite, one writer
        # lock: more threads than that only add switching (measured in bench/booking_burst).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = settings.worker_threads
        if settings.embedded_worker:
            container.worker.start()
        yield
        container.worker.stop()
        container.engine.dispose()

    app = FastAPI(
        title="Sprechstunde",
        version="1",
        description="Appointment booking and video consultation for public administrations.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    app.state.catalogues = Catalogues()
    errors.install(app)
    app.include_router(health.router)
    docs.install(app)
    app.include_router(public.router)
    app.include_router(staff.router)
    app.include_router(feeds.router)
    if settings.env != "production":
        app.include_router(devmail.router)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
