"""Pages: booking an appointment from a callback request (`/staff/rueckrufe/{id}/buchen`): the
week's free times of the request's service across the team, a confirmation step with an
optional advisor, then `CallbackDesk.book`, which carries the citizen's data over. A time taken
meanwhile leads back to the picker (409)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import CallbackStatus
from scheduler.callbacks_views import CallbackInfo
from scheduler.errors import Conflict, InvalidRequest, NotFound, SlotUnavailable
from scheduler.models import Channel, Role, Service
from web.deps import Services, container, pages
from web.lanes import in_booking_lane
from web.pages.booking_common import parse_start, start_param, week_view, with_query
from web.pages.session import StaffPage
from web.pages.staff_callbacks import (
    Form,
    path_id,
    refusal_message,
    refused_page,
    render_page,
    request_url,
)
from web.pages.staff_common import FormErrors, OptionalId, parse_id, see_other, text

router = APIRouter(include_in_schema=False)


def _service(request: Request, service_id: int) -> Service:
    found = next((s for s in container(request).scheduler.services() if s.id == service_id), None)
    if found is None:
        raise NotFound("unknown service", field="service_id")
    return found


def _advisor_choices(
    request: Request, staff: StaffIdentity, service_id: int
) -> list[tuple[str, str]]:
    return [
        (str(person.id), person.name)
        for person, ids in container(request).catalogue.advisors(staff)
        if service_id in ids and person.active and person.role != Role.HOTLINE
    ]


@router.get("/staff/rueckrufe/{callback_id}/buchen")
def book_pick(
    request: Request,
    callback_id: str,
    staff: StaffPage,
    services: Services,
    kanal: Annotated[str, Query(max_length=20)] = "",
    ab: date | None = None,
    start: Annotated[str, Query(max_length=40)] = "",
    berater: OptionalId = None,
) -> HTMLResponse:
    found = services.callbacks.get(staff, path_id(callback_id))
    service = _service(request, found.service_id)
    channel = kanal if kanal in service.channels else _default_channel(service)
    if start and found.status in (CallbackStatus.OPEN, CallbackStatus.CLAIMED):
        return _book_confirm(request, staff, found, service, channel, parse_start(start), berater)
    return _picker(request, staff, found, service, channel, ab)


def _default_channel(service: Service) -> str:
    return Channel.PHONE.value if Channel.PHONE.value in service.channels else service.channels[0]


def _picker(
    request: Request,
    staff: StaffIdentity,
    callback: CallbackInfo,
    service: Service,
    channel: str,
    asked: date | None,
    *,
    problem: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    engine = container(request).scheduler
    path = request_url(callback.id, "buchen")
    week = week_view(
        engine,
        service,
        channel,
        asked,
        week_url=lambda day: with_query(path, kanal=channel, ab=day.isoformat()),
        slot_url=lambda slot: with_query(
            path, kanal=channel, start=start_param(slot.start, engine)
        ),
    )
    return render_page(
        request,
        staff,
        "staff/callbacks_book.html",
        status_code=status,
        callback=callback,
        service=service,
        channel=channel,
        week=week,
        problem=problem,
        pending=callback.status in (CallbackStatus.OPEN, CallbackStatus.CLAIMED),
    )


def _book_confirm(
    request: Request,
    staff: StaffIdentity,
    callback: CallbackInfo,
    service: Service,
    channel: str,
    start: datetime,
    advisor_id: int | None,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render_page(
        request,
        staff,
        "staff/callbacks_book_confirm.html",
        status_code=status,
        callback=callback,
        service=service,
        channel=channel,
        start=start,
        start_value=start_param(start, container(request).scheduler),
        advisor_id=str(advisor_id or ""),
        advisor_choices=_advisor_choices(request, staff, service.id),
        errors=errors or FormErrors(),
    )


@router.post("/staff/rueckrufe/{callback_id}/buchen", response_model=None)
@in_booking_lane
def book(
    request: Request, callback_id: str, staff: StaffPage, form: Form, services: Services
) -> HTMLResponse | RedirectResponse:
    wanted = path_id(callback_id)
    found = services.callbacks.get(staff, wanted)
    service = _service(request, found.service_id)
    channel = text(form, "kanal")
    if channel not in service.channels:
        raise InvalidRequest("channel not offered", field="kanal")
    start = parse_start(text(form, "start"))
    raw_advisor = text(form, "berater")
    advisor_id = parse_id(raw_advisor) if raw_advisor else None
    if raw_advisor and advisor_id is None:
        raise InvalidRequest("unknown advisor", field="berater")
    try:
        _, booking = services.callbacks.book(staff, wanted, start, channel, advisor_id)
    except SlotUnavailable:
        message = pages(request).gettext(
            request, "This time has just been taken. Please choose another time."
        )
        day = start.astimezone(services.scheduler.tz).date()
        current = services.callbacks.get(staff, wanted)
        return _picker(request, staff, current, service, channel, day, problem=message, status=409)
    except Conflict as exc:
        made = _booked_by(services, staff, wanted)
        if made is not None:
            # The confirmation sent again (a double click): the booking it made.
            return see_other(f"/staff/buchungen/{made}?neu=true")
        return refused_page(request, staff, wanted, exc)
    except (InvalidRequest, NotFound) as exc:
        errors = FormErrors()
        errors.add("confirm", refusal_message(request, exc))
        current = services.callbacks.get(staff, wanted)
        return _book_confirm(
            request, staff, current, service, channel, start, advisor_id, errors=errors, status=422
        )
    return see_other(f"/staff/buchungen/{booking.reference}?neu=true")


def _booked_by(services: Services, staff: StaffIdentity, callback_id: int) -> str | None:
    """The booking's reference if `staff` has booked the request already; a request is booked
    once, so a confirmation from them refused for that is the same one sent again."""
    current = services.callbacks.get(staff, callback_id)
    if current.status != CallbackStatus.BOOKED or current.claimed_by_id != staff.id:
        return None
    return services.callbacks.booking_reference(staff, callback_id)
