"""ASGI middleware: each request gets an id (sent back in `X-Request-ID`, carried by every log
event while it is answered), one request event in the log, and its share of the metrics.

An `X-Request-ID` from the client is kept when it looks like an id (the proxy's, so that its
log and ours name the same request); anything else is replaced. The event names the route's
pattern (`/b/{token}`), never the path that carries a token, and no query string.
"""

from __future__ import annotations

import logging
import random
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web import metrics
from web.logs import REQUEST_ID, REQUESTS

log = logging.getLogger(REQUESTS)
HEADER = b"x-request-id"
_ID = re.compile(rb"[A-Za-z0-9._-]{8,64}")


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            raise
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)
            if scope["type"] == "http":
                _count(scope["method"], route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %s",
                    scope.get("method", "WEBSOCKET"),
                    route or "(no route)",
                    status or "closed",
                    extra={
                        "fields": {
                            "event": "request" if scope["type"] == "http" else "websocket",
                            "method": scope.get("method", "GET"),
                            "route": route,
                            "status": status or None,
                            "duration_ms": round(seconds * 1000, 1),
                        }
                    },
                )
            REQUEST_ID.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER and _ID.fullmatch(value):
            return value.decode()
    # Needs no secrecy: 128 bits of the process's generator, which Python seeds anew after a
    # fork; a uuid4 would read the system's randomness, a call that lets go of the
    # interpreter's lock, on every request.
    return f"{random.getrandbits(128):032x}"


def _count(method: str, route: str | None, status: int, seconds: float) -> None:
    metrics.RESPONSES.labels(f"{status // 100}xx").inc()
    if (method, route) in metrics.BOOKING_ROUTES:
        metrics.BOOKINGS.labels(metrics.booking_outcome(status)).inc()
        metrics.BOOKING_SECONDS.observe(seconds)
    elif (method, route) in metrics.SLOT_SEARCH_ROUTES:
        metrics.SLOT_SEARCH_SECONDS.observe(seconds)
