"""Pages: booking an appointment without an account, without JavaScript.

Start (the concern) -> channel -> time -> details -> confirmation (web/pages/manage.py).
The details form offers to hold the chosen slot for a few minutes, so nobody else takes it
while the person types. Only a form sent with the CSRF token holds (POST .../halten): a plain
GET of the details page, by a link preview, a prefetching browser or a crawler, keeps nothing.
The hold token travels in a hidden field, and a cookie remembers it so that holding again or
another time gives the old hold back instead of blocking oneself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from scheduler.availability import Slot
from scheduler.errors import (
    InvalidRequest,
    OutsideBookingWindow,
    SlotUnavailable,
    TooManyOpenBookings,
)
from scheduler.models import Service
from scheduler.requests import NOTES_MAX
from scheduler.services import Scheduler
from scheduler.views import BookingInfo, HoldInfo
from web.deps import (
    Renderer,
    Services,
    check_booking,
    check_hold,
    check_slot_search,
    container,
    pages,
)
from web.lanes import in_booking_lane
from web.pages.booking_common import (
    ServiceText,
    channel_of,
    parse_start,
    service_by_id,
    start_param,
    week_view,
    with_query,
)
from web.pages.booking_form import FIELD_IDS, Details, read_details
from web.pages.once import ONCE_FIELD, at_most_once, once_key
from web.pages.security import set_link_cookie, verified_form
from web.protection import AltchaRejected, RateLimited

router = APIRouter(include_in_schema=False)

ServiceId = Annotated[int, Path(ge=1, le=2**62)]
HOLD_COOKIE = "booking_hold"


@router.get("/")
def start(request: Request, renderer: Renderer, services: Services) -> HTMLResponse:
    language = renderer.language(request)
    offered = [ServiceText.of(s, language) for s in services.scheduler.services()]
    return renderer.render(request, "citizen/start.html", services=offered)


@router.get("/buchen/{service_id}", response_model=None)
def choose_channel(request: Request, service_id: ServiceId, renderer: Renderer) -> Response:
    service = service_by_id(request, service_id)
    if len(service.channels) == 1:
        return RedirectResponse(_time_url(service.id, service.channels[0]), status_code=303)
    text = ServiceText.of(service, renderer.language(request))
    return renderer.render(request, "citizen/channel.html", service=text)


@router.get("/buchen/{service_id}/zeit", response_model=None)
def choose_time(
    request: Request, service_id: ServiceId, kanal: str = "", ab: date | None = None
) -> Response:
    service = service_by_id(request, service_id)
    channel = channel_of(service, kanal)
    if channel is None:
        return RedirectResponse(f"/buchen/{service.id}", status_code=303)
    return _time_page(request, service, channel, ab)


@router.get("/buchen/{service_id}/angaben", response_model=None)
def details_form(
    request: Request, service_id: ServiceId, kanal: str, start: str, renderer: Renderer
) -> Response:
    service = service_by_id(request, service_id)
    channel = channel_of(service, kanal) or ""
    moment = parse_start(start)
    not_offered = _unless_offered(request, service, moment, channel)
    if not_offered is not None:
        return not_offered
    details = Details(language=renderer.language(request))
    return _details_page(request, service, channel, moment, details, None, hold_offer=True)


@router.post("/buchen/{service_id}/halten", response_model=None)
@in_booking_lane
def hold_slot(
    request: Request,
    service_id: ServiceId,
    form: Annotated[FormData, Depends(verified_form)],
    renderer: Renderer,
    services: Services,
) -> Response:
    service = service_by_id(request, service_id)
    channel = channel_of(service, _field(form, "kanal")) or ""
    moment = parse_start(_field(form, "start"))
    hold = _take_hold(request, service, moment, channel)
    if isinstance(hold, Response):
        return hold
    details = Details(language=renderer.language(request))
    # None: this address held too many slots lately (a shelter, a library kiosk); the page
    # says so instead of silently giving no hold.
    response = _details_page(
        request, service, channel, moment, details, hold, hold_refused=hold is None
    )
    if hold is not None:
        minutes = services.settings.hold_minutes
        response.set_cookie(
            HOLD_COOKIE,
            hold.token,
            max_age=minutes * 60,
            path="/buchen",
            httponly=True,
            samesite="lax",
            secure=renderer.secure,
        )
    return response


@router.post("/buchen/{service_id}/angaben", response_model=None)
@in_booking_lane
def book(
    request: Request,
    service_id: ServiceId,
    form: Annotated[FormData, Depends(verified_form)],
    renderer: Renderer,
    services: Services,
) -> Response:
    service = service_by_id(request, service_id)
    channel = channel_of(service, _field(form, "kanal")) or ""
    moment = parse_start(_field(form, "start"))
    hold_token = _field(form, "hold") or None
    details = read_details(form)
    if details.errors:
        return _details_page(request, service, channel, moment, details, None, hold_token)
    try:
        check_booking(request, _field(form, "altcha") or None)
    except AltchaRejected:
        details.errors["altcha"] = (
            "The automatic check against bots failed. Please send the form again."
        )
        return _details_page(request, service, channel, moment, details, None, hold_token)
    engine = services.scheduler
    booking = details.request(service.id, moment, channel, hold_token)
    try:
        placed = at_most_once(
            form,
            "page",
            lambda once: engine.book(booking, idempotency=once, respond=_manage_token(engine)),
        )
    except SlotUnavailable:
        return _time_page(request, service, channel, _local_day(request, moment), taken=True)
    except TooManyOpenBookings as error:
        details.errors["email"] = (
            "There are already %(maximum)s open appointments for this concern with this e-mail "
            "address. Cancel one of them first, or call the hotline."
        )
        return _details_page(
            request, service, channel, moment, details, None, hold_token, error.params
        )
    except InvalidRequest as error:
        if not details.refused(error):
            raise
        return _details_page(
            request, service, channel, moment, details, None, hold_token, error.params
        )
    assert placed.response is not None
    response = RedirectResponse("/termin/bestaetigt", status_code=303)
    set_link_cookie(response, placed.response["manage_token"], secure=renderer.secure)
    response.delete_cookie(HOLD_COOKIE, path="/buchen")
    return response


def _manage_token(engine: Scheduler) -> Callable[[BookingInfo], dict[str, Any]]:
    """The answer a booking of the form keeps for the same form sent again: its manage link's
    token, for the cookie of the confirmation page (the API keeps the link itself)."""
    return lambda info: {"manage_token": engine.links(info)[0]}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _time_url(service_id: int, channel: str, day: date | None = None) -> str:
    params = {"kanal": channel} | ({"ab": day.isoformat()} if day else {})
    return with_query(f"/buchen/{service_id}/zeit", **params)


def _local_day(request: Request, moment: datetime) -> date:
    return moment.astimezone(container(request).scheduler.tz).date()


def _time_page(
    request: Request, service: Service, channel: str, asked: date | None, *, taken: bool = False
) -> Response:
    check_slot_search(request)
    engine = container(request).scheduler

    def slot_url(slot: Slot) -> str:
        return with_query(
            f"/buchen/{service.id}/angaben",
            kanal=channel,
            start=start_param(slot.start, engine),
        )

    week = week_view(
        engine,
        service,
        channel,
        asked,
        week_url=lambda day: _time_url(service.id, channel, day),
        slot_url=slot_url,
    )
    return pages(request).render(
        request,
        "citizen/time.html",
        status_code=409 if taken else 200,
        service=ServiceText.of(service, pages(request).language(request)),
        channel=channel,
        week=week,
        taken=taken,
        back_url=f"/buchen/{service.id}" if len(service.channels) > 1 else "/",
    )


def _unless_offered(
    request: Request, service: Service, moment: datetime, channel: str
) -> Response | None:
    """None when `moment` is a free slot; else a refusal for a time gone by (422) or the
    time picker of that day (409): the time is taken, held, or not a slot time at all."""
    engine = container(request).scheduler
    if moment <= engine.clock():
        raise OutsideBookingWindow(field="start", reason="too_soon")
    day = _local_day(request, moment)
    if any(slot.start == moment for slot in engine.slots(service.id, day, day, channel)):
        return None
    return _time_page(request, service, channel, day, taken=True)


def _take_hold(
    request: Request, service: Service, moment: datetime, channel: str
) -> HoldInfo | Response | None:
    """A hold on the slot; the time picker again when the slot is gone; no hold (but still the
    form) when this address has held too many slots lately."""
    engine = container(request).scheduler
    previous = request.cookies.get(HOLD_COOKIE)
    if previous:
        engine.release_hold(previous)
    try:
        check_hold(request)
    except RateLimited:
        return None
    try:
        return engine.hold(service.id, moment, channel)
    except SlotUnavailable:
        return _time_page(request, service, channel, _local_day(request, moment), taken=True)


def _details_page(
    request: Request,
    service: Service,
    channel: str,
    moment: datetime,
    details: Details,
    hold: HoldInfo | None,
    hold_token: str | None = None,
    error_params: dict[str, object] | None = None,
    *,
    hold_refused: bool = False,
    hold_offer: bool = False,
) -> HTMLResponse:
    engine = container(request).scheduler
    return pages(request).render(
        request,
        "citizen/details.html",
        status_code=422 if details.errors else 200,
        service=ServiceText.of(service, pages(request).language(request)),
        channel=channel,
        start=moment,
        end=moment + timedelta(minutes=service.duration_minutes),
        start_value=start_param(moment, engine),
        details=details,
        notes_max=NOTES_MAX,
        field_ids=FIELD_IDS,
        hold=hold,
        hold_refused=hold_refused,
        hold_offer=hold_offer,
        hold_minutes=container(request).settings.hold_minutes,
        hold_token=hold.token if hold else hold_token,
        once_field=ONCE_FIELD,
        once_key=once_key(),
        change_url=_time_url(service.id, channel, _local_day(request, moment)),
        maximum=(error_params or {}).get("maximum", 0),
    )
