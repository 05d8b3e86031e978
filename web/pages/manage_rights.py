"""Pages: a citizen's rights over their booking through the magic link (DSGVO Art. 15–17).

`/termin/daten` shows everything held (scheduler/rights.py `Rights.export`) and offers it as a
file; `/termin/daten/aendern` corrects name and phone at once and asks the new address to
confirm a new e-mail address (scheduler/contact_change.py); `/termin/email-bestaetigen` is
where that link leads: its GET only shows what would change (mail scanners open links), its
POST changes it, and it needs the token alone, not the link cookie (the new mailbox may be read
on another device); `/termin/daten/loeschen` erases the data once the appointment is over or
cancelled and forgets the link cookie.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from scheduler.contact_change import EmailChangeStale
from scheduler.errors import SchedulerError, TokenError, TokenExpired, TooManyOpenBookings
from scheduler.models import BookingStatus, Channel
from scheduler.rights import BookingNotOver
from scheduler.views import BookingInfo
from web.deps import Renderer, Services, container, pages
from web.errors import local_times, message
from web.pages.booking_common import cookie_booking, link_problem
from web.pages.form_values import email_problem, form_text, name_problem, phone_problem
from web.pages.manage import LinkRoute, _render
from web.pages.security import LINK_COOKIE, clear_cookie, verified_form

router = APIRouter(include_in_schema=False, route_class=LinkRoute)

Linked = Annotated[tuple[str, BookingInfo], Depends(cookie_booking)]
Form = Annotated[FormData, Depends(verified_form)]
FIELDS = {"name": "data-name", "phone": "data-phone", "email": "data-email"}
# The export's sections, in the order the page shows them.
SECTIONS = (
    "booking",
    "staff_notes",
    "access_log",
    "emails",
    "documents",
    "other_bookings",
    "callbacks",
    "waitlist",
)


def shown_value(value: Any) -> Any:
    """An exported value as the page shows it: times as aware datetimes (shown in the
    office's zone by the templates' filters), lists as text."""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment if moment.tzinfo else value
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value


def _records(section: Any) -> list[list[tuple[str, Any]]]:
    records = section if isinstance(section, list) else [section]
    return [[(key, shown_value(value)) for key, value in record.items()] for record in records]


def erasable(request: Request, booking: BookingInfo) -> bool:
    """As `Rights.erase` decides: once over, or when it no longer stands."""
    now = container(request).scheduler.clock()
    standing = booking.status in (BookingStatus.CONFIRMED, BookingStatus.HELD)
    return not standing or booking.end <= now


@router.get("/termin/daten")
def data(request: Request, linked: Linked, services: Services, erfolg: str = "") -> Response:
    token, booking = linked
    export = services.rights.export(token)
    sections = [(name, _records(export.get(name, []))) for name in SECTIONS]
    return _render(
        request,
        "manage/data.html",
        booking,
        sections=sections,
        exported_at=shown_value(export["exported_at"]),
        done=set(erfolg.split(",")) if erfolg else set(),
    )


@router.get("/termin/daten.json")
def download(linked: Linked, services: Services) -> Response:
    token, booking = linked
    return JSONResponse(
        services.rights.export(token),
        headers={
            "content-disposition": f'attachment; filename="daten-{booking.reference}.json"',
            "cache-control": "no-store",
        },
    )


def _form(
    request: Request,
    booking: BookingInfo,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        request,
        "manage/data_change.html",
        booking,
        status_code=422 if errors else 200,
        values=values,
        errors=errors or {},
        field_ids=FIELDS,
    )


@router.get("/termin/daten/aendern")
def change_form(request: Request, linked: Linked) -> Response:
    _, booking = linked
    values = {"name": booking.name, "phone": booking.phone or "", "email": booking.email or ""}
    return _form(request, booking, values)


def _problems(request: Request, booking: BookingInfo, values: dict[str, str]) -> dict[str, str]:
    """What the booking form would say, translated."""
    words = pages(request)
    needed = "Enter the phone number we should call." if booking.channel == Channel.PHONE else None
    found = {
        "name": name_problem(values["name"]),
        "phone": phone_problem(values["phone"], missing=needed),
        "email": email_problem(values["email"], required=bool(booking.email)),
    }
    return {field: words.gettext(request, text) for field, text in found.items() if text}


@router.post("/termin/daten/aendern")
def change(request: Request, linked: Linked, form: Form, services: Services) -> Response:
    token, booking = linked
    values = {name: form_text(form, name) for name in FIELDS}
    errors = _problems(request, booking, values)
    if errors:
        return _form(request, booking, values, errors)
    try:
        corrected = services.contact_change.correct(
            token, values["name"], values["phone"], values["email"]
        )
    except TokenError as error:
        raise link_problem(error) from None
    except SchedulerError as exc:
        field = str(exc.params.get("field", "name"))
        params, _ = local_times(request, exc.params)
        return _form(request, booking, values, {field: message(request, exc.code, **params)})
    done = [
        word
        for word, happened in (("geaendert", corrected.changed), ("bestaetigen", corrected.sent))
        if happened
    ]
    outcome = ",".join(done) or "unveraendert"
    return RedirectResponse(f"/termin/daten?erfolg={outcome}", status_code=303)


def _email_page(
    request: Request, state: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return pages(request).render(
        request, "manage/data_email.html", status_code=status_code, state=state, **context
    )


def _email_problem(request: Request, exc: SchedulerError) -> HTMLResponse:
    if isinstance(exc, TokenExpired):
        return _email_page(request, "expired", 410)
    if isinstance(exc, TokenError):
        return _email_page(request, "invalid", 404)
    if isinstance(exc, EmailChangeStale):
        return _email_page(request, "stale", 409)
    if isinstance(exc, TooManyOpenBookings):
        words = message(request, exc.code, **exc.params)
        return _email_page(request, "refused", 409, problem=words)
    raise exc


@router.get("/termin/email-bestaetigen")
def email_confirm_page(request: Request, services: Services, token: str = "") -> Response:
    try:
        change = services.contact_change.read(token[:4000])
    except SchedulerError as exc:
        return _email_problem(request, exc)
    return _email_page(request, "ask", change=change, token=token)


@router.post("/termin/email-bestaetigen")
def email_confirm(request: Request, form: Form, services: Services) -> Response:
    try:
        services.contact_change.confirm(form_text(form, "token")[:4000])
    except SchedulerError as exc:
        return _email_problem(request, exc)
    return RedirectResponse("/termin/email-bestaetigt", status_code=303)


@router.get("/termin/email-bestaetigt")
def email_confirmed(request: Request) -> Response:
    return _email_page(request, "done")


@router.get("/termin/daten/loeschen")
def erase_confirm(request: Request, linked: Linked) -> Response:
    _, booking = linked
    return _render(request, "manage/data_erase.html", booking, erasable=erasable(request, booking))


@router.post("/termin/daten/loeschen")
def erase(
    request: Request, linked: Linked, form: Form, services: Services, renderer: Renderer
) -> Response:
    token, booking = linked
    try:
        services.rights.erase(token)
    except BookingNotOver:
        return _render(request, "manage/data_erase.html", booking, status_code=409, erasable=False)
    response = RedirectResponse("/termin/daten/geloescht", status_code=303)
    clear_cookie(response, LINK_COOKIE, secure=renderer.secure)
    return response


@router.get("/termin/daten/geloescht")
def erased(request: Request) -> Response:
    return pages(request).render(request, "manage/data_erased.html")
