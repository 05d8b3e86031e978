"""The statements of the booking use cases, built once at import: building and caching a
statement costs more than running it on the hot paths (slot search, booking). They run as
plain Core statements, straight on the driver (`scheduler.direct`); the ORM's per-row
bookkeeping, and even SQLAlchemy's execution of a Core statement, would cost more than the
queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.expression import SelectBase

from scheduler.db import among, epoch, json_columns, json_values, unindexed
from scheduler.models import (
    OCCUPYING,
    Absence,
    Booking,
    BookingStatus,
    ClosureDay,
    Service,
    Staff,
    Team,
    WeeklyHours,
    staff_services,
)

# What booking needs of a service: the fields of ServiceView, in its order, in one value.
SERVICE = (
    select(
        json_values(
            Service.id,
            Service.name,
            Service.address,
            Team.name,
            Team.email,
            Service.duration_minutes,
            Service.buffer_minutes,
            Service.slot_interval_minutes,
            Service.min_notice_minutes,
            Service.horizon_days,
            Service.channels,
        )
    )
    .select_from(Service)
    .outerjoin(Team, Team.id == Service.team_id)
    .where(Service.id == bindparam("service_id"), Service.active)
)
# The same, with the PostgreSQL transaction lock on a person (see Placement.service).
SERVICE_LOCKING = SERVICE.add_columns(
    func.pg_advisory_xact_lock(func.hashtext(bindparam("person")))
)
# A booking as messages and invites show it: the fields of BookingInfo, in its order.
BOOKING_INFO = (
    select(
        Booking.id,
        func.coalesce(Booking.reference, ""),
        Booking.status,
        Booking.service_id,
        Service.name,
        Booking.advisor_id,
        Staff.name,
        Booking.channel,
        Booking.start_at,
        Booking.end_at,
        Booking.name,
        Booking.email,
        Booking.phone,
        Booking.language,
        Booking.notes,
        Booking.token_version,
        Booking.sequence,
        Booking.created_at,
        Service.address,
        Team.name,
        Team.email,
        Booking.interpreter_language,
        Booking.sign_language,
        Booking.wheelchair_access,
    )
    .join(Service, Service.id == Booking.service_id)
    .join(Staff, Staff.id == Booking.advisor_id)
    .outerjoin(Team, Team.id == Service.team_id)
    .where(Booking.id == bindparam("id"))
)


def _as_json(query: SelectBase) -> Select[list[list[Any]]]:
    """`query`'s rows in one value, by column (scheduler.db.json_columns), in no particular
    order."""
    rows = query.subquery()
    return select(json_columns(*rows.c))


def _roster(*hours: ColumnElement[bool]) -> Select[list[list[Any]]]:
    return _as_json(
        select(Staff.id, WeeklyHours.weekday, WeeklyHours.start, WeeklyHours.end)
        .join(staff_services, staff_services.c.staff_id == Staff.id)
        .outerjoin(WeeklyHours, and_(WeeklyHours.staff_id == Staff.id, *hours))
        .where(staff_services.c.service_id == bindparam("service_id"), Staff.active)
    )


# The service's advisors, each with its weekly intervals (none: one row of NULLs).
ROSTER = _roster()
# The same with one weekday's intervals only: a booking's day needs no others.
ROSTER_ON_WEEKDAY = _roster(WeeklyHours.weekday == bindparam("weekday"))


# The service's advisors (of the roster).
_ADVISORS = (
    select(Staff.id)
    .join(staff_services, staff_services.c.staff_id == Staff.id)
    .where(staff_services.c.service_id == bindparam("service_id"), Staff.active)
)
# Their absences (kind 0), taken time (1) and run-out holds (2) around the days asked for.
BUSY = _as_json(
    union_all(
        select(literal(0), Absence.staff_id, epoch(Absence.start_at), epoch(Absence.end_at)).where(
            among(Absence.staff_id, _ADVISORS),
            Absence.start_at < bindparam("hi"),
            Absence.end_at > bindparam("lo"),
        ),
        select(
            # 1: taken; 2: a hold that has run out, free but still in the table (see SWEEP_HOLDS)
            case(
                (
                    and_(
                        Booking.status == BookingStatus.HELD,
                        Booking.hold_expires_at <= bindparam("now"),
                    ),
                    literal(2),
                ),
                else_=literal(1),
            ),
            Booking.advisor_id,
            epoch(Booking.start_at),
            epoch(Booking.blocked_until),
        ).where(
            among(Booking.advisor_id, _ADVISORS),
            # Else SQLite, without statistics, would read every booking by its status.
            unindexed(Booking.status).in_(OCCUPYING),
            Booking.start_at < bindparam("hi"),
            Booking.blocked_until > bindparam("lo"),
            # `lo` - LONGEST_BOOKING: no booking blocks longer, and the index on (advisor, start)
            # reads the days asked for, not every booking the advisor ever had before them.
            Booking.start_at > bindparam("earliest"),
            Booking.id != bindparam("exclude"),
        ),
    )
)
# The roster and the busy times in one statement: each statement costs the booking thread
# several turns of the interpreter lock, and on PostgreSQL a round trip.
CALENDARS = select(ROSTER.scalar_subquery(), BUSY.scalar_subquery())
CALENDARS_ON_WEEKDAY = select(ROSTER_ON_WEEKDAY.scalar_subquery(), BUSY.scalar_subquery())
# A person's confirmed appointments of a service still to come, for the cap on them.
OPEN_BOOKINGS = select(func.count()).where(
    Booking.email_key == bindparam("email_key"),
    Booking.service_id == bindparam("service_id"),
    Booking.status == BookingStatus.CONFIRMED,
    Booking.start_at > bindparam("now"),
)
# Before a booking, in one round trip: the person's open bookings (for the cap) and whether
# the day is one of the office's closure days (public holidays are known without asking).
BOOKING_CHECKS = select(
    OPEN_BOOKINGS.scalar_subquery(), exists().where(ClosureDay.day == bindparam("day"))
)
# SQLite: the service and the checks in one statement (on PostgreSQL the checks must come
# after the person's lock, see `Placement.for_booking`).
SERVICE_CHECKED = SERVICE.add_columns(*BOOKING_CHECKS.selected_columns)
# PostgreSQL: the checks and the calendars of a booking's day, after the person's lock.
CHECKED_CALENDARS = BOOKING_CHECKS.add_columns(*CALENDARS_ON_WEEKDAY.selected_columns)
# PostgreSQL: the transaction lock on an advisor's new bookings at one start (two int keys:
# the advisor and the start's minute since 1970; `placement.take_advisors_turn`).
ADVISOR_TURN = select(
    func.pg_advisory_xact_lock(
        bindparam("advisor_id", type_=Integer), bindparam("minute", type_=Integer)
    )
)
NEW_BOOKING = insert(Booking).returning(Booking.id)
# The same, numbered beforehand (PostgreSQL: `Placement.for_booking`).
NUMBERED_BOOKING = insert(Booking)
# An advisor's run-out holds in the way of a booking about to be written.
SWEEP_HOLDS = (
    delete(Booking)
    .where(
        Booking.advisor_id == bindparam("advisor_id"),
        Booking.status == BookingStatus.HELD,
        Booking.hold_expires_at <= bindparam("now"),
        Booking.start_at < bindparam("blocked_until"),
        Booking.blocked_until > bindparam("start"),
    )
    .execution_options(synchronize_session=False)
)
