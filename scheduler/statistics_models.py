"""Tables of the statistics (scheduler/statistics.py): counters with no personal data, kept
where the rows they count are deleted by the retention purge or never stored at all.

A citizen's search is counted by its local day (the office's time zone). A purged callback
request or waiting-list entry is counted by the UTC hour it was made in: the purge runs without
the office's time zone, and an hour maps to exactly one local day wherever the offset is whole
hours, so the kept counters fall into the same days and weeks as the live rows they replace.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime
from scheduler.models import Booking


class BookingCanceller(Base):
    """Who cancelled a booking: "citizen", "staff" or "office" (an absence or closure moved
    the appointment out of the way). Written with the cancellation; the audit entry that says
    the same goes with the booking's personal data, this row stays."""

    __tablename__ = "booking_cancellers"

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    cancelled_by: Mapped[str] = mapped_column(String(16))


class SearchWait(Base):
    """How many slot searches, per service, day and channel ("" for any), saw their first free
    slot `wait_days` whole days ahead (-1: none in the searched window)."""

    __tablename__ = "stats_search_waits"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    wait_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class CallbackTally(Base):
    """Callback requests the purge deleted, counted by the hour they were made in."""

    __tablename__ = "stats_callbacks"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    attempted: Mapped[int] = mapped_column(Integer, default=0)
    reached: Mapped[int] = mapped_column(Integer, default=0)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    # Sum over the attempted requests of the seconds from the request to its first attempt.
    first_attempt_seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class WaitlistTally(Base):
    """Waiting-list entries the purge deleted, counted by the hour they joined in."""

    __tablename__ = "stats_waitlist"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    offered: Mapped[int] = mapped_column(Integer, default=0)  # entries with an offer
    offers: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    # Sum over the offered entries of the seconds from joining to the first offer.
    offer_seconds: Mapped[int] = mapped_column(BigInteger, default=0)


# What the statistics read of every booking in a period, in one index: the scan of a year reads
# the index alone, not the rows with their personal data and notes.
Index(
    "ix_bookings_statistics",
    Booking.start_at,
    Booking.service_id,
    Booking.status,
    Booking.channel,
    Booking.created_by_id,
    Booking.created_at,
)
