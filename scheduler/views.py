"""Plain, detached read models that the booking engine hands to the transports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.models import Booking


@dataclass(frozen=True, slots=True)
class BookingInfo:
    id: int
    reference: str
    status: str
    service_id: int
    service_name: str
    advisor_id: int
    advisor_name: str
    channel: str
    start: datetime
    end: datetime
    name: str
    email: str | None
    phone: str | None
    language: str
    notes: str
    token_version: int
    sequence: int
    created_at: datetime
    address: str | None
    team_name: str | None = None
    team_email: str | None = None
    interpreter_language: str | None = None
    sign_language: bool = False
    wheelchair_access: bool = False

    @classmethod
    def of(cls, booking: Booking) -> BookingInfo:
        return cls(
            id=booking.id,
            reference=booking.reference or "",
            status=booking.status,
            service_id=booking.service_id,
            service_name=booking.service.name,
            advisor_id=booking.advisor_id,
            # Only when already loaded: a citizen's answer does not need it, and loading it
            # would cost a query on the hottest path (booking).
            advisor_name=booking.advisor.name if "advisor" in booking.__dict__ else "",
            channel=booking.channel,
            start=booking.start_at,
            end=booking.end_at,
            name=booking.name,
            email=booking.email,
            phone=booking.phone,
            language=booking.language,
            notes=booking.notes,
            token_version=booking.token_version,
            sequence=booking.sequence,
            created_at=booking.created_at,
            address=booking.service.address,
            team_name=booking.service.team.name if booking.service.team else None,
            team_email=booking.service.team.email if booking.service.team else None,
            interpreter_language=booking.interpreter_language,
            sign_language=booking.sign_language,
            wheelchair_access=booking.wheelchair_access,
        )


# The fields of BookingInfo that are the booking's columns as written.
AS_WRITTEN = (
    "reference",
    "status",
    "service_id",
    "advisor_id",
    "channel",
    "name",
    "email",
    "phone",
    "language",
    "notes",
    "token_version",
    "sequence",
    "created_at",
    "interpreter_language",
    "sign_language",
    "wheelchair_access",
)


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What booking needs of a service, read in one plain query (the attribute names are the
    model's, so that rules and checks take either)."""

    id: int
    name: str
    address: str | None
    team_name: str | None
    team_email: str | None
    duration_minutes: int
    buffer_minutes: int
    slot_interval_minutes: int | None
    min_notice_minutes: int
    horizon_days: int
    channels: list[str]


@dataclass(frozen=True, slots=True)
class HoldInfo:
    token: str
    service_id: int
    channel: str
    start: datetime
    end: datetime
    expires_at: datetime
