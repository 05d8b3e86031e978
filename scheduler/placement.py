"""Where a booking can go: the service, its advisors' calendars around some days, the closed
days, the checks of a start and the choice of the advisor. The booking use cases
(`services.py`) run these inside their transactions, so that what they read is what they
write against.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler import calendar, queries
from scheduler.availability import (
    AdvisorCalendar,
    Slot,
    SlotRules,
    WeeklyInterval,
    find_slots,
    free_advisors_at,
    is_on_grid,
    last_bookable_day,
)
from scheduler.db import read_session
from scheduler.direct import Direct, together
from scheduler.errors import (
    ChannelNotOffered,
    ClosedDay,
    InvalidRequest,
    NotFound,
    OffGrid,
    OutsideBookingWindow,
    SlotUnavailable,
)
from scheduler.models import LONGEST_BOOKING, Booking, BookingStatus, Service
from scheduler.views import ServiceView

Span = tuple[int, int]  # POSIX seconds, start inclusive, end exclusive

# The PostgreSQL advisory lock (a two-int key: its own space, apart from the person locks) that
# every placement takes shared and the entry of an absence or closure day takes exclusively
# (scheduler/displacement.py): that change then sees every booking committed before it, and
# no placement reads the calendars until it has committed.
DISPLACEMENT_LOCK = (8417, 1)
_GUARD = func.pg_advisory_xact_lock_shared(*DISPLACEMENT_LOCK)
_SERVICE = Direct(queries.SERVICE)
_SERVICE_GUARDED = Direct(queries.SERVICE.add_columns(_GUARD))
_SERVICE_LOCKING_GUARDED = Direct(queries.SERVICE_LOCKING.add_columns(_GUARD))
_NEXT_BOOKING_ID = func.nextval(func.pg_get_serial_sequence("bookings", "id"))
# The same, with the number of a booking about to be written (the sequence's next, last).
_SERVICE_NUMBERED = Direct(queries.SERVICE.add_columns(_GUARD, _NEXT_BOOKING_ID))
_SERVICE_LOCKING_NUMBERED = Direct(queries.SERVICE_LOCKING.add_columns(_GUARD, _NEXT_BOOKING_ID))
_CALENDARS = Direct(queries.CALENDARS)
_ADVISOR_TURN = Direct(queries.ADVISOR_TURN)
_CALENDARS_ON_WEEKDAY = Direct(queries.CALENDARS_ON_WEEKDAY)
_BOOKING_CHECKS = Direct(queries.BOOKING_CHECKS)
_SERVICE_CHECKED = Direct(queries.SERVICE_CHECKED)
_CHECKED_CALENDARS = Direct(queries.CHECKED_CALENDARS)


# In `Session.info`: this unit of work repeats one that lost a race for an advisor.
RETRY = "placement_retry"


def guard_placement(session: Session) -> None:
    """Take the placements' shared lock (PostgreSQL; SQLite's write lock serialises anyway),
    for a change that does not start with `Placement.service` (a reschedule)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(select(_GUARD))


@dataclass(frozen=True, slots=True)
class Calendars:
    """The service's advisors' calendars as read, and each one's holds that have run out
    (free, but still written)."""

    advisors: list[AdvisorCalendar]
    run_out: dict[int, list[Span]]


@dataclass(frozen=True, slots=True)
class BeforeBooking:
    service: ServiceView
    open_count: int
    closed: bool
    # The calendars of the booking's day, if they were read with the checks.
    calendars: Calendars | None
    # The new booking's id, taken from its sequence with the calendars (PostgreSQL).
    new_id: int | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    advisor_id: int
    # The advisor's holds that have run out: free, but still written.
    run_out_holds: list[Span]


def slot_rules(service: Service | ServiceView) -> SlotRules:
    return SlotRules(
        duration=service.duration_minutes,
        buffer=service.buffer_minutes,
        step=service.slot_interval_minutes,
        min_notice=service.min_notice_minutes,
        horizon_days=service.horizon_days,
    )


