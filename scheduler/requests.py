"""What the booking use case takes and gives back, and the rules a booking request must keep.

The rules live here and nowhere else: the citizens' API, the staff API, the booking pages and
the hotline desk all hand their request to `Scheduler.book`, which checks it with
`BookingRequest.check` before anything is written. The transports only word the errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.addresses import cap_key
from scheduler.errors import (
    ChannelNotOffered,
    EmailRequired,
    NotesTooLong,
    PhoneRequired,
    WheelchairAccessInPersonOnly,
)
from scheduler.models import Booking, BookingStatus, Channel
from scheduler.views import BookingInfo

# What an advisor reads before the consultation: a few sentences, not a case file.
NOTES_MAX = 500


@dataclass(frozen=True, slots=True)
class BookingRequest:
    service_id: int
    start: datetime
    channel: str
    name: str
    email: str | None
    phone: str | None = None
    language: str = "de"
    notes: str = ""
    hold_token: str | None = None
    advisor_id: int | None = None
    created_by_id: int | None = None
    interpreter_language: str | None = None
    sign_language: bool = False
    wheelchair_access: bool = False

    @property
    def email_key(self) -> str | None:
        """The key the cap of open bookings per person counts by (scheduler/addresses.py);
        `email` itself stays as typed, for the mail."""
        return cap_key(self.email) if self.email and self.email.strip() else None

    def check(self, channels: Sequence[str]) -> None:
        """Refuse a request that can never be booked as given, whoever sends it; `channels`
        are those the service offers."""
        if self.channel not in channels:
            raise ChannelNotOffered(channel=self.channel)
        if self.channel == Channel.PHONE and not (self.phone or "").strip():
            raise PhoneRequired(field="phone")
        # The link to the video room only ever reaches the citizen by e-mail.
        if self.channel == Channel.VIDEO and not (self.email or "").strip():
            raise EmailRequired(field="email")
        if len(self.notes) > NOTES_MAX:
            raise NotesTooLong(field="notes", maximum=NOTES_MAX)
        if self.wheelchair_access and self.channel != Channel.IN_PERSON:
            raise WheelchairAccessInPersonOnly(field="wheelchair_access")


@dataclass(frozen=True, slots=True)
class Placed:
    """A booking just made, or None when an idempotency key replays an earlier answer; the
    answer as the transport rendered it inside the booking's transaction."""

    booking: BookingInfo | None
    response: dict[str, Any] | None
    replayed: bool = False


def hold_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def claimed_hold(session: Session, request: BookingRequest, now: datetime) -> Booking | None:
    """The live hold whose token `request` gives, if it is for the same service, time and
    channel."""
    assert request.hold_token is not None
    booking = session.scalar(
        select(Booking).where(
            Booking.hold_token_hash == hold_token_hash(request.hold_token),
            Booking.status == BookingStatus.HELD,
            Booking.hold_expires_at > now,
        )
    )
    matches = booking is not None and (
        booking.service_id == request.service_id
        and booking.start_at == request.start.astimezone(UTC)
        and booking.channel == request.channel
    )
    return booking if matches else None
