"""The waiting list: citizens join and leave it (the entry's link token as Bearer), answer an
offer (the offer's link token as Bearer), and staff see the lists and add callers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field

from notifications.waitlist_mail import ENTRY_PATH
from scheduler.models import Channel
from scheduler.waitlist import EntryInfo, JoinRequest, OfferInfo, QueueInfo
from scheduler.waitlist_models import DayPart, EntryStatus, OfferStatus
from web.api.public import AltchaProof
from web.deps import Actor, Services, Token, check_booking
from web.lanes import in_booking_lane
from web.presenters import booking_out, local
from web.schemas import BookingOut, Id, Int, Language, Name, Phone, ServiceRef

router = APIRouter(prefix="/api/v1")

Weekday = Annotated[Int, Field(ge=0, le=6, description="Monday 0 ... Sunday 6")]


class WaitlistIn(BaseModel):
    service_id: Id
    name: Name
    email: Annotated[EmailStr, Field(max_length=320)]
    channel: Channel
    phone: Phone | None = None
    weekdays: Annotated[list[Weekday], Field(max_length=7)] = []
    day_parts: Annotated[list[DayPart], Field(max_length=2)] = []
    language: Language = "de"


class WaitlistEntryOut(BaseModel):
    status: EntryStatus
    position: int | None = Field(description="place among those waiting; null unless waiting")
    manage_url: str
    service: ServiceRef
    channel: Channel
    weekdays: list[int]
    day_parts: list[DayPart]
    name: str
    email: str | None
    phone: str | None
    language: str
    created_at: str


class OfferOut(BaseModel):
    status: OfferStatus
    start: str
    end: str
    channel: Channel
    service: ServiceRef
    expires_at: str
    timezone: str


class WaitlistQueueOut(BaseModel):
    service_id: int
    service_name: str
    length: int = Field(description="people on the list: waiting, or with an offer open")
    waiting: int
    offered: int
    oldest: str | None = Field(description="when the longest-waiting person joined")


def _join_request(body: WaitlistIn) -> JoinRequest:
    return JoinRequest(
        service_id=body.service_id,
        name=body.name,
        email=str(body.email),
        channel=body.channel.value,
        phone=body.phone,
        weekdays=body.weekdays,
        day_parts=[part.value for part in body.day_parts],
        language=body.language,
    )


def entry_out(services: Services, entry: EntryInfo) -> WaitlistEntryOut:
    token = services.waitlist.entry_token(entry)
    return WaitlistEntryOut(
        status=EntryStatus(entry.status),
        position=entry.position,
        manage_url=f"{services.settings.base_url}{ENTRY_PATH}{token}",
        service=ServiceRef(id=entry.service_id, name=entry.service_name),
        channel=Channel(entry.channel),
        weekdays=entry.weekdays,
        day_parts=[DayPart(part) for part in entry.day_parts],
        name=entry.name,
        email=entry.email,
        phone=entry.phone,
        language=entry.language,
        created_at=local(entry.created_at, services.scheduler.tz),
    )


def offer_out(services: Services, offer: OfferInfo) -> OfferOut:
    tz = services.scheduler.tz
    return OfferOut(
        status=OfferStatus(offer.status),
        start=local(offer.start, tz),
        end=local(offer.end, tz),
        channel=Channel(offer.channel),
        service=ServiceRef(id=offer.service_id, name=offer.service_name),
        expires_at=local(offer.expires_at, tz),
        timezone=services.scheduler.config.timezone,
    )


def queue_out(services: Services, queue: QueueInfo) -> WaitlistQueueOut:
    return WaitlistQueueOut(
        service_id=queue.service_id,
        service_name=queue.service_name,
        length=queue.waiting + queue.offered,
        waiting=queue.waiting,
        offered=queue.offered,
        oldest=local(queue.oldest, services.scheduler.tz) if queue.oldest else None,
    )


@router.post(
    "/waitlist",
    response_model=WaitlistEntryOut,
    status_code=201,
    tags=["citizens"],
    responses={
        409: {"description": "this e-mail address already waits for this service"},
        429: {"description": "too many requests from this address; see Retry-After"},
    },
)
def join_waitlist(
    body: WaitlistIn, services: Services, request: Request, altcha: AltchaProof = None
) -> WaitlistEntryOut:
    check_booking(request, altcha)
    return entry_out(services, services.waitlist.join(_join_request(body)))


@router.get("/waitlist/entry", response_model=WaitlistEntryOut, tags=["citizens"])
def get_entry(token: Token, services: Services) -> WaitlistEntryOut:
    return entry_out(services, services.waitlist.entry_for_token(token))


@router.post("/waitlist/leave", response_model=WaitlistEntryOut, tags=["citizens"])
def leave_waitlist(token: Token, services: Services) -> WaitlistEntryOut:
    return entry_out(services, services.waitlist.leave(token))


@router.get("/offer", response_model=OfferOut, tags=["citizens"])
def get_offer(token: Token, services: Services) -> OfferOut:
    return offer_out(services, services.waitlist.offer_for_token(token))


@router.post(
    "/offer/accept",
    response_model=BookingOut,
    status_code=201,
    tags=["citizens"],
    responses={
        201: {"description": "the booking, as POST /api/v1/bookings answers"},
        409: {"description": "the offer has expired, was declined or is gone"},
    },
)
@in_booking_lane
def accept_offer(token: Token, services: Services) -> JSONResponse:
    booking = services.waitlist.accept(token)
    body = booking_out(services.scheduler, services.links, booking).model_dump(mode="json")
    return JSONResponse(body, status_code=201)


@router.post(
    "/offer/decline",
    response_model=OfferOut,
    tags=["citizens"],
    responses={409: {"description": "the offer was accepted: cancel the booking instead"}},
)
def decline_offer(token: Token, services: Services) -> OfferOut:
    return offer_out(services, services.waitlist.decline(token))


@router.get("/staff/waitlist", response_model=list[WaitlistQueueOut], tags=["staff"])
def list_waitlists(
    actor: Actor,
    services: Services,
    service_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[WaitlistQueueOut]:
    return [queue_out(services, q) for q in services.waitlist.queues(actor, service_id)]


@router.post(
    "/staff/waitlist",
    response_model=WaitlistEntryOut,
    status_code=201,
    tags=["staff"],
    responses={409: {"description": "this e-mail address already waits for this service"}},
)
def add_to_waitlist(body: WaitlistIn, actor: Actor, services: Services) -> WaitlistEntryOut:
    return entry_out(services, services.waitlist.add_by_staff(actor, _join_request(body)))