class Placement:
    def __init__(self, tz: ZoneInfo, holiday_country: str, holiday_subdivision: str | None) -> None:
        self.tz = tz
        self._holidays = (holiday_country, holiday_subdivision)
        # Each service as its latest search of free times read it.
        self.searched: dict[int, ServiceView] = {}

    def service(self, session: Session, service_id: int, person: str | None = None) -> ServiceView:
        """The service; on PostgreSQL with `person` (an e-mail key) also that person's
        transaction lock, in the same round trip. The lock serialises bookings by one person,
        so that two parallel requests cannot both pass the cap on open bookings; statements
        after this one see what the lock's previous holder committed (each has its own
        snapshot)."""
        connection = session.connection()
        params: dict[str, object] = {"service_id": service_id}
        query = _SERVICE
        if connection.dialect.name == "postgresql":
            query = _SERVICE_GUARDED
            if person is not None:
                query, params["person"] = _SERVICE_LOCKING_GUARDED, person
        service: ServiceView = _service_of(query.rows(connection, params))[0]
        return service

    def as_searched(self, service_id: int, channel: str, start: datetime, now: datetime) -> bool:
        """Whether the service as its latest search read it offers `channel` at `start` as
        far as its rules go (the channel, the minimum notice), without reading anything."""
        service = self.searched.get(service_id)
        if service is None or channel not in service.channels:
            return False
        return start >= now + timedelta(minutes=service.min_notice_minutes)

    def calendars(
        self,
        session: Session,
        service: Service | ServiceView,
        first: date,
        last: date,
        now: datetime,
        exclude_booking: int | None = None,
        stale: dict[int, list[Span]] | None = None,
    ) -> list[AdvisorCalendar]:
        """The service's advisors with their hours and the absences and taken time around
        the local days `first`..`last`, read with one lean query; `stale` receives each
        advisor's holds that have run out."""
        lo = datetime.combine(first, time(), self.tz).astimezone(UTC) - timedelta(days=1)
        hi = datetime.combine(last, time(), self.tz).astimezone(UTC) + timedelta(days=2)
        weekday = first.weekday() if first == last else None
        params = _calendar_params(service.id, lo, hi, now, exclude_booking, weekday)
        both = _CALENDARS if weekday is None else _CALENDARS_ON_WEEKDAY
        ((roster, busy),) = both.rows(session.connection(), params)
        read = _parsed(roster, busy)
        if stale is not None:
            stale.update(read.run_out)
        return read.advisors

    def day_calendars(
        self,
        session: Session,
        service: Service | ServiceView,
        start: datetime,
        now: datetime,
        exclude_booking: int | None = None,
    ) -> Calendars:
        """The calendars that decide who gets a booking at `start` (an aware time)."""
        params = self._day_params(service, start, now, exclude_booking)
        ((roster, busy),) = _CALENDARS_ON_WEEKDAY.rows(session.connection(), params)
        return _parsed(roster, busy)

    def _day_params(
        self,
        service: Service | ServiceView,
        start: datetime,
        now: datetime,
        exclude_booking: int | None,
    ) -> dict[str, object]:
        minutes = service.duration_minutes + service.buffer_minutes
        return self._day_window(service.id, minutes, start, now, exclude_booking)

    def _day_window(
        self,
        service_id: int,
        minutes: int,
        start: datetime,
        now: datetime,
        exclude_booking: int | None,
    ) -> dict[str, object]:
        # What decides: the time around `start` (is the advisor free?) and the day's bookings
        # (who has the fewest?); not the days around it, which a full day would triple.
        start = start.astimezone(UTC)
        day, day_start, day_end = self._day_of(start)
        occupied = start + timedelta(minutes=minutes)
        lo, hi = day_start.astimezone(UTC), max(day_end.astimezone(UTC), occupied)
        return _calendar_params(service_id, lo, hi, now, exclude_booking, day.weekday())

    def _day_of(self, start: datetime) -> tuple[date, datetime, datetime]:
        day = start.astimezone(self.tz).date()
        day_start = datetime.combine(day, time(), self.tz)
        return day, day_start, datetime.combine(day + timedelta(days=1), time(), self.tz)

    def closed(self, session: Session, first: date, last: date) -> frozenset[date]:
        return calendar.closed_days(session, *self._holidays, first, last)

    def for_booking(
        self,
        session: Session,
        service_id: int,
        person: str | None,
        start: datetime,
        now: datetime,
        with_calendars: bool,
    ) -> BeforeBooking:
        """Before a booking at `start`: the service, the person's open bookings of it (for the
        cap on them), whether the office is closed that day and, `with_calendars`, the
        calendars of that day; in two statements.

        On SQLite the first reads the service and the checks: the writer's lock is held,
        nothing changes meanwhile. On PostgreSQL the first takes the person's lock
        (`service`), and only a later statement sees what the lock's previous holder
        committed, so that two requests of one person cannot both pass the cap: the second
        reads the checks with the calendars. With the calendars, both go in one round trip,
        and the first also numbers the booking (`BeforeBooking.new_id`)."""
        connection = session.connection()
        day = start.astimezone(self.tz).date()
        params: dict[str, object] = {
            "service_id": service_id,
            "email_key": person,
            "now": now,
            "day": day,
        }
        # A naive time is refused before anything is read for it (`choose`).
        with_calendars = with_calendars and start.tzinfo is not None
        calendars = None
        new_id = None
        if connection.dialect.name == "postgresql" and with_calendars:
            # One round trip: the service with the person's lock and the booking's number,
            # then the checks with the day's calendars, the booking's time assumed to end
            # that day (the service's duration is not known yet).
            numbered = _SERVICE_NUMBERED if person is None else _SERVICE_LOCKING_NUMBERED
            guessed = params | self._day_window(service_id, 0, start, now, None)
            service_rows, checked = together(
                connection,
                (numbered, {"service_id": service_id, "person": person}),
                (_CHECKED_CALENDARS, guessed),
            )
            service, new_id = _service_of(service_rows)[0], service_rows[0][-1]
            day_params = self._day_params(service, start, now, None)
            if params | day_params != guessed:
                # It ends after midnight: the calendars past it as well.
                checked = _CHECKED_CALENDARS.rows(connection, params | day_params)
            ((count, closed, roster, busy),) = checked
            calendars = _parsed(roster, busy)
        elif connection.dialect.name == "postgresql":
            service = self.service(session, service_id, person)
            ((count, closed),) = _BOOKING_CHECKS.rows(connection, params)
        else:
            service, count, closed = _service_of(_SERVICE_CHECKED.rows(connection, params))
            if with_calendars:
                calendars = self.day_calendars(session, service, start, now)
        holidays = calendar.public_holidays(*self._holidays, day.year)
        closed = bool(closed) or day in holidays
        return BeforeBooking(service, int(count), closed, calendars, new_id)

    def free_times(
        self,
        sessions: sessionmaker[Session],
        service_id: int,
        channel: str | None,
        first: date,
        last: date,
        now: datetime,
    ) -> list[Slot]:
        """Every bookable start of the service from `first` to `last` (local days)."""
        with read_session(sessions) as session:
            service = self.searched[service_id] = self.service(session, service_id)
            if channel is not None and channel not in service.channels:
                raise ChannelNotOffered(channel=channel)
            if last < first:
                return []
            calendars = self.calendars(session, service, first, last, now)
            closed = self.closed(session, first, last)
        return find_slots(
            slot_rules(service),
            calendars,
            first,
            last,
            now=now,
            tz=self.tz,
            closed_days=closed,
            all_advisors=False,
        )

    def choose(
        self,
        session: Session,
        service: Service | ServiceView,
        start: datetime,
        channel: str,
        now: datetime,
        advisor_id: int | None,
        exclude_booking: int | None,
        prefer: int | None = None,
        closed: bool | None = None,
        calendars: Calendars | None = None,
    ) -> Choice:
        """The advisor who gets a booking at `start`: free, least loaded that day, lowest id
        (on a retry after a lost race: one of the least loaded, drawn). `closed` and
        `calendars`: whether the office is closed that day and the day's calendars
        (`day_calendars`), if the caller has read them already."""
        if channel not in service.channels:
            raise ChannelNotOffered(channel=channel)
        start = self._check_start(session, service, start, now, closed)
        if calendars is None:
            calendars = self.day_calendars(session, service, start, now, exclude_booking)
        advisors = calendars.advisors
        if advisor_id is not None:
            advisors = [c for c in advisors if c.advisor_id == advisor_id]
            if not advisors:
                raise NotFound("advisor does not offer this service", field="advisor_id")
        rules = slot_rules(service)
        free = free_advisors_at(rules, advisors, start, now=now, tz=self.tz)
        if not free:
            # Only now tell "not a slot time at all" (422) from "taken" (409).
            if not is_on_grid(rules, advisors, start, self.tz):
                raise OffGrid()
            raise SlotUnavailable()
        run_out = calendars.run_out
        if prefer in free:
            return Choice(prefer, run_out[prefer])
        _, day_start, day_end = self._day_of(start)
        load = {c.advisor_id: c.appointments_between(day_start, day_end) for c in advisors}
        least = min(load[advisor] for advisor in free)
        tied = sorted(advisor for advisor in free if load[advisor] == least)
        # After a lost race the other losers try again too: drawn among the tied, they spread
        # over the free advisors instead of all colliding on the next lowest id.
        chosen = secrets.choice(tied) if session.info.get(RETRY) else tied[0]
        return Choice(chosen, run_out[chosen])

    def _check_start(
        self,
        session: Session,
        service: Service | ServiceView,
        start: datetime,
        now: datetime,
        closed: bool | None,
    ) -> datetime:
        if start.tzinfo is None:
            raise InvalidRequest("time without offset", field="start", code="naive_time")
        start = start.astimezone(UTC)
        if start.second or start.microsecond:
            raise OffGrid()
        if start < now + timedelta(minutes=service.min_notice_minutes):
            raise OutsideBookingWindow(field="start", reason="too_soon")
        day = start.astimezone(self.tz).date()
        if day > last_bookable_day(slot_rules(service), now, self.tz):
            raise OutsideBookingWindow(field="start", reason="beyond_horizon")
        if self.closed(session, day, day) if closed is None else closed:
            raise ClosedDay(field="start")
        return start


