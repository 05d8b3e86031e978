"""Tables of the booking engine. Every time is stored in UTC (`UTCDateTime`)."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.db import Base, UTCDateTime, utcnow


class Channel(enum.StrEnum):
    VIDEO = "video"
    PHONE = "phone"
    IN_PERSON = "in_person"


class Role(enum.StrEnum):
    ADMIN = "admin"
    ADVISOR = "advisor"
    HOTLINE = "hotline"


class BookingStatus(enum.StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


# Statuses whose time range is taken; the exclusion constraint and the slot search agree on it.
OCCUPYING = (
    BookingStatus.HELD,
    BookingStatus.CONFIRMED,
    BookingStatus.COMPLETED,
    BookingStatus.NO_SHOW,
)

staff_services = Table(
    "staff_services",
    Base.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # A deactivated team is offered nowhere; its services must have left it first.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())


# The most a service may ask of an advisor's time (web/schemas.py keeps services within it):
# no booking blocks more than LONGEST_BOOKING, so a calendar read need not look further back.
LONGEST_DURATION_MINUTES = 8 * 60
LONGEST_BUFFER_MINUTES = 24 * 60
LONGEST_BOOKING = timedelta(minutes=LONGEST_DURATION_MINUTES + LONGEST_BUFFER_MINUTES)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        CheckConstraint("buffer_minutes >= 0", name="buffer_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # English texts for the pages; None / "" means the page shows the German ones.
    name_en: Mapped[str | None] = mapped_column(String(200))
    description_en: Mapped[str] = mapped_column(Text, default="")
    duration_minutes: Mapped[int] = mapped_column(Integer)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # None: slots follow each other at duration + buffer.
    slot_interval_minutes: Mapped[int | None] = mapped_column(Integer)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=120)
    horizon_days: Mapped[int] = mapped_column(Integer, default=60)
    channels: Mapped[list[str]] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(500))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Whether the advisors of this service see and work its callback queue (hotline always do).
    advisors_take_callbacks: Mapped[bool] = mapped_column(default=False)

    team: Mapped[Team | None] = relationship(lazy="joined")
    advisors: Mapped[list[Staff]] = relationship(
        secondary=staff_services, back_populates="services", order_by="Staff.id"
    )


class Staff(Base):
    """A staff account. Advisors are the staff linked to services; admins and hotline may be too."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Raised on password change or forced logout: every access token with an older one dies.
    token_version: Mapped[int] = mapped_column(default=1)
    # Raised to revoke the secret address of the advisor's calendar feed.
    feed_version: Mapped[int] = mapped_column(default=1)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Asked for the day's agenda by e-mail (notifications/agenda.py).
    agenda_mail: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Leads `team_id`: sees that team's statistics (web/pages/staff_stats.py).
    team_lead: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[Service]] = relationship(
        secondary=staff_services, back_populates="advisors", order_by="Service.id"
    )
    weekly_hours: Mapped[list[WeeklyHours]] = relationship(
        cascade="all, delete-orphan", order_by="(WeeklyHours.weekday, WeeklyHours.start)"
    )


class WeeklyHours(Base):
    __tablename__ = "weekly_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint('start < "end"', name="start_before_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    # "HH:MM" local wall-clock time in the office's time zone: a slot never shifts with DST.
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))


class Absence(Base):
    __tablename__ = "absences"
    __table_args__ = (CheckConstraint("start_at < end_at", name="start_before_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")


class ClosureDay(Base):
    """A day the whole office is closed beyond the public holidays (e.g. a staff outing)."""

    __tablename__ = "closure_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Booking(Base):
    """An appointment, or a short hold on a slot while a citizen fills in the form.

    `blocked_until` is the end plus the service's buffer: the range [start_at, blocked_until)
    is what the advisor cannot give to anyone else, and what the PostgreSQL exclusion
    constraint (see the migration) keeps free of overlaps.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("start_at < end_at", name="start_before_end"),
        CheckConstraint("end_at <= blocked_until", name="end_before_blocked_until"),
        Index("ix_bookings_advisor_time", "advisor_id", "start_at"),
        # Every column of the per-person cap's count (queries.OPEN_BOOKINGS): with fewer, SQLite
        # without statistics reads every confirmed booking through ix_bookings_status instead.
        Index("ix_bookings_person_open", "email_key", "service_id", "status", "start_at"),
        # Trigrams on PostgreSQL, so that LIKE '%…%' is served by the index (migration 0009).
        Index(
            "ix_bookings_search_key",
            "search_key",
            postgresql_using="gin",
            postgresql_ops={"search_key": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(16), unique=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    advisor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    hold_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    # Lower-cased address, for the cap on open appointments per person.
    email_key: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    language: Mapped[str] = mapped_column(String(8), default="de")
    notes: Mapped[str] = mapped_column(Text, default="")
    # What the consultation needs to be accessible to this person; shown to the advisor.
    interpreter_language: Mapped[str | None] = mapped_column(String(50))
    sign_language: Mapped[bool] = mapped_column(default=False)
    wheelchair_access: Mapped[bool] = mapped_column(default=False)
    # Raised when staff re-issue the magic link: every older link stops working.
    token_version: Mapped[int] = mapped_column(default=1)
    # Raised with every change the citizen's calendar must follow (RFC 5545 SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The folded reference, name, e-mail and phone digits the staff search matches
    # (scheduler/search.py); personal data, erased with the rest.
    search_key: Mapped[str] = mapped_column(String(1000), default="")
    # Notes of the staff, [{"at", "author_id", "author", "text"}]; never shown to the citizen,
    # so not part of BookingInfo. None when there are none.
    staff_notes: Mapped[list[dict[str, object]] | None] = mapped_column(JSON(none_as_null=True))

    service: Mapped[Service] = relationship(lazy="joined")
    advisor: Mapped[Staff] = relationship(foreign_keys=[advisor_id], lazy="joined")

    @property
    def erased(self) -> bool:
        """Whether retention has erased the citizen's data: every booking is made with a name,
        and only the purge blanks it (scheduler/retention.py)."""
        return self.status != BookingStatus.HELD and self.name == ""


class IdempotencyRecord(Base):
    """The outcome of a booking made with an idempotency key: the answer's body as the
    transport rendered it (scheduler/idempotency.py)."""

    __tablename__ = "idempotency_records"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Read and written only by instances of the previous version while a rolling upgrade runs;
    # this one leaves it to its default (migration 0005), and a later migration drops it.
    status_code: Mapped[int] = mapped_column(Integer, server_default="201")


class AuditEntry(Base):
    """Who of the staff read or changed which booking, and when (DSGVO Art. 5(2), 32)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    action: Mapped[str] = mapped_column(String(40))
    # Indexed: deleting a booking (a run-out hold swept away) looks for entries to unlink.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), index=True
    )
    detail: Mapped[str] = mapped_column(String(500), default="")


class LoginFailure(Base):
    """Failed logins, kept briefly for the rate limit; in the database so all instances agree."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)


class StaffSession(Base):
    """A staff login, live until logout, its expiry, or an end by an administrator: the
    access token names it (`sid`), so deleting the row ends that token everywhere at once."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# The callback queue's tables live in their own module; importing it here registers them on the
# metadata wherever the booking tables are (migrations, tests).
import scheduler.callbacks_models  # noqa: E402
import scheduler.credentials_models  # noqa: E402, F401
