"""Pages: requests about a person that come by phone or letter (scheduler/people.py). An
administrator finds every record of a person by e-mail address or phone number (a GET form, as
the audit viewer's), downloads them as one file, or erases them.

The erasure is confirmed twice: the first step shows what will go and asks for the person's
identity to have been checked, the second repeats the counts above a destructive button. The
counts of the first step travel in hidden fields, so that the domain refuses the erasure if the
records changed in between; the address and the number travel in POST bodies, never in a URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.errors import InvalidRequest
from scheduler.people import Person, PersonBusy, PersonUnspecified, RecordsChanged
from web.deps import Services, container, pages
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import FormErrors, domain_message, parse_id, render, require_section
from web.pages.staff_common import text as form_text

router = APIRouter(include_in_schema=False)

PATH = "/staff/personen"
MAX_EMAIL = 320
MAX_PHONE = 64
KINDS = ("bookings", "callbacks", "waitlist")
# What still waits for staff: people.erase refuses while any of it is found (`PersonBusy`).
WAITING_CALLBACKS = ("open", "claimed")
ALWAYS_SHOWN = ("bookings_anonymised", "callback_requests_deleted", "waitlist_entries_deleted")

Form = Annotated[FormData, Depends(verified_form)]
Email = Annotated[str, Query(max_length=MAX_EMAIL)]
Phone = Annotated[str, Query(max_length=MAX_PHONE)]


def _person(email: str, phone: str) -> Person:
    return Person(email=email.strip() or None, phone=phone.strip() or None)


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _bookings(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The found bookings as the pages list them."""
    rows = []
    for record in found["bookings"]:
        booking = record["booking"]
        rows.append(
            {
                "reference": booking["reference"],
                "service": booking["service"],
                "start": _moment(booking["start"]),
                "end": _moment(booking["end"]),
                "status": booking["status"],
                "anonymised": not (booking["name"] or booking["email"] or booking["phone"]),
                "documents": len(record.get("documents", [])),
            }
        )
    return rows


def _under_way(request: Request, found: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    now = container(request).scheduler.clock()
    return {
        "bookings": [
            b
            for b in _bookings(found)
            if b["status"] == "confirmed" and b["end"] is not None and b["end"] > now
        ],
        "callbacks": [c for c in found["callbacks"] if c["status"] in WAITING_CALLBACKS],
    }


def _admin(staff: StaffIdentity) -> None:
    require_section(staff, PATH)


@router.get(PATH)
def people_page(
    request: Request, staff: StaffPage, services: Services, email: Email = "", phone: Phone = ""
) -> HTMLResponse:
    _admin(staff)
    errors = FormErrors()
    found = None
    if email.strip() or phone.strip():
        try:
            found = services.people.find(staff, _person(email, phone))
        except PersonUnspecified as exc:
            errors.add("phone", domain_message(request, exc))
    return render(
        request,
        staff,
        "staff/people.html",
        section=PATH,
        status_code=422 if errors else 200,
        errors=errors,
        values={"email": email, "phone": phone},
        found=found,
        bookings=_bookings(found) if found else [],
    )


@router.get(PATH + "/export")
def people_export(
    staff: StaffPage, services: Services, email: Email = "", phone: Phone = ""
) -> Response:
    _admin(staff)
    exported = services.people.export(staff, _person(email, phone))
    day = exported["exported_at"][:10]
    return JSONResponse(
        exported,
        headers={
            "Content-Disposition": f'attachment; filename="personendaten-{day}.json"',
            "Cache-Control": "no-store",
        },
    )


def _posted_person(form: FormData) -> tuple[dict[str, str], Person]:
    values = {"email": form_text(form, "email"), "phone": form_text(form, "phone")}
    if len(values["email"]) > MAX_EMAIL or len(values["phone"]) > MAX_PHONE:
        raise InvalidRequest(field="email")
    return values, _person(values["email"], values["phone"])


def _posted_counts(form: FormData) -> dict[str, int]:
    """The counts the administrator saw in the first step (0 is a count too)."""
    counts = {}
    for kind in KINDS:
        raw = form_text(form, kind)
        number = 0 if raw == "0" else parse_id(raw)
        if number is None:
            raise InvalidRequest(field=kind)
        counts[kind] = number
    return counts


def _step_one(
    request: Request,
    staff: StaffIdentity,
    values: dict[str, str],
    found: dict[str, Any],
    errors: FormErrors | None = None,
    changed: bool = False,
) -> HTMLResponse:
    under_way = _under_way(request, found)
    if under_way["bookings"] or under_way["callbacks"]:
        return _busy(request, staff, values, under_way)
    return render(
        request,
        staff,
        "staff/people_erase.html",
        section=PATH,
        status_code=409 if changed else 422 if errors else 200,
        step=1,
        errors=errors or FormErrors(),
        changed=changed,
        values=values,
        counts=found["counts"],
        bookings=_bookings(found),
    )


def _busy(
    request: Request,
    staff: StaffIdentity,
    values: dict[str, str],
    under_way: dict[str, list[dict[str, Any]]],
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/people_busy.html",
        section=PATH,
        status_code=409,
        values=values,
        under_way=under_way,
    )


@router.post(PATH + "/loeschen")
def erase_check(request: Request, staff: StaffPage, form: Form, services: Services) -> Response:
    """Step 1: what will be erased, and the question whether the request was checked."""
    _admin(staff)
    values, person = _posted_person(form)
    return _step_one(request, staff, values, services.people.find(staff, person))


@router.post(PATH + "/loeschen/bestaetigen")
def erase_confirm(request: Request, staff: StaffPage, form: Form, services: Services) -> Response:
    """Step 2: the counts of step 1 once more, above the button that erases."""
    _admin(staff)
    values, person = _posted_person(form)
    counts = _posted_counts(form)
    if form_text(form, "geprueft") != "ja":
        errors = FormErrors()
        words = "Please confirm that you have checked the person's identity and the request."
        errors.add("geprueft", pages(request).gettext(request, words))
        return _step_one(request, staff, values, services.people.find(staff, person), errors)
    return render(
        request,
        staff,
        "staff/people_erase.html",
        section=PATH,
        step=2,
        values=values,
        counts=counts,
    )


@router.post(PATH + "/loeschen/ausfuehren")
def erase(request: Request, staff: StaffPage, form: Form, services: Services) -> Response:
    _admin(staff)
    values, person = _posted_person(form)
    counts = _posted_counts(form)
    try:
        erased = services.people.erase(staff, person, counts)
    except RecordsChanged:
        return _step_one(request, staff, values, services.people.find(staff, person), changed=True)
    except PersonBusy:
        found = services.people.find(staff, person)
        return _busy(request, staff, values, _under_way(request, found))
    # The erasers with nothing to do for a person (failed logins, expired holds) stay unnamed.
    shown = [(name, count) for name, count in erased.items() if count or name in ALWAYS_SHOWN]
    return render(request, staff, "staff/people_erased.html", section=PATH, erased=shown)