def _calendar_params(
    service_id: int,
    lo: datetime,
    hi: datetime,
    now: datetime,
    exclude_booking: int | None,
    weekday: int | None,
) -> dict[str, object]:
    params: dict[str, object] = {
        "service_id": service_id,
        "lo": lo,
        "earliest": lo - LONGEST_BOOKING,
        "hi": hi,
        "now": now,
        "exclude": exclude_booking or 0,
    }
    if weekday is not None:
        params["weekday"] = weekday
    return params


def _parsed(roster: list[list[Any]], busy: list[list[Any]]) -> Calendars:
    """The roster and the busy times as `queries.CALENDARS` returns them, by column."""
    weekly: dict[int, list[WeeklyInterval]] = {}
    for staff_id, weekday, start, end in zip(*roster, strict=True):
        intervals = weekly.setdefault(staff_id, [])
        if weekday is not None:
            intervals.append(
                WeeklyInterval(weekday, time.fromisoformat(start), time.fromisoformat(end))
            )
    ids = sorted(weekly)
    absences: dict[int, list[Span]] = {i: [] for i in ids}
    taken: dict[int, list[Span]] = {i: [] for i in ids}
    run_out: dict[int, list[Span]] = {i: [] for i in ids}
    kinds = (absences, taken, run_out)
    for kind, staff_id, start, end in zip(*busy, strict=True):
        kinds[kind][staff_id].append((start, end))
    advisors = [AdvisorCalendar.from_spans(i, weekly[i], absences[i], taken[i]) for i in ids]
    return Calendars(advisors, run_out)


