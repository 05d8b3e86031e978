"""Pages: the day's agenda and the week, and the outcome of a consultation (one booking's
details and what staff do with it are in `staff_bookings.py`).

Advisors see their own appointments; hotline staff and administrators see everyone's and may
narrow them to one advisor (the desk decides, see `scheduler.desk`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from scheduler.accounts import StaffIdentity
from scheduler.errors import InvalidRequest
from scheduler.models import BookingStatus, Role
from web.deps import Services, container
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import (
    OptionalDate,
    OptionalId,
    local_day,
    render,
    require_section,
    see_other,
    text,
    today,
)

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
Reference = Annotated[str, Path(min_length=1, max_length=16)]
OUTCOMES = (BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


def _advisors(request: Request, staff: StaffIdentity) -> dict[int, str]:
    """Names of everyone who may have appointments, for the filter and the advisor column."""
    if staff.role == Role.ADVISOR:
        return {staff.id: staff.name}
    return {
        person.id: person.name
        for person, service_ids in container(request).catalogue.advisors(staff)
        if service_ids
    }


@router.get("/staff/agenda")
def agenda(
    request: Request,
    staff: StaffPage,
    services: Services,
    tag: OptionalDate = None,
    berater: OptionalId = None,
    gespeichert: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    require_section(staff, "/staff/agenda")
    day = tag or today(request)
    bookings = services.desk.bookings(staff, day, day, berater)
    return render(
        request,
        staff,
        "staff/agenda.html",
        section="/staff/agenda",
        day=day,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        is_today=day == today(request),
        bookings=bookings,
        document_counts=services.staff_documents.counts([b.id for b in bookings]),
        advisors=_advisors(request, staff),
        advisor_filter=berater,
        now=services.scheduler.clock(),
        saved=gespeichert,
    )


@router.get("/staff/woche")
def week(
    request: Request,
    staff: StaffPage,
    services: Services,
    ab: OptionalDate = None,
    berater: OptionalId = None,
) -> HTMLResponse:
    require_section(staff, "/staff/woche")
    start = ab or today(request)
    monday = start - timedelta(days=start.weekday())
    sunday = monday + timedelta(days=6)
    bookings = services.desk.bookings(staff, monday, sunday, berater)
    days = [
        (day, [b for b in bookings if local_day(request, b.start) == day])
        for day in (monday + timedelta(days=n) for n in range(7))
    ]
    return render(
        request,
        staff,
        "staff/week.html",
        section="/staff/woche",
        monday=monday,
        sunday=sunday,
        days=days,
        previous_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7),
        advisors=_advisors(request, staff),
        advisor_filter=berater,
    )


@router.post("/staff/termine/{reference}/ergebnis")
def outcome(
    request: Request, reference: Reference, staff: StaffPage, form: Form, services: Services
) -> RedirectResponse:
    chosen = text(form, "outcome")
    if chosen not in {o.value for o in OUTCOMES}:
        raise InvalidRequest("unknown outcome", field="outcome")
    info = services.desk.set_outcome(staff, reference, BookingStatus(chosen))
    day = local_day(request, info.start)
    return see_other(f"/staff/agenda?tag={day.isoformat()}&gespeichert={info.reference}")
