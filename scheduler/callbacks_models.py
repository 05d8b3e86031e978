"""Tables of the callback queue (Rückruf): a citizen's request to be called back, and every
attempt staff made to reach them. Every time is stored in UTC."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow


class CallbackStatus(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    BOOKED = "booked"  # an appointment was made from it (`booking_id`)
    SETTLED = "settled"  # settled on the phone
    CLOSED = "closed"  # given up after the configured failed attempts, or a wrong number
    WITHDRAWN = "withdrawn"  # by the citizen, through the link in the confirmation


# Statuses in which the request still waits for staff.
PENDING = (CallbackStatus.OPEN, CallbackStatus.CLAIMED)


class AttemptOutcome(enum.StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    WRONG_NUMBER = "wrong_number"


class CallbackRequest(Base):
    __tablename__ = "callback_requests"
    __table_args__ = (
        Index("ix_callback_requests_queue", "status", "due_at"),
        Index("ix_callback_requests_phone_key_service", "phone_key", "service_id"),
        Index("ix_callback_requests_email_key_service", "email_key", "service_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(320))
    # The keys the cap on open requests per person counts by: the phone number's digits, and
    # the e-mail address folded as for bookings (scheduler/addresses.py).
    phone_key: Mapped[str] = mapped_column(String(50))
    email_key: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="de")
    note: Mapped[str] = mapped_column(Text, default="")
    # [{"start": ISO UTC, "end": ISO UTC}, ...], sorted by start; 1 to 3 of them.
    windows: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    # The start of the earliest window: the queue's order.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    # Raised to revoke the withdraw link.
    token_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(
        ForeignKey("callback_requests.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
