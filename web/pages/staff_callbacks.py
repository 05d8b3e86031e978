"""Pages: the callback queue (Rückruf) of the hotline and, where a service allows it, of its
advisors. The queue (`/staff/rueckrufe`, filtered and paged), a request's page with its actions
(claim, release, log a call, settle, book), booking from a request with the slot picker, and
the form for a request taken during a call (`/staff/rueckrufe/neu`).

Every rule, and who may see and do what, is `scheduler/callbacks.py`'s: an advisor outside the
queue gets its 403 (the queue) or 404 (a request), as the API answers. Every change is a POST
with the CSRF token that leads back to the request's page (PRG); settling and booking have a
confirmation step first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import AttemptOutcome, CallbackStatus
from scheduler.callbacks_rules import MAX_WINDOWS, NOTE_MAX, PHONE_PATTERN, CallbackInput
from scheduler.callbacks_views import CallbackInfo
from scheduler.errors import (
    CallbackClaimed,
    Conflict,
    InvalidRequest,
    NotFound,
    SchedulerError,
)
from scheduler.models import Role
from web.deps import Services, container, pages
from web.pages.booking_common import with_query
from web.pages.booking_form import Email
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    FormErrors,
    OptionalId,
    add_domain_error,
    domain_message,
    parse_id,
    render,
    see_other,
    text,
)
from web.schemas import Name

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/rueckrufe"
PAGE_SIZE = 50
LANGUAGES = ("de", "en")
_NAME = TypeAdapter(Name)
_EMAIL = TypeAdapter(Email)
OUTCOMES = tuple(o.value for o in AttemptOutcome)
# What a finished action says on the request's page (?erledigt=...).
DONE = ("uebernommen", "freigegeben", "reached", "not_reached", "wrong_number", "erledigt")
CREATE_FIELDS = {
    "service_id": "anliegen",
    "name": "name",
    "phone": "phone",
    "email": "email",
    "language": "language",
    "note": "note",
    "windows": "fenster-1-tag",
}


def request_url(callback_id: int, action: str = "") -> str:
    return f"{SECTION}/{callback_id}" + (f"/{action}" if action else "")


def path_id(raw: str) -> int:
    """The id in the path; anything else is an unknown request (404), never a 422."""
    found = parse_id(raw)
    if found is None:
        raise NotFound("unknown callback request", field="id")
    return found


def refusal_message(request: Request, exc: SchedulerError) -> str:
    if isinstance(exc, CallbackClaimed):
        return pages(request).gettext(
            request,
            "{name} has claimed this request and is working on it. "
            "Only they (or an administrator) can give it back to the queue.",
            name=str(exc.params.get("claimed_by") or "?"),
        )
    return domain_message(request, exc)


# -- the queue ----------------------------------------------------------------------------------


@router.get("/staff/rueckrufe")
def queue(
    request: Request,
    staff: StaffPage,
    services: Services,
    anliegen: OptionalId = None,
    sprache: Annotated[str | None, Query(max_length=3, pattern=r"^([a-z]{2,3})?$")] = None,
    seite: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    language = sprache or None
    found = services.callbacks.queue_page(
        staff, anliegen, language, offset=(seite - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    filters = {"anliegen": str(anliegen or ""), "sprache": language or ""}

    def page_url(number: int) -> str:
        params = {k: v for k, v in filters.items() if v} | (
            {"seite": str(number)} if number > 1 else {}
        )
        return with_query(SECTION, **params) if params else SECTION

    return render_page(
        request,
        staff,
        "staff/callbacks.html",
        page=found,
        number=seite,
        filters=filters,
        service_choices=_service_choices(request, staff),
        languages=LANGUAGES,
        previous_url=page_url(seite - 1) if found.has_previous else None,
        next_url=page_url(seite + 1) if found.has_next else None,
        now=services.scheduler.clock(),
        may_create=staff.role in (Role.ADMIN, Role.HOTLINE),
    )


def _service_choices(request: Request, staff: StaffIdentity) -> list[tuple[str, str]]:
    offered = container(request).scheduler.services()
    if staff.role == Role.ADVISOR:
        mine = {
            service_id
            for person, ids in container(request).catalogue.advisors(staff)
            if person.id == staff.id
            for service_id in ids
        }
        offered = [s for s in offered if s.id in mine and s.advisors_take_callbacks]
    return [(str(s.id), s.name) for s in offered]


def render_page(
    request: Request, staff: StaffIdentity, template: str, **context: Any
) -> HTMLResponse:
    return render(
        request,
        staff,
        template,
        section=SECTION,
        staff_takes_callbacks=True,
        tz=container(request).scheduler.tz,
        **context,
    )


# -- a request taken on the phone -------------------------------------------------------------


@dataclass
class Taken:
    """The create form's values, as typed."""

    anliegen: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""
    language: str = "de"
    note: str = ""
    windows: list[tuple[str, str, str]] = field(default_factory=list)  # (day, from, to)


