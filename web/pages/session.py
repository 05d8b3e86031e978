"""The staff member behind a page request: the session cookie holds their access token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from scheduler.accounts import StaffIdentity
from scheduler.errors import TokenError
from web.deps import container
from web.pages.security import staff_token

LOGIN_PATH = "/staff/login"


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def optional_staff(request: Request) -> StaffIdentity | None:
    token = staff_token(request)
    if token is None:
        return None
    try:
        return container(request).accounts.identify(token)
    except TokenError:
        return None


def page_staff(request: Request) -> StaffIdentity:
    """A dependency: the logged-in staff member, or a redirect to the login page."""
    staff = optional_staff(request)
    if staff is None:
        raise LoginRequired(request.url.path)
    return staff


StaffPage = Annotated[StaffIdentity, Depends(page_staff)]


async def redirect_to_login(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': exc.next_path})}", status_code=303)