def _service_of(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The row of a query led by the service's columns, that column made a `ServiceView`."""
    if not rows:
        raise NotFound("unknown service", field="service_id")
    values, *rest = rows[0]
    return (ServiceView(*values), *rest)


def new_booking(
    service: Service | ServiceView,
    advisor_id: int,
    channel: str,
    start: datetime,
    status: BookingStatus,
) -> Booking:
    """The row of a booking at `start` with the chosen advisor, its buffer included."""
    start = start.astimezone(UTC)
    end = start + timedelta(minutes=service.duration_minutes)
    return Booking(
        service_id=service.id,
        advisor_id=advisor_id,
        channel=channel,
        status=status,
        start_at=start,
        end_at=end,
        blocked_until=end + timedelta(minutes=service.buffer_minutes),
    )


def take_advisors_turn(session: Session, advisor_id: int, start: datetime) -> None:
    """Before a booking or hold of `advisor_id` at `start` is written on PostgreSQL: wait
    until the other transactions writing one of that advisor's at that start have ended (sent
    with the next statement). Two such rows written at once can each find the other while
    checking the exclusion constraint and wait for it, and PostgreSQL breaks that deadlock only
    after `deadlock_timeout` (a second). In a crowd fighting over the same times, a booking
    waiting for a loser that rolled back found the next newcomer still checking: a second's
    stall each, hundreds a minute (docs/benchmarks.md). In turn, each finds the row before
    it committed and is refused at once, or finds none. Only the same start: other bookings
    of the advisor are not held up, and overlapping ones with another start (services of
    other lengths) are rare enough to leave to PostgreSQL."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        minute = int(start.timestamp()) // 60
        _ADVISOR_TURN.later(connection, {"advisor_id": advisor_id, "minute": minute})


def sweep_expired_holds(
    session: Session, choice: Choice, start: datetime, blocked_until: datetime, now: datetime
) -> None:
    """Delete run-out holds in the way of a booking about to be written: the database
    constraint, which cannot know the time, still counts them as taken. Only when the
    calendar read showed one there, which is rare: a statement saved on every booking."""
    # A second of slack either way: the spans are whole seconds, computed by the database.
    begin, end = int(start.timestamp()) - 1, math.ceil(blocked_until.timestamp()) + 1
    if not any(s < end and begin < e for s, e in choice.run_out_holds):
        return
    session.connection().execute(
        queries.SWEEP_HOLDS,
        {
            "advisor_id": choice.advisor_id,
            "start": start,
            "blocked_until": blocked_until,
            "now": now,
        },
    )