def _read_taken(form: FormData) -> Taken:
    return Taken(
        anliegen=text(form, "anliegen"),
        name=text(form, "name"),
        phone=text(form, "phone"),
        email=text(form, "email"),
        language=text(form, "language") or "de",
        note=text(form, "note").replace("\r\n", "\n"),
        windows=[
            (
                text(form, f"fenster-{i}-tag"),
                text(form, f"fenster-{i}-von"),
                text(form, f"fenster-{i}-bis"),
            )
            for i in range(1, MAX_WINDOWS + 1)
        ],
    )


def _valid(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _checked(request: Request, taken: Taken, errors: FormErrors) -> CallbackInput | None:
    gettext = pages(request).gettext
    tz = container(request).scheduler.tz
    service_id = parse_id(taken.anliegen)
    if service_id is None or service_id not in {
        s.id for s in container(request).scheduler.services()
    }:
        errors.add("anliegen", gettext(request, "Please choose one of the concerns."))
    if not taken.name:
        errors.add("name", gettext(request, "Please fill in this field."))
    elif not _valid(_NAME, taken.name):
        errors.add("name", gettext(request, "This is too long."))
    if not taken.phone:
        errors.add("phone", gettext(request, "Please enter the phone number to call."))
    elif not PHONE_PATTERN.fullmatch(taken.phone):
        message = "Enter a phone number with digits only, for example 0391 123456."
        errors.add("phone", gettext(request, message))
    if taken.email and not _valid(_EMAIL, taken.email):
        errors.add("email", gettext(request, "Please enter a valid e-mail address."))
    if taken.language not in LANGUAGES:
        errors.add("language", gettext(request, "Please choose one of the options."))
    if len(taken.note) > NOTE_MAX:
        errors.add(
            "note",
            gettext(
                request, "The note is too long: at most {maximum} characters.", maximum=NOTE_MAX
            ),
        )
    windows: list[tuple[datetime, datetime]] = []
    for number, (day, start, end) in enumerate(taken.windows, start=1):
        if not (day or start or end):
            continue
        try:
            on = date.fromisoformat(day)
            begins = datetime.combine(on, time.fromisoformat(start), tz)
            ends = datetime.combine(on, time.fromisoformat(end), tz)
        except ValueError:
            message = "Please give the day and the times from and to, for example 09:00 and 12:00."
            errors.add(f"fenster-{number}-tag", gettext(request, message))
            continue
        windows.append((begins, ends))
    if not windows and not any(k.startswith("fenster-") for k in errors.fields):
        errors.add("fenster-1-tag", gettext(request, "Please give at least one time to call."))
    if errors or service_id is None:
        return None
    return CallbackInput(
        service_id=service_id,
        name=taken.name,
        phone=taken.phone,
        windows=windows,
        language=taken.language,
        email=taken.email or None,
        note=taken.note,
    )


@router.get("/staff/rueckrufe/neu")
def create_form(request: Request, staff: StaffPage) -> HTMLResponse:
    staff.require(Role.ADMIN, Role.HOTLINE)
    return _create_page(request, staff, Taken(), FormErrors())


@router.post("/staff/rueckrufe/neu", response_model=None)
def create(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    staff.require(Role.ADMIN, Role.HOTLINE)
    taken = _read_taken(form)
    errors = FormErrors()
    data = _checked(request, taken, errors)
    if data is None:
        return _create_page(request, staff, taken, errors, status=422)
    try:
        made = services.callbacks.create(staff, data)
    except (InvalidRequest, NotFound, Conflict) as exc:
        add_domain_error(request, errors, exc, CREATE_FIELDS)
        status = 409 if isinstance(exc, Conflict) else 422
        return _create_page(request, staff, taken, errors, status=status)
    return see_other(request_url(made.id) + "?erledigt=neu")


def _create_page(
    request: Request, staff: StaffIdentity, taken: Taken, errors: FormErrors, status: int = 200
) -> HTMLResponse:
    return render_page(
        request,
        staff,
        "staff/callbacks_new.html",
        status_code=status,
        taken=taken,
        errors=errors,
        service_choices=_service_choices(request, staff),
        languages=LANGUAGES,
        windows=MAX_WINDOWS,
        note_max=NOTE_MAX,
    )


# -- one request --------------------------------------------------------------------------------


@router.get("/staff/rueckrufe/{callback_id}")
def detail(
    request: Request,
    callback_id: str,
    staff: StaffPage,
    services: Services,
    erledigt: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    found = services.callbacks.get(staff, path_id(callback_id))
    done = erledigt if erledigt in (*DONE, "neu") else None
    return _detail_page(request, staff, found, done=done)


def _detail_page(
    request: Request,
    staff: StaffIdentity,
    callback: CallbackInfo,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = container(request)
    attempts = services.callbacks.attempts(staff, callback.id)
    names = {person.id: person.name for person, _ in services.catalogue.advisors(staff)}
    booking = services.callbacks.booking_reference(staff, callback.id)
    errors = FormErrors()
    if error:
        errors.add("actions", error)
    return render_page(
        request,
        staff,
        "staff/callbacks_detail.html",
        status_code=status,
        callback=callback,
        attempts=[(a, names.get(a.staff_id or 0, "–")) for a in attempts],
        booking_reference=booking,
        pending=callback.status in (CallbackStatus.OPEN, CallbackStatus.CLAIMED),
        mine=callback.claimed_by_id == staff.id,
        may_release=callback.status == CallbackStatus.CLAIMED
        and (callback.claimed_by_id == staff.id or staff.role == Role.ADMIN),
        free=callback.status == CallbackStatus.OPEN or callback.claimed_by_id == staff.id,
        now=services.scheduler.clock(),
        done=done,
        errors=errors,
        outcomes=OUTCOMES,
    )


def refused_page(
    request: Request, staff: StaffIdentity, callback_id: int, exc: SchedulerError
) -> HTMLResponse:
    """The request's page again, saying why the action was refused (409 / 422)."""
    current = container(request).callbacks.get(staff, callback_id)
    status = 409 if isinstance(exc, Conflict) else 422
    return _detail_page(request, staff, current, error=refusal_message(request, exc), status=status)


@router.post("/staff/rueckrufe/{callback_id}/uebernehmen", response_model=None)
def claim(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    try:
        services.callbacks.claim(staff, wanted)
    except Conflict as exc:
        return refused_page(request, staff, wanted, exc)
    return see_other(request_url(wanted) + "?erledigt=uebernommen")


@router.post("/staff/rueckrufe/{callback_id}/freigeben", response_model=None)
def release(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    try:
        services.callbacks.release(staff, wanted)
    except Conflict as exc:
        return refused_page(request, staff, wanted, exc)
    return see_other(request_url(wanted) + "?erledigt=freigegeben")


@router.post("/staff/rueckrufe/{callback_id}/versuch", response_model=None)
def attempt(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    outcome = text(form, "outcome")
    if outcome not in OUTCOMES:
        raise InvalidRequest("unknown outcome", field="outcome")
    try:
        services.callbacks.attempt(staff, wanted, AttemptOutcome(outcome))
    except Conflict as exc:
        return refused_page(request, staff, wanted, exc)
    return see_other(request_url(wanted) + f"?erledigt={outcome}")


@router.get("/staff/rueckrufe/{callback_id}/erledigt")
def settle_confirm(
    request: Request, callback_id: str, staff: StaffPage, services: Services
) -> HTMLResponse:
    found = services.callbacks.get(staff, path_id(callback_id))
    return render_page(
        request, staff, "staff/callbacks_settle.html", callback=found, errors=FormErrors()
    )


@router.post("/staff/rueckrufe/{callback_id}/erledigt", response_model=None)
def settle(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    try:
        services.callbacks.settle(staff, wanted)
    except Conflict as exc:
        return refused_page(request, staff, wanted, exc)
    return see_other(request_url(wanted) + "?erledigt=erledigt")
