"""Pages: staff login, logout and the home of each role; the sections are in `staff_*.py`."""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.errors import AuthenticationFailed, LoginThrottled
from web.deps import Renderer, Services, client_address, pages
from web.pages import (
    staff_admin,
    staff_agenda,
    staff_callbacks,
    staff_callbacks_book,
    staff_credentials,
    staff_hotline,
    staff_hours,
)
from web.pages.security import (
    STAFF_COOKIE,
    clear_cookie,
    new_csrf_token,
    set_csrf_cookie,
    set_staff_cookie,
    staff_token,
    verified_form,
)
from web.pages.session import StaffPage, optional_staff
from web.pages.staff_common import HOME, FormErrors, domain_message, see_other, text
from web.routing import add_routes

router = APIRouter(include_in_schema=False)
for module in (
    staff_agenda,
    staff_hours,
    staff_hotline,
    staff_admin,
    staff_callbacks,
    staff_callbacks_book,
    staff_credentials,
):
    add_routes(router, module.router)

Form = Annotated[FormData, Depends(verified_form)]
# Only our own staff pages: plain segments, so neither another host ("//evil.example",
# "/\\evil.example") nor a dot segment that the browser resolves to one ("/staff/..//evil.example",
# "/staff/%2e%2e//evil.example"); a query cannot leave the origin.
_LOCAL_STAFF_PATH = re.compile(r"/staff(?:/[A-Za-z0-9_-]+)*/?(?:\?[^\\\s#]*)?(?:#[^\\\s]*)?")


def safe_next(candidate: str) -> str:
    if _LOCAL_STAFF_PATH.fullmatch(candidate) and not candidate.startswith("/staff/login"):
        return candidate
    return "/staff"


@router.get("/staff")
def home(staff: StaffPage) -> RedirectResponse:
    return see_other(HOME[staff.role])


@router.get("/staff/login", response_model=None)
def login_form(
    request: Request,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/staff",
    abgemeldet: bool = False,
) -> HTMLResponse | RedirectResponse:
    if optional_staff(request) is not None:
        return see_other(safe_next(next_path))
    return _login_page(request, safe_next(next_path), logged_out=abgemeldet)


@router.post("/staff/login", response_model=None)
def login(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    email, password, next_path = text(form, "email"), form.get("password"), text(form, "next")
    password = password if isinstance(password, str) else ""
    errors = FormErrors()
    if not email:
        errors.add("email", renderer.gettext(request, "Please enter your e-mail address."))
    if not password:
        errors.add("password", renderer.gettext(request, "Please enter your password."))
    if errors:
        return _login_page(request, safe_next(next_path), errors=errors, email=email, status=422)
    try:
        token = services.accounts.login(email, password, client_address(request))
    except AuthenticationFailed as exc:
        step = staff_credentials.second_step(request, services, email, exc, safe_next(next_path))
        if step is not None:
            return step
        errors.add("email", domain_message(request, exc))
        return _login_page(request, safe_next(next_path), errors=errors, email=email, status=401)
    except LoginThrottled as exc:
        wait = int(str(exc.params.get("retry_after", 900)))
        errors.add(
            "email",
            renderer.gettext(
                request,
                "Too many failed logins. Please wait {minutes} minutes and try again.",
                minutes=math.ceil(wait / 60),
            ),
        )
        response = _login_page(
            request, safe_next(next_path), errors=errors, email=email, status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    redirect = see_other(safe_next(next_path))
    set_staff_cookie(redirect, token, secure=renderer.secure)
    # A new session gets a new CSRF token, bound to it.
    set_csrf_cookie(redirect, new_csrf_token(token), secure=renderer.secure)
    return redirect


@router.post("/staff/logout")
def logout(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> RedirectResponse:
    token = staff_token(request)
    if token is not None:
        services.accounts.logout(token)
    response = see_other("/staff/login?abgemeldet=true")
    clear_cookie(response, STAFF_COOKIE, secure=renderer.secure)
    set_csrf_cookie(response, new_csrf_token(None), secure=renderer.secure)
    return response


def _login_page(
    request: Request,
    next_path: str,
    *,
    errors: FormErrors | None = None,
    email: str = "",
    logged_out: bool = False,
    status: int = 200,
) -> HTMLResponse:
    return pages(request).render(
        request,
        "staff/login.html",
        status_code=status,
        next_path=next_path,
        errors=errors or FormErrors(),
        email=email,
        logged_out=logged_out,
    )
