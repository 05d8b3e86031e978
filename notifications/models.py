"""The outbox: every message to be sent, written in the transaction of the change it tells."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, insert
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its time (`not_before`) or for a retry
    SENDING = "sending"  # claimed by a worker until `locked_until`
    SENT = "sent"
    KEPT = "kept"  # development without SMTP: kept for the /dev/mail page instead of sent
    DEAD = "dead"  # given up: rejected for good or out of attempts; `last_error` says why
    SUPERSEDED = "superseded"  # a reminder made obsolete by a reschedule or cancellation


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    # What the reminder or notice needs beyond the booking (the previous time of a reschedule).
    params: Mapped[dict[str, str | None]] = mapped_column(JSON, default=dict)
    # Rendered when sent, from the booking as it is then; kept as the record of what went out.
    subject: Mapped[str | None] = mapped_column(String(500))
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    ics_method: Mapped[str | None] = mapped_column(String(16))
    # Stable across retries, so a receiving system can drop a duplicate (RFC 5322 §3.6.4).
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    # Not sent at or after this moment (a reminder once its appointment has begun).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Messages are written by a Core statement built once: on the booking path the unit of work,
# and building the statement anew, cost more than the insert.
NEW_MESSAGES = insert(OutboxMessage)
