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

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import AttemptOutcome, CallbackStatus
from scheduler.callbacks_views import CallbackInfo
from scheduler.errors import (
    CallbackClaimed,
    Conflict,
    InvalidRequest,
    NotFound,
    SchedulerError,
    TooManyOpenCallbacks,
)
from scheduler.models import Role
from web.deps import Services, container, pages
from web.pages.booking_common import ServiceText, with_query
from web.pages.callback_fields import CallbackEntry, callback_context, office_days, read_callback
from web.pages.once import at_most_once
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    FormErrors,
    OptionalId,
    domain_message,
    parse_id,
    render,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/rueckrufe"
PAGE_SIZE = 50
LANGUAGES = ("de", "en")
OUTCOMES = tuple(o.value for o in AttemptOutcome)
# What a finished action says on the request's page (?erledigt=...).
DONE = ("uebernommen", "freigegeben", "reached", "not_reached", "wrong_number", "erledigt")
TOO_MANY = "This caller already has the most open callback requests for this concern."


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


@router.get("/staff/rueckrufe/neu")
def create_form(request: Request, staff: StaffPage) -> HTMLResponse:
    staff.require(Role.ADMIN, Role.HOTLINE)
    entry = CallbackEntry(language=pages(request).language(request))
    return _create_page(request, staff, entry)


@router.post("/staff/rueckrufe/neu", response_model=None)
def create(
    request: Request, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    staff.require(Role.ADMIN, Role.HOTLINE)
    scheduler = services.scheduler
    now = scheduler.clock()
    days = office_days(scheduler, now)
    entry = read_callback(form, _concerns(request), days, now, scheduler.tz)
    if entry.errors:
        return _create_page(request, staff, entry, status=422)
    try:
        made = at_most_once(
            form,
            f"callback-desk:{staff.id}",
            lambda once: services.callbacks.create(staff, entry.input(), once),
        )
    except TooManyOpenCallbacks:
        entry.errors["phone"] = TOO_MANY
        return _create_page(request, staff, entry, status=409)
    except (InvalidRequest, NotFound) as error:
        if not entry.refused(error):
            raise
        return _create_page(request, staff, entry, status=422)
    return see_other(request_url(made.id) + "?erledigt=neu")


def _concerns(request: Request) -> list[ServiceText]:
    language = pages(request).language(request)
    return [ServiceText.of(s, language) for s in container(request).scheduler.services()]


def _create_page(
    request: Request, staff: StaffIdentity, entry: CallbackEntry, status: int = 200
) -> HTMLResponse:
    days = office_days(container(request).scheduler)
    return render_page(
        request,
        staff,
        "staff/callbacks_new.html",
        status_code=status,
        **callback_context(entry, _concerns(request), days, for_staff=True),
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


def _act(
    request: Request, staff: StaffIdentity, wanted: int, action: Callable[[], object], done: str
) -> HTMLResponse | RedirectResponse:
    """Do `action` on the request, then back to its page saying `done`; or its page again
    saying why not (someone else holds it, it is finished)."""
    try:
        action()
    except Conflict as exc:
        return refused_page(request, staff, wanted, exc)
    return see_other(request_url(wanted) + done)


@router.post("/staff/rueckrufe/{callback_id}/uebernehmen", response_model=None)
def claim(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    return _act(
        request,
        staff,
        wanted,
        lambda: services.callbacks.claim(staff, wanted),
        "?erledigt=uebernommen",
    )


@router.post("/staff/rueckrufe/{callback_id}/freigeben", response_model=None)
def release(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    return _act(
        request,
        staff,
        wanted,
        lambda: services.callbacks.release(staff, wanted),
        "?erledigt=freigegeben",
    )


@router.post("/staff/rueckrufe/{callback_id}/versuch", response_model=None)
def attempt(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    outcome = text(form, "outcome")
    if outcome not in OUTCOMES:
        raise InvalidRequest("unknown outcome", field="outcome")
    return _act(
        request,
        staff,
        wanted,
        lambda: services.callbacks.attempt(staff, wanted, AttemptOutcome(outcome)),
        f"?erledigt={outcome}",
    )


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
    return _act(
        request,
        staff,
        wanted,
        lambda: services.callbacks.settle(staff, wanted),
        "?erledigt=erledigt",
    )
