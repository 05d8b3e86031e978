"""Pages: finding a booking, its details, and what the staff do with it: cancel, move, send the
confirmation again, issue a new link, record the outcome, add a note.

Every action is a link to a page that says what will happen, whose form (POST, CSRF) does
it and leads back to the booking (PRG): nothing changes on a GET, and nothing without that
second step. Who may see which booking, and the audit of every read, is the desk's
(`scheduler.desk`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.availability import Slot
from scheduler.desk import NOTE_MAX_LENGTH, Desk
from scheduler.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    SchedulerError,
    SlotUnavailable,
)
from scheduler.models import BookingStatus, Role
from scheduler.search import MAX_QUERY_LENGTH, SEARCH_LIMIT
from scheduler.views import BookingInfo
from web.deps import Services, container, pages
from web.lanes import in_booking_lane
from web.pages.booking_common import parse_start, service_by_id, start_param, week_view, with_query
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_agenda import _advisors as advisor_names
from web.pages.staff_common import FormErrors, domain_message, render, see_other, text
from web.pages.staff_documents import documents_of

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
Reference = Annotated[str, Path(min_length=1, max_length=16)]
SECTION = "/staff/buchungen"
OUTCOMES = {"completed": BookingStatus.COMPLETED, "no_show": BookingStatus.NO_SHOW}
# What a finished action says on the booking's page (?erledigt=...).
DONE = ("abgesagt", "verschoben", "bestaetigung", "link", "ergebnis", "notiz")
# The desk's own refusals, in words for these pages (English msgids, German in
# staff_bookings.po); the others come from web/errors.py.
_MESSAGES = {
    "search_too_short": "Please enter at least {minimum} characters.",
    "no_email_address": "This appointment has no e-mail address to send anything to.",
    "note_empty": "Please write the note.",
    "too_many_notes": "This appointment has as many notes as it can take.",
    "notes_too_long": "The note is too long: at most {maximum} characters.",
}


def _message(request: Request, exc: SchedulerError) -> str:
    msgid = _MESSAGES.get(exc.code)
    if msgid is None:
        return domain_message(request, exc)
    return pages(request).gettext(request, msgid, **exc.params)


def _url(reference: str, action: str = "") -> str:
    return f"/staff/buchungen/{reference}" + (f"/{action}" if action else "")


# -- finding --------------------------------------------------------------------------------


@router.get("/staff/buchungen")
def search(
    request: Request,
    staff: StaffPage,
    services: Services,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_LENGTH)] = None,
) -> HTMLResponse:
    errors = FormErrors()
    result = None
    if q is not None:
        try:
            result = services.desk.search(staff, q)
        except InvalidRequest as exc:
            errors.add("q", _message(request, exc))
    return render(
        request,
        staff,
        "staff/search.html",
        section=SECTION,
        status_code=422 if errors else 200,
        query=q or "",
        result=result,
        limit=SEARCH_LIMIT,
        advisors=advisor_names(request, staff),
        errors=errors,
    )


# -- the booking ----------------------------------------------------------------------------


@router.get("/staff/buchungen/{reference}")
def booking(
    request: Request,
    reference: Reference,
    staff: StaffPage,
    services: Services,
    neu: bool = False,
    erledigt: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    info = services.desk.booking(staff, reference)
    return render(
        request,
        staff,
        "staff/booking.html",
        section="/staff/hotline" if staff.role == Role.HOTLINE else "/staff/agenda",
        booking=info,
        documents=documents_of(request, staff, info),
        notes=services.desk.notes(staff, reference),
        advisors=advisor_names(request, staff),
        now=services.scheduler.clock(),
        new=neu,
        done=erledigt if erledigt in DONE else None,
    )


def _confirm_page(
    request: Request,
    staff: StaffIdentity,
    info: BookingInfo,
    action: str,
    *,
    error: str | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    errors = FormErrors()
    if error:
        errors.add("confirm", error)
    return render(
        request,
        staff,
        "staff/booking_confirm.html",
        section="/staff/hotline" if staff.role == Role.HOTLINE else "/staff/agenda",
        status_code=status,
        booking=info,
        action=action,
        advisors=advisor_names(request, staff),
        errors=errors,
        **context,
    )


def _refused(
    request: Request, staff: StaffIdentity, reference: str, action: str, exc: SchedulerError
) -> HTMLResponse:
    """The confirmation page again, saying why the action was refused."""
    info = container(request).desk.booking(staff, reference)
    status = 409 if isinstance(exc, Conflict) else 422
    return _confirm_page(request, staff, info, action, error=_message(request, exc), status=status)


@router.get("/staff/buchungen/{reference}/ergebnis")
def outcome_confirm(
    request: Request,
    reference: Reference,
    staff: StaffPage,
    services: Services,
    ergebnis: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    if ergebnis not in OUTCOMES:
        raise InvalidRequest("unknown outcome", field="ergebnis")
    info = services.desk.booking(staff, reference)
    return _confirm_page(request, staff, info, "ergebnis", outcome=ergebnis)


@router.post("/staff/buchungen/{reference}/ergebnis", response_model=None)
def outcome(
    request: Request, reference: Reference, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    chosen = text(form, "outcome")
    if chosen not in OUTCOMES:
        raise InvalidRequest("unknown outcome", field="outcome")
    try:
        info = services.desk.set_outcome(staff, reference, OUTCOMES[chosen])
    except (Conflict, InvalidRequest) as exc:
        current = services.desk.booking(staff, reference)
        status = 409 if isinstance(exc, Conflict) else 422
        return _confirm_page(
            request,
            staff,
            current,
            "ergebnis",
            error=_message(request, exc),
            status=status,
            outcome=chosen,
        )
    return see_other(_url(info.reference) + "?erledigt=ergebnis")


# -- the note -------------------------------------------------------------------------------


@router.get("/staff/buchungen/{reference}/notiz")
def note_form(
    request: Request, reference: Reference, staff: StaffPage, services: Services
) -> HTMLResponse:
    return _note_page(request, staff, services.desk.booking(staff, reference), "")


@router.post("/staff/buchungen/{reference}/notiz", response_model=None)
def note(
    request: Request, reference: Reference, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    written = text(form, "note").replace("\r\n", "\n")
    errors = FormErrors()
    if not written:
        errors.add("note", pages(request).gettext(request, _MESSAGES["note_empty"]))
    elif len(written) > NOTE_MAX_LENGTH:
        message = _MESSAGES["notes_too_long"]
        errors.add("note", pages(request).gettext(request, message, maximum=NOTE_MAX_LENGTH))
    info = services.desk.booking(staff, reference)
    if errors:
        return _note_page(request, staff, info, written, errors=errors, status=422)
    step = text(form, "step")
    if step == "aendern":
        return _note_page(request, staff, info, written)
    if step != "speichern":
        # The first submission shows the note as it will be kept; the second keeps it.
        return _note_page(request, staff, info, written, checking=True)
    try:
        services.desk.add_note(staff, reference, written)
    except (Conflict, InvalidRequest) as exc:
        errors.add("note", _message(request, exc))
        return _note_page(request, staff, info, written, errors=errors, status=422)
    return see_other(_url(info.reference) + "?erledigt=notiz")


def _note_page(
    request: Request,
    staff: StaffIdentity,
    info: BookingInfo,
    written: str,
    *,
    checking: bool = False,
    errors: FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/booking_note.html",
        section="/staff/hotline" if staff.role == Role.HOTLINE else "/staff/agenda",
        status_code=status,
        booking=info,
        note=written,
        checking=checking,
        maximum=NOTE_MAX_LENGTH,
        errors=errors or FormErrors(),
    )


# -- moving ---------------------------------------------------------------------------------


@router.get("/staff/buchungen/{reference}/verschieben")
def move_pick(
    request: Request,
    reference: Reference,
    staff: StaffPage,
    services: Services,
    ab: date | None = None,
    start: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    info = services.desk.booking(staff, reference)
    if start:
        return _confirm_page(request, staff, info, "verschieben", new_start=parse_start(start))
    return _picker(request, staff, info, ab)


@router.post("/staff/buchungen/{reference}/verschieben", response_model=None)
@in_booking_lane
def move(
    request: Request, reference: Reference, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    new_start = parse_start(text(form, "start"))
    try:
        info = services.desk.reschedule(staff, reference, new_start)
    except SlotUnavailable:
        current = services.desk.booking(staff, reference)
        day = new_start.astimezone(services.scheduler.tz).date()
        return _picker(request, staff, current, day, taken=True)
    except (Conflict, InvalidRequest) as exc:
        current = services.desk.booking(staff, reference)
        status = 409 if isinstance(exc, Conflict) else 422
        return _confirm_page(
            request,
            staff,
            current,
            "verschieben",
            error=_message(request, exc),
            status=status,
            new_start=new_start,
        )
    return see_other(_url(info.reference) + "?erledigt=verschoben")


def _picker(
    request: Request,
    staff: StaffIdentity,
    info: BookingInfo,
    asked: date | None,
    *,
    taken: bool = False,
) -> HTMLResponse:
    engine = container(request).scheduler
    service = service_by_id(request, info.service_id)
    path = _url(info.reference, "verschieben")

    def slot_url(slot: Slot) -> str:
        return with_query(path, start=start_param(slot.start, engine))

    week = week_view(
        engine,
        service,
        info.channel,
        asked,
        week_url=lambda day: with_query(path, ab=day.isoformat()),
        slot_url=slot_url,
    )
    return render(
        request,
        staff,
        "staff/booking_move.html",
        section="/staff/hotline" if staff.role == Role.HOTLINE else "/staff/agenda",
        status_code=409 if taken else 200,
        booking=info,
        week=week,
        taken=taken,
        open=info.status == BookingStatus.CONFIRMED and info.start > engine.clock(),
    )


# -- the actions that need nothing but their confirmation ----------------------------------
# Registered last: the routes of the other actions, with their own forms, come first.

# The path's last part -> what the desk does, and what the booking's page then says.
PLAIN: dict[str, tuple[Callable[[Desk, StaffIdentity, str], BookingInfo], str]] = {
    "absagen": (Desk.cancel, "abgesagt"),
    "bestaetigung": (Desk.resend_confirmation, "bestaetigung"),
    "link": (Desk.reissue_link, "link"),
}
PlainAction = Annotated[str, Path(max_length=20)]


def _plain(action: str) -> tuple[Callable[[Desk, StaffIdentity, str], BookingInfo], str]:
    if action not in PLAIN:
        raise NotFound("no such action", field="action")
    return PLAIN[action]


@router.get("/staff/buchungen/{reference}/{action}")
def plain_confirm(
    request: Request,
    reference: Reference,
    action: PlainAction,
    staff: StaffPage,
    services: Services,
) -> HTMLResponse:
    _plain(action)
    return _confirm_page(request, staff, services.desk.booking(staff, reference), action)


@router.post("/staff/buchungen/{reference}/{action}", response_model=None)
def plain_action(
    request: Request,
    reference: Reference,
    action: PlainAction,
    staff: StaffPage,
    form: Form,
    services: Services,
) -> HTMLResponse | RedirectResponse:
    do, done = _plain(action)
    try:
        info = do(services.desk, staff, reference)
    except (Conflict, InvalidRequest) as exc:
        return _refused(request, staff, reference, action, exc)
    return see_other(_url(info.reference) + f"?erledigt={done}")
