"""Cookies of the pages: the CSRF token, the booking link and the staff session.

Forms carry the CSRF token in a hidden field `csrf_token`, scripts in the `X-CSRF-Token`
header; both must equal the `csrf` cookie (double submit). The cookie is HttpOnly and
SameSite=Strict, so another site can neither read nor send it. While a staff session cookie
is present, the CSRF token is also bound to it (`<nonce>.<HMAC keyed by the session token>`)
and renewed at login and logout: a token planted or learnt before the login (a cookie set by
a sibling subdomain, a shared kiosk) is worth nothing in the session.

A magic link (`/b/{token}`, `/j/{token}`) is moved from the URL into a short-lived,
HttpOnly cookie scoped to the booking, and the browser is sent to an address without the
token: it does not stay in the history, in the address bar or in a Referer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from scheduler.errors import PermissionDenied

CSRF_COOKIE = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LINK_COOKIE = "booking_link"
LINK_MAX_AGE = 2 * 3600
STAFF_COOKIE = "staff_session"


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


def csrf_token_for(request: Request) -> tuple[str, bool]:
    """The request's CSRF token, and whether it is new (then the response must set it)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(current) <= 100 and _bound(current, staff_token(request)):
        return current, False
    fresh = getattr(request.state, "csrf_fresh", None)
    if fresh is None:
        fresh = request.state.csrf_fresh = new_csrf_token(staff_token(request))
    return fresh, True


def new_csrf_token(session_token: str | None) -> str:
    """A fresh CSRF token; bound to the staff session token if there is one."""
    if session_token is None:
        return secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_mac(session_token, nonce)}"


def _mac(session_token: str, nonce: str) -> str:
    digest = hmac.new(session_token.encode(), nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _bound(token: str, session_token: str | None) -> bool:
    """Whether `token` may be used with the staff session (any token without one)."""
    if session_token is None:
        return True
    nonce, _, mac = token.partition(".")
    return hmac.compare_digest(mac.encode(), _mac(session_token, nonce).encode())


def set_csrf_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def check_csrf(request: Request, form: FormData | None = None) -> None:
    """Raise CsrfFailed unless the form field or header matches the cookie, and the cookie
    belongs to the staff session if there is one."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD) if form is not None else None
    if not isinstance(sent, str):
        sent = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfFailed("CSRF token missing or wrong")
    if not _bound(cookie, staff_token(request)):
        raise CsrfFailed("CSRF token of another session")


async def verified_form(request: Request) -> FormData:
    """The submitted form, after the CSRF check (a dependency for page POST handlers)."""
    form = await request.form()
    check_csrf(request, form)
    return form


def set_link_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        LINK_COOKIE,
        token,
        max_age=LINK_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def link_token(request: Request) -> str | None:
    return request.cookies.get(LINK_COOKIE) or None


def set_staff_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(STAFF_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


def staff_token(request: Request) -> str | None:
    return request.cookies.get(STAFF_COOKIE) or None


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
