"""Pages: a staff member's password and second factor, the forgotten-password link, the
login's second step, and for administrators the roles that need a second factor and a
person's sessions. The domain is scheduler/credentials.py."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.errors import AuthenticationFailed, InvalidRequest, LoginThrottled
from scheduler.models import Role
from web.deps import Renderer, Services, client_address, pages
from web.pages.security import (
    clear_cookie,
    new_csrf_token,
    set_csrf_cookie,
    set_staff_cookie,
    staff_token,
    verified_form,
)
from web.pages.session import StaffPage, optional_staff
from web.pages.staff_common import (
    MAX_ID,
    FormErrors,
    domain_message,
    render,
    require_section,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(verified_form)]
# The passed password step, until the code completes it (scheduler/credentials.py).
CHALLENGE_COOKIE = "staff_challenge"
CODE_PATH = "/staff/login/code"
ENROL_PATH = "/staff/zweiter-faktor"
CHANGE_PATH = "/staff/passwort"
FORGOT_PATH = "/staff/passwort-vergessen"
RESET_PATH = "/staff/passwort-neu"
ROLES_PATH = "/staff/admin/zweiter-faktor"
StaffId = Annotated[int, Path(ge=1, le=MAX_ID)]


def second_step(
    request: Request, services: Services, email: str, exc: AuthenticationFailed, next_path: str
) -> RedirectResponse | None:
    """After a right password, the way to the code or to the enrolment the role demands."""
    enrol = exc.code == "second_factor_enrolment_required"
    if exc.code != "second_factor_required" and not enrol:
        return None
    secret = services.credentials.challenge(email, enrol)
    target = ENROL_PATH if enrol else CODE_PATH
    response = see_other(f"{target}?{urlencode({'next': next_path})}")
    response.set_cookie(
        CHALLENGE_COOKIE,
        secret,
        max_age=600,
        httponly=True,
        samesite="strict",
        secure=pages(request).secure,
        path="/",
    )
    return response


def _logged_in(
    request: Request, token: str, next_path: str, target: HTMLResponse | RedirectResponse
) -> HTMLResponse | RedirectResponse:
    secure = pages(request).secure
    set_staff_cookie(target, token, secure=secure)
    set_csrf_cookie(target, new_csrf_token(token), secure=secure)
    clear_cookie(target, CHALLENGE_COOKIE, secure=secure)
    return target


def _safe_next(candidate: str) -> str:
    from web.pages.staff import safe_next  # staff.py includes this router: no import cycle

    return safe_next(candidate or "/staff")


def _public(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return pages(request).render(request, template, status_code=status, **context)


@router.get(CODE_PATH, response_model=None)
def code_form(
    request: Request,
    services: Services,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/staff",
) -> HTMLResponse | RedirectResponse:
    challenge = services.credentials.challenged(request.cookies.get(CHALLENGE_COOKIE, ""))
    if challenge is None or challenge.enrol:
        return see_other("/staff/login")
    return _code_page(request, _safe_next(next_path), FormErrors())


@router.post(CODE_PATH, response_model=None)
def code_submit(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    next_path, code = _safe_next(text(form, "next")), text(form, "code")
    errors = FormErrors()
    if not code:
        errors.add("code", renderer.gettext(request, "Please enter the code."))
        return _code_page(request, next_path, errors, 422)
    secret = request.cookies.get(CHALLENGE_COOKIE, "")
    try:
        token = services.credentials.complete(secret, code, client_address(request))
    except LoginThrottled as exc:
        wait = int(str(exc.params.get("retry_after", 900)))
        errors.add(
            "code",
            renderer.gettext(
                request,
                "Too many failed logins. Please wait {minutes} minutes and try again.",
                minutes=math.ceil(wait / 60),
            ),
        )
        return _code_page(request, next_path, errors, 429)
    except AuthenticationFailed as exc:
        if exc.code == "login_challenge_expired":
            return see_other("/staff/login")
        errors.add("code", domain_message(request, exc))
        return _code_page(request, next_path, errors, 401)
    return _logged_in(request, token, next_path, see_other(next_path))


def _code_page(
    request: Request, next_path: str, errors: FormErrors, status: int = 200
) -> HTMLResponse:
    return _public(request, "staff/login_code.html", status, next_path=next_path, errors=errors)


@router.get(ENROL_PATH, response_model=None)
def enrol_form(
    request: Request,
    services: Services,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/staff",
) -> HTMLResponse | RedirectResponse:
    return _enrol_page(request, services, _safe_next(next_path), FormErrors())


@router.post(ENROL_PATH, response_model=None)
def enrol_submit(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    next_path, code = _safe_next(text(form, "next")), text(form, "code")
    staff, errors = optional_staff(request), FormErrors()
    if not code:
        errors.add("code", renderer.gettext(request, "Please enter the code."))
        return _enrol_page(request, services, next_path, errors, 422)
    try:
        if staff is not None:
            codes = services.credentials.confirm_enrolment(staff.id, code)
            return render(
                request,
                staff,
                "staff/recovery_codes.html",
                section="",
                codes=codes,
                next_path=next_path,
            )
        secret = request.cookies.get(CHALLENGE_COOKIE, "")
        token, codes = services.credentials.complete_enrolment(
            secret, code, client_address(request)
        )
    except (InvalidRequest, AuthenticationFailed, LoginThrottled) as exc:
        if exc.code in ("login_challenge_expired", "second_factor_enrolled"):
            return see_other(ENROL_PATH if staff is not None else "/staff/login")
        errors.add("code", domain_message(request, exc))
        return _enrol_page(request, services, next_path, errors, 422)
    page = _public(request, "staff/recovery_codes.html", codes=codes, next_path=next_path)
    return _logged_in(request, token, next_path, page)


def _enrol_page(
    request: Request, services: Services, next_path: str, errors: FormErrors, status: int = 200
) -> HTMLResponse | RedirectResponse:
    staff = optional_staff(request)
    if staff is None:
        challenge = services.credentials.challenged(request.cookies.get(CHALLENGE_COOKIE, ""))
        if challenge is None or not challenge.enrol:
            return see_other(f"/staff/login?next={ENROL_PATH}")
        staff_id = challenge.staff_id
    else:
        staff_id = staff.id
        if services.credentials.enrolled(staff_id):
            return render(request, staff, "staff/second_factor.html", section="", enrolled=True)
    enrolment = services.credentials.start_enrolment(staff_id)
    label = pages(request).gettext(request, "QR code with the address of your second factor")
    # Light modules drawn white: a scanner needs the contrast on a dark page too.
    svg = segno.make(enrolment.uri, error="m").svg_inline(
        scale=4, title=label, svgclass="totp-qr", light="#fff", border=4
    )
    qr = svg.replace("<svg ", '<svg role="img" ', 1)
    groups = " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4))
    context = {
        "enrolled": False,
        "uri": enrolment.uri,
        "qr": qr,
        "secret_groups": groups,
        "errors": errors,
        "next_path": next_path,
    }
    if staff is None:
        return _public(request, "staff/second_factor.html", status, **context)
    return render(
        request, staff, "staff/second_factor.html", section="", status_code=status, **context
    )


@router.get(CHANGE_PATH)
def password_form(request: Request, staff: StaffPage, gespeichert: str = "") -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/password.html",
        section="",
        errors=FormErrors(),
        saved=gespeichert == "1",
    )


@router.post(CHANGE_PATH, response_model=None)
def password_submit(
    request: Request, staff: StaffPage, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    errors = _new_password_errors(request, form, renderer)
    if not text(form, "current_password"):
        errors.add("current_password", renderer.gettext(request, "Please enter your password."))
    if not errors:
        try:
            services.credentials.change_password(
                staff,
                staff_token(request) or "",
                text(form, "current_password"),
                text(form, "password"),
            )
            return see_other(f"{CHANGE_PATH}?gespeichert=1")
        except InvalidRequest as exc:
            errors.add(str(exc.params.get("field", "password")), domain_message(request, exc))
    return render(
        request,
        staff,
        "staff/password.html",
        section="",
        errors=errors,
        saved=False,
        status_code=422,
    )


def _new_password_errors(request: Request, form: FormData, renderer: Renderer) -> FormErrors:
    errors = FormErrors()
    if not text(form, "password"):
        errors.add("password", renderer.gettext(request, "Please enter the new password."))
    elif text(form, "password") != text(form, "password_repeat"):
        errors.add(
            "password_repeat", renderer.gettext(request, "The two passwords are not the same.")
        )
    return errors


@router.get(FORGOT_PATH)
def forgot_form(request: Request, gesendet: str = "") -> HTMLResponse:
    return _public(request, "staff/password_forgot.html", sent=gesendet == "1", errors=FormErrors())


@router.post(FORGOT_PATH, response_model=None)
def forgot_submit(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    email = text(form, "email")
    if not email or "@" not in email:
        errors = FormErrors()
        errors.add("email", renderer.gettext(request, "Please enter your e-mail address."))
        return _public(request, "staff/password_forgot.html", 422, sent=False, errors=errors)
    # The same answer whether or not the address has an account.
    services.credentials.request_reset(email)
    return see_other(f"{FORGOT_PATH}?gesendet=1")


@router.get(RESET_PATH)
def reset_form(
    request: Request,
    services: Services,
    token: Annotated[str, Query(max_length=200)] = "",
    gesetzt: str = "",
) -> HTMLResponse:
    if gesetzt == "1":
        return _public(request, "staff/password_reset.html", state="done", errors=FormErrors())
    usable = bool(token) and services.credentials.reset_usable(token)
    return _public(
        request,
        "staff/password_reset.html",
        200 if usable else 410,
        state="form" if usable else "invalid",
        token=token,
        errors=FormErrors(),
    )


@router.post(RESET_PATH, response_model=None)
def reset_submit(
    request: Request, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    token, errors = text(form, "token"), _new_password_errors(request, form, renderer)
    if not errors:
        try:
            services.credentials.reset_password(token, text(form, "password"))
            return see_other(f"{RESET_PATH}?gesetzt=1")
        except InvalidRequest as exc:
            if exc.code == "reset_link_invalid":
                return _public(
                    request, "staff/password_reset.html", 410, state="invalid", errors=errors
                )
            errors.add("password", domain_message(request, exc))
    return _public(
        request, "staff/password_reset.html", 422, state="form", token=token, errors=errors
    )


@router.get(ROLES_PATH)
def roles_form(
    request: Request, staff: StaffPage, services: Services, gespeichert: str = ""
) -> HTMLResponse:
    require_section(staff, "/staff/admin")
    return render(
        request,
        staff,
        "staff/second_factor_roles.html",
        section="/staff/admin",
        required={r.value for r in services.credentials.required_roles()},
        roles=[r.value for r in Role],
        saved=gespeichert == "1",
    )


@router.post(ROLES_PATH, response_model=None)
def roles_submit(staff: StaffPage, form: Form, services: Services) -> RedirectResponse:
    wanted = [Role(v) for v in form.getlist("roles") if v in {r.value for r in Role}]
    services.credentials.require_for(staff, wanted)
    return see_other(f"{ROLES_PATH}?gespeichert=1")


@router.get("/staff/admin/sitzungen/{staff_id}")
def sessions_page(
    request: Request, staff: StaffPage, services: Services, staff_id: StaffId, erledigt: str = ""
) -> HTMLResponse:
    require_section(staff, "/staff/admin")
    person, live = services.credentials.sessions_of(staff, staff_id)
    tz = services.scheduler.tz
    return render(
        request,
        staff,
        "staff/sessions.html",
        section="/staff/admin",
        person=person,
        live=[
            {"id": r.id, "created": _local(r.created_at, tz), "expires": _local(r.expires_at, tz)}
            for r in live
        ],
        enrolled=services.credentials.enrolled(staff_id),
        done=erledigt,
    )


@router.post("/staff/admin/sitzungen/{staff_id}", response_model=None)
def sessions_submit(
    staff: StaffPage, form: Form, services: Services, staff_id: StaffId
) -> RedirectResponse:
    action, done = text(form, "action"), "ended"
    if action == "all":
        services.accounts.end_sessions(staff, staff_id)
    elif action == "factor":
        services.credentials.remove_factor(staff, staff_id)
        done = "factor"
    else:
        services.credentials.end_session(staff, staff_id, text(form, "sid"))
    return see_other(f"/staff/admin/sitzungen/{staff_id}?erledigt={done}")


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
