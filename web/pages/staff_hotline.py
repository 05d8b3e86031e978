"""Pages: the hotline desk. While on the phone: the next free times of a concern across the
team, a booking on the caller's behalf, a booking found by its reference, an ad-hoc video room
with the link to send."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from rooms.access import RoomRole
from scheduler.accounts import StaffIdentity
from scheduler.availability import Slot
from scheduler.errors import Conflict, InvalidRequest, NotFound
from web.deps import Renderer, Services, container, pages
from web.lanes import in_booking_lane
from web.pages.once import ONCE_FIELD, at_most_once, once_key
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    FormErrors,
    add_domain_error,
    render,
    require_section,
    see_other,
    text,
    today,
    validate,
)
from web.presenters import staff_booking_request
from web.schemas import StaffBookingIn

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/hotline"
OFFER_DAYS = 4  # how many days with free times are offered
BOOKING_FIELDS = {
    "service_id": "anliegen",
    "channel": "kanal",
    "start": "start",
    "name": "name",
    "email": "email",
    "phone": "phone",
    "language": "language",
    "notes": "notes",
    "needs": "interpreter_language",
    "wheelchair_access": "wheelchair_access",
    "advisor_id": "start",
}
_TEXT_FIELDS = ("name", "email", "phone", "language", "notes", "interpreter_language")


@router.get("/staff/hotline", response_model=None)
def desk(
    request: Request,
    staff: StaffPage,
    anliegen: Annotated[str | None, Query(max_length=20)] = None,
    kanal: Annotated[str | None, Query(max_length=20)] = None,
    nummer: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    errors = FormErrors()
    if nummer is not None:
        return _find(request, staff, nummer)
    values = {"anliegen": anliegen, "kanal": kanal or ""}
    return _desk_page(request, staff, errors, values)


@router.post("/staff/hotline/buchen", response_model=None)
@in_booking_lane
def book(
    request: Request, staff: StaffPage, form: Form, renderer: Renderer, services: Services
) -> HTMLResponse | RedirectResponse:
    require_section(staff, SECTION)
    gettext = renderer.gettext
    values: dict[str, Any] = {name: text(form, name) for name in _TEXT_FIELDS}
    values |= {
        "anliegen": text(form, "anliegen"),
        "kanal": text(form, "kanal"),
        "start": text(form, "start"),
        "sign_language": bool(text(form, "sign_language")),
        "wheelchair_access": bool(text(form, "wheelchair_access")),
    }
    errors = FormErrors()
    if not values["start"]:
        errors.add("start", gettext(request, "Please choose a time."))
    body = validate(
        request,
        StaffBookingIn,
        {
            "service_id": values["anliegen"],
            "channel": values["kanal"],
            "start": values["start"] or None,
            "name": values["name"],
            "email": values["email"] or None,
            "phone": values["phone"] or None,
            "language": values["language"] or "de",
            "notes": values["notes"],
            "needs": {
                "interpreter_language": values["interpreter_language"],
                "sign_language": values["sign_language"],
                "wheelchair_access": values["wheelchair_access"],
            },
        },
        BOOKING_FIELDS,
        errors,
    )
    if errors or body is None:
        return _desk_page(request, staff, errors, values, status=422)
    wanted = staff_booking_request(body)
    try:
        placed = at_most_once(
            form, f"desk:{staff.id}", lambda once: services.desk.book(staff, wanted, once)
        )
    except (InvalidRequest, NotFound, Conflict) as exc:
        add_domain_error(request, errors, exc, BOOKING_FIELDS, default="start")
        status = 409 if isinstance(exc, Conflict) else 422
        return _desk_page(request, staff, errors, values, status=status)
    assert placed.booking is not None
    return see_other(f"/staff/buchungen/{placed.booking.reference}?neu=true")


@router.post("/staff/hotline/raum")
def open_room(staff: StaffPage, form: Form, services: Services) -> RedirectResponse:
    require_section(staff, SECTION)
    title = text(form, "title")[:200]
    room, _ = services.rooms.open_adhoc(staff, title)
    return see_other(f"/staff/hotline/raeume/{room.id}")


@router.get("/staff/hotline/raeume/{room_id}")
def room(
    request: Request,
    room_id: Annotated[str, Path(min_length=1, max_length=32)],
    staff: StaffPage,
    services: Services,
) -> HTMLResponse:
    require_section(staff, SECTION)
    guest = next(
        (i for i in services.rooms.invites(staff, room_id) if i.role == RoomRole.GUEST), None
    )
    if guest is None or guest.revoked:
        raise NotFound("no guest link", field="room_id")
    return render(
        request,
        staff,
        "staff/adhoc_room.html",
        section=SECTION,
        room_id=room_id,
        guest_url=services.links.join_url(guest.token),
    )


def _find(request: Request, staff: StaffIdentity, entered: str) -> HTMLResponse | RedirectResponse:
    reference = _reference(entered)
    gettext = pages(request).gettext
    errors = FormErrors()
    if not reference:
        errors.add("nummer", gettext(request, "Please enter a booking reference."))
        return _desk_page(request, staff, errors, {"nummer": entered}, status=422)
    try:
        container(request).desk.booking_check(staff, reference)
    except NotFound:
        errors.add("nummer", gettext(request, "No appointment has this booking reference."))
        return _desk_page(request, staff, errors, {"nummer": entered}, status=404)
    return see_other(f"/staff/buchungen/{reference}")


def _reference(entered: str) -> str:
    """A booking reference as read out on the phone: any case, with or without the dash."""
    compact = re.sub(r"[\s-]", "", entered).upper()
    return f"{compact[:4]}-{compact[4:]}" if len(compact) == 8 else compact[:16]


def _offer(request: Request, service_id: int, channel: str) -> list[tuple[date, list[Slot]]]:
    """The first days with free times, earliest first."""
    scheduler = container(request).scheduler
    slots = scheduler.slots(service_id, *scheduler.search_window(today(request)), channel)
    days: dict[date, list[Slot]] = {}
    tz = scheduler.tz
    for slot in slots:
        day = slot.start.astimezone(tz).date()
        if day not in days and len(days) == OFFER_DAYS:
            break
        days.setdefault(day, []).append(slot)
    return list(days.items())


def _desk_page(
    request: Request,
    staff: StaffIdentity,
    errors: FormErrors,
    values: dict[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    services = container(request).scheduler.services()
    # None: the search was not sent; "" or an unknown id: sent without a valid choice.
    asked = values.get("anliegen")
    chosen = next((s for s in services if str(s.id) == str(asked)), None)
    channel = values.get("kanal") or ""
    offer: list[tuple[date, list[Slot]]] | None = None
    if asked is not None and chosen is None:
        message = "Please choose one of the concerns."
        errors.add("anliegen", pages(request).gettext(request, message))
    elif chosen is not None and channel not in chosen.channels:
        message = "This concern is not offered through that channel."
        errors.add("kanal", pages(request).gettext(request, message))
    elif chosen is not None:
        offer = _offer(request, chosen.id, channel)
    return render(
        request,
        staff,
        "staff/hotline.html",
        section=SECTION,
        status_code=422 if errors and status == 200 else status,
        services=services,
        chosen=chosen,
        channel=channel,
        offer=offer,
        searched_until=container(request).scheduler.search_window(today(request))[1],
        errors=errors,
        values=values,
        once_field=ONCE_FIELD,
        once_key=once_key(),
    )
