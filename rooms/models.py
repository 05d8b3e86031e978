"""Tables of the video rooms. Who is inside a room right now is not stored here: that lives in
the signaling bus, for as long as the connections do. Nothing about media is ever stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow


class Room(Base):
    """A booking's room (made on first use) or an ad-hoc room opened by staff.

    A booking's room takes its window from the booking, so a reschedule moves it;
    an ad-hoc room has its own `opens_at`/`closes_at`.
    """

    __tablename__ = "rooms"

    # Public and unguessable: it appears in tickets and signaling messages.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoomInvite(Base):
    """A link into one room for someone without a booking: an interpreter, a carer, or the
    caller of an ad-hoc room. The host can revoke it."""

    __tablename__ = "room_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
