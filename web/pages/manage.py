"""Pages: the booked appointment, reached through the magic link in the e-mail.

Opening `/b/{token}` changes nothing (mail scanners open links before people do): it only
moves the token into the link cookie and sends the browser on to `/termin`, an address without
it. Every change is a POST with a CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from scheduler.availability import Slot
from scheduler.errors import SlotUnavailable
from scheduler.models import Channel
from scheduler.views import BookingInfo
from web.deps import Renderer, Services, check_slot_search, container, pages
from web.lanes import in_booking_lane
from web.pages.booking_common import (
    LinkProblem,
    booking_from_token,
    cookie_booking,
    is_open,
    link_problem_page,
    parse_start,
    service_by_id,
    service_name,
    start_param,
    week_view,
    with_query,
)
from web.pages.documents_section import section as documents_section
from web.pages.security import set_link_cookie, verified_form
from web.presenters import invite_response


class LinkRoute(APIRoute):
    """Answers a missing, expired or unknown booking link with the page that says what to do,
    wherever in a handler or its dependencies it turns up."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except LinkProblem as problem:
                return link_problem_page(request, problem)

        return route


router = APIRouter(include_in_schema=False, route_class=LinkRoute)

Linked = Annotated[tuple[str, BookingInfo], Depends(cookie_booking)]
Form = Annotated[FormData, Depends(verified_form)]
# What a finished action says on the appointment page (PRG: the POST redirects there).
DONE = {"verschoben": "rescheduled", "abgesagt": "cancelled"}


@dataclass(frozen=True, slots=True)
class Join:
    state: Literal["waiting", "open", "closed"]
    opens_at: datetime
    closes_at: datetime


def _join(request: Request, booking: BookingInfo) -> Join | None:
    if booking.channel != Channel.VIDEO or not is_open(booking):
        return None
    services = container(request)
    settings = services.settings
    opens = booking.start - timedelta(minutes=settings.room_opens_minutes)
    closes = booking.end + timedelta(minutes=settings.room_closes_minutes)
    now = services.scheduler.clock()
    state: Literal["waiting", "open", "closed"] = (
        "waiting" if now < opens else "open" if now < closes else "closed"
    )
    return Join(state, opens, closes)


def _render(
    request: Request, template: str, booking: BookingInfo, status_code: int = 200, **context: Any
) -> HTMLResponse:
    services = container(request)
    return pages(request).render(
        request,
        template,
        status_code=status_code,
        booking=booking,
        service_name=service_name(request, booking),
        changeable=is_open(booking) and booking.start > services.scheduler.clock(),
        room_opens_minutes=services.settings.room_opens_minutes,
        **context,
    )


@router.get("/b/{token}")
def magic_link(request: Request, token: str, renderer: Renderer) -> Response:
    booking_from_token(request, token)
    response = RedirectResponse("/termin", status_code=303)
    set_link_cookie(response, token, secure=renderer.secure)
    return response


@router.get("/termin/bestaetigt")
def confirmed(request: Request, linked: Linked) -> Response:
    _, booking = linked
    return _render(request, "manage/confirmed.html", booking, join=_join(request, booking))


@router.get("/termin")
def appointment(request: Request, linked: Linked, erfolg: str = "") -> Response:
    _, booking = linked
    return _render(
        request,
        "manage/booking.html",
        booking,
        join=_join(request, booking),
        done=DONE.get(erfolg),
        documents=documents_section(request, booking),
    )


@router.get("/termin/kalender.ics")
def calendar_file(linked: Linked, services: Services) -> Response:
    _, booking = linked
    return invite_response(services, booking)


@router.get("/termin/verschieben")
def reschedule_pick(
    request: Request, linked: Linked, ab: date | None = None, start: str = ""
) -> Response:
    _, booking = linked
    if not is_open(booking):
        return RedirectResponse("/termin", status_code=303)
    if start:
        new_start = parse_start(start)
        return _render(request, "manage/reschedule_confirm.html", booking, new_start=new_start)
    return _picker(request, booking, ab)


@router.post("/termin/verschieben")
@in_booking_lane
def reschedule(request: Request, linked: Linked, form: Form, services: Services) -> Response:
    _, booking = linked
    value = form.get("start")
    new_start = parse_start(value if isinstance(value, str) else "")
    engine = services.scheduler
    try:
        engine.reschedule(booking.reference, new_start, booking.token_version)
    except SlotUnavailable:
        day = new_start.astimezone(engine.tz).date()
        return _picker(request, booking, day, taken=True)
    return RedirectResponse("/termin?erfolg=verschoben", status_code=303)


@router.get("/termin/absagen")
def cancel_confirm(request: Request, linked: Linked) -> Response:
    _, booking = linked
    if not is_open(booking):
        return RedirectResponse("/termin", status_code=303)
    return _render(request, "manage/cancel.html", booking)


@router.post("/termin/absagen")
def cancel(linked: Linked, form: Form, services: Services) -> Response:
    _, booking = linked
    services.scheduler.cancel(booking.reference, booking.token_version)
    return RedirectResponse("/termin?erfolg=abgesagt", status_code=303)


def _picker(
    request: Request, booking: BookingInfo, asked: date | None, *, taken: bool = False
) -> HTMLResponse:
    check_slot_search(request)
    engine = container(request).scheduler
    service = service_by_id(request, booking.service_id)

    def slot_url(slot: Slot) -> str:
        return with_query("/termin/verschieben", start=start_param(slot.start, engine))

    week = week_view(
        engine,
        service,
        booking.channel,
        asked,
        week_url=lambda day: with_query("/termin/verschieben", ab=day.isoformat()),
        slot_url=slot_url,
    )
    return _render(
        request,
        "manage/reschedule.html",
        booking,
        status_code=409 if taken else 200,
        week=week,
        taken=taken,
        channel=booking.channel,
    )
