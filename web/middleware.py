"""ASGI middleware: a cap on request bodies and the security headers of every answer."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import message

# Everything comes from our own origin: no inline script or style, no third party at all.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"permissions-policy", b"camera=(self), microphone=(self), display-capture=(self)"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

# Two years, the preload list's minimum; production serves only https (web/settings.py).
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")
# Our own scripts, styles and pictures: the same for everyone, so caches may keep them.
_CACHEABLE_PREFIX = "/static/"


class Activity:
    """How many HTTP requests are being answered, so that background work can give way.

    Only the event loop changes the count (`CountRequests`), so it needs no lock; a thread
    reading it sees a value at most one request stale.
    """

    def __init__(self) -> None:
        self.in_flight = 0

    def busy(self) -> bool:
        return self.in_flight > 0


class CountRequests:
    def __init__(self, app: ASGIApp, activity: Activity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket stays open for a whole call
            await self.app(scope, receive, send)
            return
        self.activity.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.in_flight -= 1


class _TooLarge(HTTPException):
    # An HTTPException, so that FastAPI re-raises it while reading the body instead of turning
    # it into "400 error parsing the body"; the app's handler answers 413 body_too_large.
    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413, whether declared or streamed (chunked).

    The handler never sees a truncated body, so nothing is half written.
    """

    def __init__(self, app: ASGIApp, limit: int, uploads: tuple[tuple[str, int], ...] = ()) -> None:
        self.app = app
        self.limit = limit
        # (path prefix, limit) pairs for the few forms that take files, e.g. sign language
        # videos: everything else keeps the small limit.
        self.uploads = uploads

    def _limit_for(self, path: str) -> int:
        larger = (limit for prefix, limit in self.uploads if path.startswith(prefix))
        return next(larger, self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(scope, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _refuse(scope, send)


async def _refuse(scope: Scope, send: Send) -> None:
    detail = "The request body is too large."
    if "app" in scope:  # in the app's language, like every other answer
        detail = message(Request(scope), "body_too_large")
    body = json.dumps({"code": "body_too_large", "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """The headers above on every answer; HSTS with `hsts` (production).

    Every answer but our static files gets `Cache-Control: no-store` unless its handler chose
    a policy of its own: JSON answers, calendars and pages carry names, e-mail addresses and
    tokens, and a route added later is covered without anyone remembering to.
    """

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.headers = [*SECURITY_HEADERS, *([STRICT_TRANSPORT_SECURITY] if hsts else [])]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(_CACHEABLE_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *self.headers]
                if not cacheable and not any(name.lower() == NO_STORE[0] for name, _ in headers):
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
