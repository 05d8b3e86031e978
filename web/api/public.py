"""The citizens' API: no login; a booking is reached through its magic-link token."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from scheduler.availability import Slot
from scheduler.errors import SlotUnavailable
from scheduler.models import Channel
from scheduler.requests import BookingRequest
from web.api.idempotency import REPLAYED, IdempotencyKey, idempotency
from web.deps import Services, Token, acheck_booking, acheck_hold, acheck_slot_search
from web.kept_searches import FORTNIGHT_AFTER
from web.lanes import in_booking_lane
from web.presenters import booking_out, invite_response, local, needs_fields
from web.schemas import (
    BookingIn,
    BookingOut,
    HoldIn,
    HoldOut,
    IsoDate,
    RescheduleIn,
    ServiceOut,
    SlotsOut,
)

router = APIRouter(prefix="/api/v1", tags=["citizens"])

# A solved ALTCHA challenge (GET /api/v1/altcha/challenge) earns the normal booking limit;
# without one, a stricter limit applies.
AltchaProof = Annotated[
    str | None,
    Header(
        alias="X-Altcha",
        max_length=8000,
        description="optional: a solved ALTCHA challenge, base64, as the widget submits it",
    ),
]


@router.get("/services", response_model=list[ServiceOut])
def list_services(services: Services) -> list[ServiceOut]:
    return [
        ServiceOut.model_validate(s, from_attributes=True) for s in services.scheduler.services()
    ]


@router.get(
    "/services/{service_id}/slots",
    response_model=SlotsOut,
    responses={429: {"description": "too many searches from this address; see Retry-After"}},
)
async def list_slots(
    service_id: int,
    services: Services,
    request: Request,
    start: IsoDate,
    end: Annotated[IsoDate | None, Query(description="inclusive; default: start + 13 days")] = None,
    channel: Channel | None = None,
) -> Response:
    await acheck_slot_search(request)
    scheduler = services.scheduler
    last = end or start + FORTNIGHT_AFTER

    def answer(found: list[Slot]) -> Response:
        body = services.slot_answers.body(found, scheduler.config.timezone, scheduler.tz)
        return Response(body, media_type="application/json")

    # When the slots are released, a thousand searches a second ask what was just computed:
    # they are answered here, and the one that computes it anew does not queue for a request
    # thread behind the bookings either (one per search at a time, scheduler/slot_cache.py).
    kept = scheduler.kept_slots(service_id, start, last, channel)
    if kept is not None:
        return answer(kept)
    return await asyncio.to_thread(
        lambda: answer(scheduler.slots(service_id, start, last, channel))
    )


@router.post(
    "/holds",
    response_model=HoldOut,
    status_code=201,
    responses={429: {"description": "too many holds from this address; see Retry-After"}},
)
async def hold_slot(
    body: HoldIn, services: Services, request: Request, altcha: AltchaProof = None
) -> HoldOut:
    await acheck_hold(request, altcha)
    scheduler = services.scheduler
    hold = await services.booking_lane.run(
        lambda: scheduler.hold(body.service_id, body.start, body.channel.value), inline=True
    )
    return HoldOut(
        hold_token=hold.token,
        service_id=hold.service_id,
        channel=hold.channel,
        start=local(hold.start, scheduler.tz),
        end=local(hold.end, scheduler.tz),
        expires_at=local(hold.expires_at, scheduler.tz),
    )


@router.delete("/holds/{hold_token}", status_code=204)
def release_hold(hold_token: str, services: Services) -> Response:
    services.scheduler.release_hold(hold_token)
    return Response(status_code=204)


@router.post(
    "/bookings",
    response_model=BookingOut,
    status_code=201,
    responses={
        409: {"description": "the slot is no longer free"},
        422: {"description": "invalid input, or an X-Altcha that is not a valid, unused proof"},
        429: {"description": "too many bookings from this address; see Retry-After"},
    },
)
async def create_booking(
    body: BookingIn,
    services: Services,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    altcha: AltchaProof = None,
) -> JSONResponse:
    await acheck_booking(request, altcha)
    scheduler, links = services.scheduler, services.links
    # In a crowd most requests are for a time that was offered a moment ago and has been
    # taken since: refused here, they leave the request threads to the bookings that can
    # succeed. Not with a hold (its time is no longer offered) or a key (a replay answers).
    if (
        body.hold_token is None
        and idempotency_key is None
        and scheduler.known_taken(body.service_id, body.channel.value, body.start)
    ):
        raise SlotUnavailable()
    once = idempotency(idempotency_key, body)
    booking = BookingRequest(
        service_id=body.service_id,
        start=body.start,
        channel=body.channel.value,
        name=body.name,
        email=str(body.email),
        phone=body.phone,
        language=body.language,
        notes=body.notes,
        hold_token=body.hold_token,
        **needs_fields(body.needs),
    )
    placed = await services.booking_lane.run(
        lambda: scheduler.book(
            booking,
            idempotency=once,
            respond=lambda info: booking_out(scheduler, links, info).model_dump(mode="json"),
        ),
        inline=True,
    )
    # A replay answers as the booking did: the record keeps the answer, the status is ours.
    headers = REPLAYED if placed.replayed else None
    return JSONResponse(placed.response, status_code=201, headers=headers)


@router.get("/booking", response_model=BookingOut)
def get_booking(token: Token, services: Services) -> BookingOut:
    booking = services.scheduler.booking_for_token(token)
    return booking_out(services.scheduler, services.links, booking)


@router.get(
    "/booking/invite.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def get_invite(token: Token, services: Services) -> Response:
    booking = services.scheduler.booking_for_token(token)
    return invite_response(services, booking)


@router.post("/booking/cancel", response_model=BookingOut)
def cancel_booking(token: Token, services: Services) -> BookingOut:
    scheduler = services.scheduler
    claims = scheduler.booking_for_token(token)
    booking = scheduler.cancel(claims.reference, claims.token_version)
    return booking_out(scheduler, services.links, booking)


@router.post("/booking/reschedule", response_model=BookingOut)
@in_booking_lane
def reschedule_booking(body: RescheduleIn, token: Token, services: Services) -> BookingOut:
    scheduler = services.scheduler
    claims = scheduler.booking_for_token(token)
    booking = scheduler.reschedule(claims.reference, body.start, claims.token_version)
    return booking_out(scheduler, services.links, booking)
