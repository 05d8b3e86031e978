"""The page language: `?lang=` (kept in a cookie), then the cookie, then Accept-Language."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.i18n import Catalogues

COOKIE = "lang"
_YEAR = 365 * 24 * 3600


class LanguageMiddleware:
    """Puts the chosen language into `request.state.language` for pages and answers."""

    def __init__(self, app: ASGIApp, catalogues: Catalogues, secure: bool = False) -> None:
        self.app = app
        self.catalogues = catalogues
        # Over https (always in production) the cookie is `Secure` like every other one.
        self.attributes = f"Path=/; Max-Age={_YEAR}; SameSite=Lax" + ("; Secure" if secure else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        languages = self.catalogues.languages
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(COOKIE, [""])[-1]
        chosen = asked if asked in languages else None
        headers = dict(scope["headers"])
        kept = _cookie(headers.get(b"cookie", b"").decode("latin-1"), COOKIE)
        accept = headers.get(b"accept-language", b"").decode("latin-1")
        language = chosen or (kept if kept in languages else self.catalogues.negotiate(accept))
        scope.setdefault("state", {})["language"] = language
        if chosen is None or chosen == kept:
            await self.app(scope, receive, send)
            return

        async def keep_choice(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{COOKIE}={chosen}; {self.attributes}"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, keep_choice)


def _cookie(header: str, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a malformed Cookie header is no cookie, not an error
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None
