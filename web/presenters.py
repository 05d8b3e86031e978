"""Domain read models -> JSON bodies, with times in the office's zone and the magic links."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Response

from notifications.ics import booking_invite, organizer
from scheduler.models import Channel
from scheduler.requests import BookingRequest
from scheduler.services import Scheduler
from scheduler.views import BookingInfo
from web.container import Container
from web.links import Links
from web.schemas import BookingOut, Needs, ServiceRef, StaffBookingIn, StaffBookingOut


def local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat()


def needs_fields(needs: Needs | None) -> dict[str, Any]:
    """The needs of a booking request body as `BookingRequest` fields."""
    return needs.model_dump() if needs is not None else {}


def booking_out(scheduler: Scheduler, links: Links, booking: BookingInfo) -> BookingOut:
    urls = links.urls(booking)
    return BookingOut(
        reference=booking.reference,
        status=booking.status,
        start=local(booking.start, scheduler.tz),
        end=local(booking.end, scheduler.tz),
        channel=booking.channel,
        manage_url=urls.manage,
        join_url=urls.join,
        service=ServiceRef(id=booking.service_id, name=booking.service_name),
        timezone=scheduler.config.timezone,
        name=booking.name,
        email=booking.email,
        phone=booking.phone,
        language=booking.language,
        notes=booking.notes,
        address=booking.address if booking.channel == Channel.IN_PERSON else None,
        needs=Needs(
            interpreter_language=booking.interpreter_language,
            sign_language=booking.sign_language,
            wheelchair_access=booking.wheelchair_access,
        ),
    )


def staff_booking_out(scheduler: Scheduler, links: Links, booking: BookingInfo) -> StaffBookingOut:
    return StaffBookingOut(
        **booking_out(scheduler, links, booking).model_dump(),
        advisor_id=booking.advisor_id,
        advisor_name=booking.advisor_name,
        created_at=local(booking.created_at, scheduler.tz),
    )


def invite_response(services: Container, booking: BookingInfo) -> Response:
    """The booking's calendar invite as a download (the API's and the manage page's)."""
    invite = booking_invite(
        booking,
        tz=services.scheduler.tz,
        base_url=services.settings.base_url,
        organizer=organizer(booking, services.settings.mail_from),
        join_url=services.links.urls(booking).join,
        now=services.scheduler.clock(),
    )
    return Response(
        invite.content,
        media_type=f"text/calendar; charset=utf-8; method={invite.method}",
        headers={"Content-Disposition": f'attachment; filename="{booking.reference}.ics"'},
    )


def staff_booking_request(body: StaffBookingIn) -> BookingRequest:
    """What staff book on a citizen's behalf (the API's and the hotline desk's)."""
    return BookingRequest(
        service_id=body.service_id,
        start=body.start,
        channel=body.channel.value,
        name=body.name,
        email=str(body.email) if body.email else None,
        phone=body.phone,
        language=body.language,
        notes=body.notes,
        hold_token=body.hold_token,
        **needs_fields(body.needs),
        advisor_id=body.advisor_id,
    )
