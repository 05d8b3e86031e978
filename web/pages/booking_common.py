"""What the citizen's booking pages and the booking management pages share: parsing the
query, the week of the slot picker, the service texts in the page's language, and the booking
behind the link cookie."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from scheduler.availability import Slot
from scheduler.errors import InvalidRequest, NotFound, TokenError, TokenExpired, TokenRevoked
from scheduler.models import BookingStatus, Channel, Service
from scheduler.services import Scheduler
from scheduler.views import BookingInfo
from web.deps import container, pages
from web.pages.security import link_token

WEEK = timedelta(days=7)


def service_by_id(request: Request, service_id: int) -> Service:
    found = next((s for s in container(request).scheduler.services() if s.id == service_id), None)
    if found is None:
        raise NotFound("unknown service", field="service_id")
    return found


@dataclass(frozen=True, slots=True)
class ServiceText:
    """A service as the page shows it: in English where English texts are set."""

    id: int
    name: str
    description: str
    duration_minutes: int
    channels: list[str]
    address: str | None

    @classmethod
    def of(cls, service: Service, language: str) -> ServiceText:
        english = language == "en"
        return cls(
            id=service.id,
            name=(service.name_en if english and service.name_en else service.name),
            description=(
                service.description_en
                if english and service.description_en
                else service.description
            ),
            duration_minutes=service.duration_minutes,
            channels=list(service.channels),
            address=service.address,
        )


def service_name(request: Request, booking: BookingInfo) -> str:
    """The booked service's name in the page's language (the German one if it has no other)."""
    language = pages(request).language(request)
    for service in container(request).scheduler.services():
        if service.id == booking.service_id:
            return ServiceText.of(service, language).name
    return booking.service_name


def channel_of(service: Service, value: str | None) -> str | None:
    """The chosen channel, or the only one; None when a choice is still to be made."""
    if value:
        try:
            return Channel(value).value
        except ValueError:
            raise InvalidRequest("unknown channel", field="kanal") from None
    return service.channels[0] if len(service.channels) == 1 else None


def parse_start(value: str) -> datetime:
    """A slot start from the query: ISO 8601 with its offset (a '+' sent unencoded arrives as
    a space)."""
    try:
        start = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise InvalidRequest("bad start", field="start") from None
    if start.tzinfo is None:
        raise InvalidRequest("time without offset", field="start", code="naive_time")
    return start


def start_param(moment: datetime, scheduler: Scheduler) -> str:
    return moment.astimezone(scheduler.tz).isoformat()


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    slots: list[tuple[Slot, str]]  # each with the address that picks it


@dataclass(frozen=True, slots=True)
class Week:
    """One week of the slot picker and the ways out of it."""

    first: date
    last: date
    days: list[Day]
    next_free: tuple[Slot, str] | None
    previous_url: str | None
    next_url: str | None
    later_url: str | None  # the week of the next free slot, when this one has none


def week_view(
    scheduler: Scheduler,
    service: Service,
    channel: str,
    asked: date | None,
    week_url: Callable[[date], str],
    slot_url: Callable[[Slot], str],
) -> Week:
    """The Monday-to-Sunday week around `asked` (this week by default), never before today
    nor after the booking horizon, with its free slots."""
    today = scheduler.clock().astimezone(scheduler.tz).date()
    this_monday = today - timedelta(days=today.weekday())
    horizon = today + timedelta(days=service.horizon_days)
    monday = (asked or today) - timedelta(days=(asked or today).weekday())
    monday = min(max(monday, this_monday), horizon - timedelta(days=horizon.weekday()))
    sunday = monday + timedelta(days=6)
    first = max(monday, today)
    found = scheduler.slots(service.id, *scheduler.search_window(first), channel)
    local = scheduler.tz

    def day_of(slot: Slot) -> date:
        return slot.start.astimezone(local).date()

    this_week = [s for s in found if day_of(s) <= sunday]
    later = next((s for s in found if day_of(s) > sunday), None)
    if first == today:
        soonest = found[0] if found else None
    else:
        ahead = scheduler.slots(service.id, *scheduler.search_window(today), channel)
        soonest = ahead[0] if ahead else None
    return Week(
        first=monday,
        last=sunday,
        days=[
            Day(day, [(s, slot_url(s)) for s in slots])
            for day, slots in groupby(this_week, key=day_of)
        ],
        next_free=(soonest, slot_url(soonest)) if soonest else None,
        previous_url=week_url(monday - WEEK) if monday > this_monday else None,
        next_url=week_url(monday + WEEK) if monday + WEEK <= horizon else None,
        later_url=week_url(day_of(later)) if later and not this_week else None,
    )


def with_query(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}"


# -- the booking behind the link cookie ------------------------------------------------------


class LinkProblem(Exception):
    """No usable booking link: answered with the page that says what to do."""

    def __init__(self, kind: str, status_code: int) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status_code = status_code


def link_problem(error: TokenError) -> LinkProblem:
    if isinstance(error, TokenExpired):
        return LinkProblem("expired", 410)
    if isinstance(error, TokenRevoked):
        return LinkProblem("revoked", 410)
    return LinkProblem("invalid", 404)


def booking_from_token(request: Request, token: str) -> BookingInfo:
    try:
        return container(request).scheduler.booking_for_token(token)
    except TokenError as error:
        raise link_problem(error) from None


def cookie_booking(request: Request) -> tuple[str, BookingInfo]:
    """The link token from the cookie and its booking, or LinkProblem."""
    token = link_token(request)
    if token is None:
        raise LinkProblem("missing", 401)
    return token, booking_from_token(request, token)


def link_problem_page(request: Request, problem: LinkProblem) -> HTMLResponse:
    return pages(request).render(
        request, "manage/link_invalid.html", status_code=problem.status_code, kind=problem.kind
    )


def is_open(booking: BookingInfo) -> bool:
    return booking.status == BookingStatus.CONFIRMED
