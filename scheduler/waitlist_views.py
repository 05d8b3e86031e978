"""The waiting list's plain data: settings, requests, what the use cases answer, and the
events its mails are written from (`notifications/waitlist_mail.py`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

# Set in `session.info` by a change that may free a slot: after its commit, the offer loop is
# woken (web/container.py) instead of waiting for its next round.
NUDGE = "waitlist_nudge"


@dataclass(frozen=True, slots=True)
class WaitlistConfig:
    offer_lifetime: timedelta = timedelta(hours=24)
    shortest_offer: timedelta = timedelta(minutes=15)
    # How long the link of an entry works from joining; the entry may wait that long.
    entry_link_lifetime: timedelta = timedelta(days=365)
    # How long an offer's link works after the offered appointment's end.
    offer_link_grace: timedelta = timedelta(days=7)
    # Entries per service looked at in one run of the offer loop (the oldest first).
    batch: int = 500
    # Slots tried for one entry in one run before it waits for the next run.
    tries_per_entry: int = 8


class WaitlistEventKind(StrEnum):
    JOINED = "joined"
    OFFERED = "offered"
    OFFER_EXPIRED = "offer_expired"


@dataclass(frozen=True, slots=True)
class WaitlistEvent:
    kind: WaitlistEventKind
    entry_id: int
    email: str | None
    language: str
    at: datetime
    offer_id: int | None = None
    expires_at: datetime | None = None


WaitlistListener = Callable[[Session, WaitlistEvent], None]


@dataclass(frozen=True, slots=True)
class JoinRequest:
    service_id: int
    name: str
    email: str | None
    channel: str
    phone: str | None = None
    weekdays: Sequence[int] = ()
    day_parts: Sequence[str] = ()
    language: str = "de"
    created_by_id: int | None = None


@dataclass(frozen=True, slots=True)
class EntryInfo:
    id: int
    service_id: int
    service_name: str
    name: str
    email: str | None
    channel: str
    phone: str | None
    weekdays: list[int]
    day_parts: list[str]
    language: str
    status: str
    token_version: int
    created_at: datetime
    position: int | None  # among the waiting entries of the service; None unless waiting


@dataclass(frozen=True, slots=True)
class OfferInfo:
    id: int
    entry_id: int
    status: str  # as it is now: an open offer past its expiry is "expired"
    service_id: int
    service_name: str
    channel: str
    start: datetime
    end: datetime
    expires_at: datetime
    created_at: datetime
    booking_id: int | None
    name: str
    language: str


@dataclass(frozen=True, slots=True)
class QueueInfo:
    service_id: int
    service_name: str
    waiting: int
    offered: int
    oldest: datetime | None


@dataclass(slots=True)
class RunResult:
    expired: int = 0
    offered: int = 0
    services: int = 0
    offers: list[int] = field(default_factory=list)


class Outcome(StrEnum):
    OFFERED = "offered"
    SLOT_TAKEN = "slot_taken"
    ENTRY_GONE = "entry_gone"
