"""Cookies of the pages: the CSRF token, the booking link and the staff session.

Forms carry the CSRF token in a hidden field `csrf_token`, scripts in the `X-CSRF-Token`
header; both must equal the `csrf` cookie (double submit). The cookie is HttpOnly and
SameSite=Strict, so another site can neither read nor send it.

A magic link (`/b/{token}`, `/j/{token}`) is moved from the URL into a short-lived,
HttpOnly cookie scoped to the booking, and the browser is sent to an address without the
token: it does not stay in the history, in the address bar or in a Referer.
"""

from __future__ import annotations

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
    if 20 <= len(current) <= 100:
        return current, False
    fresh = getattr(request.state, "csrf_fresh", None)
    if fresh is None:
        fresh = request.state.csrf_fresh = secrets.token_urlsafe(32)
    return fresh, True


def set_csrf_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def check_csrf(request: Request, form: FormData | None = None) -> None:
    """Raise CsrfFailed unless the form field or header matches the cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD) if form is not None else None
    if not isinstance(sent, str):
        sent = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfFailed("CSRF token missing or wrong")


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
