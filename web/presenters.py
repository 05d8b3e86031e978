"""Domain read models -> JSON bodies, with times in the office's zone and the magic links."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.models import Channel
from scheduler.services import Scheduler
from scheduler.views import BookingInfo
from web.schemas import BookingOut, Needs, ServiceRef, StaffBookingOut


def local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat()


def needs_fields(needs: Needs | None) -> dict[str, Any]:
    """The needs of a booking request body as `BookingRequest` fields."""
    return needs.model_dump() if needs is not None else {}


def booking_out(scheduler: Scheduler, base_url: str, booking: BookingInfo) -> BookingOut:
    urls = scheduler.urls(booking, base_url)
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


def staff_booking_out(scheduler: Scheduler, base_url: str, booking: BookingInfo) -> StaffBookingOut:
    return StaffBookingOut(
        **booking_out(scheduler, base_url, booking).model_dump(),
        advisor_id=booking.advisor_id,
        advisor_name=booking.advisor_name,
        created_at=local(booking.created_at, scheduler.tz),
    )
