"""Request and response bodies of the JSON API (the public v1 contract and the staff API)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
)

from scheduler.models import (
    LONGEST_BUFFER_MINUTES,
    LONGEST_DURATION_MINUTES,
    BookingStatus,
    Channel,
    Role,
)
from scheduler.requests import NOTES_MAX

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()/.-]{3,40}$")]
ShortName = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=50, pattern=r"^[^\x00-\x1f\x7f]*$")
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
# Integers and booleans in JSON bodies are strict: `false`, `1.0` or `"5"` are refused rather
# than read as 0, 1 or 5 (the contract says integer/boolean, and a coerced value hides a bug).
Int = Annotated[int, Field(strict=True)]
Bool = Annotated[bool, Field(strict=True)]
Minutes = Annotated[Int, Field(ge=0, le=24 * 60)]
Id = Annotated[Int, Field(ge=1, le=2**62)]


def _iso_date(value: object) -> object:
    # pydantic reads a number (or a numeric string) as seconds since 1970: `start=0` would be
    # 1970-01-01. The contract says YYYY-MM-DD.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    if not isinstance(value, (str, date)):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]

# Absences far in the past or future are typing errors (year 1, 8383), and such dates overflow
# the date arithmetic around them; see docs/api.md.
ABSENCE_YEARS = (2000, 2099)


def _plausible(value: datetime) -> datetime:
    if not ABSENCE_YEARS[0] <= value.year <= ABSENCE_YEARS[1]:
        raise ValueError(f"expected a time in the years {ABSENCE_YEARS[0]} to {ABSENCE_YEARS[1]}")
    return value


AbsenceTime = Annotated[AwareDatetime, AfterValidator(_plausible)]


def _hh_mm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("expected HH:MM")
    return value


HHMM = Annotated[str, AfterValidator(_hh_mm)]


class ServiceOut(BaseModel):
    id: int
    name: str
    duration_minutes: int
    channels: list[Channel]
    description: str = ""
    buffer_minutes: int = 0
    min_notice_minutes: int = 0
    horizon_days: int = 0
    team_id: int | None = None
    name_en: str | None = None
    description_en: str = ""


class ServiceIn(BaseModel):
    name: Name
    duration_minutes: Annotated[Int, Field(ge=5, le=LONGEST_DURATION_MINUTES)]
    channels: Annotated[list[Channel], Field(min_length=1)]
    buffer_minutes: Annotated[Int, Field(ge=0, le=LONGEST_BUFFER_MINUTES)] = 0
    min_notice_minutes: Annotated[Int, Field(ge=0, le=60 * 24 * 30)] = 120
    horizon_days: Annotated[Int, Field(ge=1, le=366)] = 60
    slot_interval_minutes: Annotated[Int, Field(ge=5, le=8 * 60)] | None = None
    description: Annotated[str, Field(max_length=2000)] = ""
    address: Annotated[str, Field(max_length=500)] | None = None
    team_id: Id | None = None
    name_en: Name | None = None
    description_en: Annotated[str, Field(max_length=2000)] = ""


class SlotOut(BaseModel):
    start: str
    end: str


class SlotsOut(BaseModel):
    timezone: str
    slots: list[SlotOut]


class HoldIn(BaseModel):
    service_id: Id
    start: AwareDatetime
    channel: Channel


class HoldOut(BaseModel):
    hold_token: str
    service_id: int
    channel: Channel
    start: str
    end: str
    expires_at: str


def _blank_to_none(value: str | None) -> str | None:
    return value or None


class Needs(BaseModel):
    """What the consultation needs to be accessible to the person who booked it."""

    interpreter_language: Annotated[ShortName | None, AfterValidator(_blank_to_none)] = None
    sign_language: Bool = False
    wheelchair_access: Bool = False


class BookingIn(BaseModel):
    service_id: Id
    start: AwareDatetime
    channel: Channel
    name: Name
    email: Annotated[EmailStr, Field(max_length=320)]
    phone: Phone | None = None
    language: Language = "de"
    # The length allowed is the engine's rule (notes_too_long); max_length only guards the body.
    notes: Annotated[
        str,
        Field(
            max_length=2 * NOTES_MAX,
            pattern=r"^[^\x00]*$",
            description=f"at most {NOTES_MAX} characters",
        ),
    ] = ""
    hold_token: Annotated[str, Field(max_length=100)] | None = None
    needs: Needs | None = None


class StaffBookingIn(BookingIn):
    """A booking on a citizen's behalf: the e-mail may be left out where the engine's rules
    allow it (a phone callback, a visit)."""

    # A narrower field in the base class (the citizens' contract requires the e-mail).
    email: Annotated[EmailStr, Field(max_length=320)] | None = None  # type: ignore[assignment]  # optional here
    advisor_id: Id | None = None


class ServiceRef(BaseModel):
    id: int
    name: str


class BookingOut(BaseModel):
    reference: str
    status: BookingStatus
    start: str
    end: str
    channel: Channel
    manage_url: str
    join_url: str | None
    service: ServiceRef
    timezone: str
    name: str
    email: str | None
    phone: str | None
    language: str
    notes: str
    address: str | None = None
    needs: Needs = Needs()


class StaffBookingOut(BookingOut):
    advisor_id: int
    advisor_name: str
    created_at: str


class RescheduleIn(BaseModel):
    start: AwareDatetime


class CredentialsIn(BaseModel):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]
    # The second factor's code or a recovery code, for an account that has one; without it
    # such an account gets 401 `second_factor_required`.
    totp: Annotated[str | None, Field(max_length=40)] = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2.0 token type, not a secret
    expires_in: int


class AdvisorIn(BaseModel):
    name: Name
    email: Annotated[EmailStr, Field(max_length=320)]
    service_ids: Annotated[list[Id], Field(max_length=200)] = []
    role: Role = Role.ADVISOR
    password: Annotated[str, Field(min_length=10, max_length=1000)] | None = None
    team_id: Id | None = None


class AdvisorOut(BaseModel):
    id: int
    name: str
    email: str
    service_ids: list[int]
    role: Role
    team_id: int | None


class WeeklyHoursIn(BaseModel):
    weekday: Annotated[Int, Field(ge=0, le=6)]
    start: HHMM
    end: HHMM


class AbsenceIn(BaseModel):
    start: AbsenceTime
    end: AbsenceTime
    reason: Annotated[str, Field(max_length=200)] = ""


class DisplacedOut(BaseModel):
    """An appointment an absence or closure day hit: moved to `advisor_id` at the same time
    (same reference and links), or cancelled with an apology (`advisor_id` null)."""

    reference: str
    start: str
    outcome: Literal["moved", "cancelled"]
    advisor_id: int | None = None


class AbsenceOut(BaseModel):
    id: int
    start: str
    end: str
    reason: str
    # Only in the answer to adding one: what it did to the appointments in it.
    displaced: list[DisplacedOut] = []


class TeamIn(BaseModel):
    name: Name
    email: Annotated[EmailStr, Field(max_length=320)] | None = None


class TeamOut(BaseModel):
    id: int
    name: str
    email: str | None


class ClosureIn(BaseModel):
    day: IsoDate
    name: Annotated[str, Field(max_length=200)] = ""


class ClosureOut(BaseModel):
    id: int
    day: date
    name: str
    # Only in the answer to adding one: the appointments that day, all cancelled.
    displaced: list[DisplacedOut] = []


def _outcome(status: BookingStatus) -> BookingStatus:
    if status not in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW):
        raise ValueError("outcome must be completed or no_show")
    return status


class OutcomeIn(BaseModel):
    outcome: Annotated[BookingStatus, AfterValidator(_outcome)]


class AuditOut(BaseModel):
    at: str
    actor_id: int | None
    action: str
    detail: str


class RoomOut(BaseModel):
    id: str
    title: str
    booking_reference: str | None
    opens_at: str
    closes_at: str
    ended: bool


class AdhocRoomIn(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
]


class InviteIn(BaseModel):
    label: ShortText = ""


class InviteOut(BaseModel):
    id: int
    room_id: str
    role: str
    label: str
    url: str = Field(description="The join link to send; it carries the invitation")
    revoked: bool


class AdhocRoomOut(BaseModel):
    room: RoomOut
    guest: InviteOut


class TicketIn(BaseModel):
    name: ShortText = Field(
        default="", description="The name the host sees; the booking's name by default"
    )


class ParticipantOut(BaseModel):
    id: str
    role: str
    name: str


class TicketOut(BaseModel):
    ticket: str = Field(description="Send it in the first message on the signaling WebSocket")
    expires_at: str
    signaling_url: str
    room: RoomOut
    participant: ParticipantOut
