"""Tables of the waiting list: who waits for which service, and the offers made to them.

An open offer is backed by a held booking (`Booking.status == HELD`, its hold expiring with the
offer) in the advisor's calendar: the overlap protection that keeps bookings apart keeps an
offered slot away from everybody else, and the slot search does not show it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow


class EntryStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # an offer is open; back to waiting when it is declined or expires
    BOOKED = "booked"
    LEFT = "left"  # through the citizen's link
    REMOVED = "removed"  # by staff, or erased by the retention purge


class OfferStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


class DayPart(enum.StrEnum):
    MORNING = "morning"  # a start before noon, local time
    AFTERNOON = "afternoon"


# An entry in one of these statuses is on the list: one per person and service.
ACTIVE = (EntryStatus.WAITING, EntryStatus.OFFERED)
_ACTIVE_SQL = "status IN ('waiting', 'offered')"


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("ix_waitlist_entries_queue", "service_id", "status", "created_at"),
        Index(
            "uq_waitlist_entries_active_person",
            "service_id",
            "email_key",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(50))
    # Local weekdays (Monday 0) and day parts that suit; empty: any.
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)
    day_parts: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8), default="de")
    status: Mapped[str] = mapped_column(String(16), default=EntryStatus.WAITING)
    # Raised when the entry's link must stop working (left, or erased).
    token_version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # Ahead of everyone who waits without it: the office cancelled this person's appointment
    # (scheduler/waitlist_priority.py).
    priority: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WaitlistOffer(Base):
    __tablename__ = "waitlist_offers"
    __table_args__ = (
        Index("ix_waitlist_offers_due", "status", "expires_at"),
        # At most one open offer per entry, whatever two workers try at once.
        Index(
            "uq_waitlist_offers_open_entry",
            "entry_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="CASCADE"), index=True
    )
    # The held booking while open, the confirmed one once accepted; gone after expiry.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), index=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    advisor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    channel: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=OfferStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The order of the line: people with priority first, then by the time of joining.
LINE_ORDER = (WaitlistEntry.priority.desc(), WaitlistEntry.created_at, WaitlistEntry.id)
