"""The office's numbers: aggregates over bookings, searches, callbacks and the waiting list,
per service and ISO week, with no personal data in them.

Which week a figure belongs to (weeks and days are the office's local ones):

* a booking: the week of its appointment; a booking counts once, whatever its status, and
  its wait is from the moment it was made to the appointment (as moved, if it was moved);
* a search: the week the citizen searched (scheduler/statistics_keep.py `SearchWaits`);
* a callback request or a waiting-list entry: the week it was made.

Callback requests and waiting-list entries are deleted by the retention purge; what they
count is kept before they go (scheduler/statistics_keep.py). The figures here are those
counters plus the rows still there. Callbacks are calls: a filter by a channel other than
"phone" leaves them out. Slots offered come from scheduler/statistics_capacity.py.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Executable, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.callbacks_models import AttemptOutcome, CallbackAttempt, CallbackRequest
from scheduler.db import read_session
from scheduler.errors import InvalidRequest
from scheduler.models import Booking, BookingStatus, Channel, Service
from scheduler.placement import Placement
from scheduler.statistics_capacity import slots_offered
from scheduler.statistics_figures import Figures, Tally
from scheduler.statistics_keep import NO_SLOT, SearchWaits, seconds
from scheduler.statistics_models import (
    BookingCanceller,
    CallbackTally,
    SearchWait,
    WaitlistTally,
)
from scheduler.waitlist_models import OfferStatus, WaitlistEntry, WaitlistOffer

MAX_DAYS = 366
DAY = 86400


@dataclass(frozen=True, slots=True)
class StatsQuery:
    start: date
    end: date  # inclusive
    service_id: int | None = None
    team_id: int | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidRequest("end before start", field="end", code="range_reversed")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise InvalidRequest(
                "range too long", field="end", code="range_too_long", maximum=MAX_DAYS
            )
        if self.channel is not None and self.channel not in set(Channel):
            raise InvalidRequest("unknown channel", field="channel")


@dataclass(frozen=True, slots=True)
class Week:
    monday: date
    figures: Figures
    # Per service, by service id; empty when the query named one service.
    services: dict[int, Figures] = field(default_factory=dict)

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"


@dataclass(frozen=True, slots=True)
class Report:
    query: StatsQuery
    totals: Figures
    weeks: list[Week]


class _Days:
    """Local days of the range and their UTC bounds, for placing POSIX seconds fast."""

    def __init__(self, query: StatsQuery, tz: ZoneInfo) -> None:
        count = (query.end - query.start).days + 1
        self.days = [query.start + timedelta(days=n) for n in range(count)]
        self.bounds = [
            int(datetime.combine(d, time(), tz).timestamp())
            for d in [*self.days, query.end + timedelta(days=1)]
        ]
        self.lo = datetime.fromtimestamp(self.bounds[0], UTC)
        self.hi = datetime.fromtimestamp(self.bounds[-1], UTC)

    def weeks(self) -> tuple[list[date], list[int]]:
        """The Mondays of the range's weeks, and the POSIX second each begins (the first at
        the range's start)."""
        mondays = sorted({self.week_of_day(d) for d in self.days})
        starts = [self.bounds[max(0, (m - self.days[0]).days)] for m in mondays]
        return mondays, starts

    def week_of_day(self, day: date) -> date:
        return day - timedelta(days=day.weekday())

    def week_of(self, seconds: int) -> date | None:
        """The Monday of the local week of `seconds`, None outside the range."""
        i = bisect_right(self.bounds, seconds) - 1
        if i < 0 or i >= len(self.days):
            return None
        return self.week_of_day(self.days[i])


Key = tuple[int, date]  # service id, Monday


class Statistics:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        placement: Placement,
        searches: SearchWaits | None = None,
    ) -> None:
        self._sessions = sessions
        self._placement = placement
        self._tz = placement.tz
        self._searches = searches

    def report(self, query: StatsQuery) -> Report:
        if self._searches is not None:
            self._searches.flush()  # this process's last minute of searches counts too
        days = _Days(query, self._tz)
        tallies: dict[Key, Tally] = {}

        def tally(service_id: int, monday: date) -> Tally:
            key = (service_id, monday)
            if key not in tallies:
                tallies[key] = Tally()
            return tallies[key]

        with read_session(self._sessions) as session:
            services = self._services(session, query)
            ids = [s.id for s in services]
            if ids:
                closed = self._placement.closed(session, query.start, query.end)
                offered = slots_offered(
                    session, services, days.days, closed, self._tz, days.lo, days.hi
                )
                for (service_id, day), count in offered.items():
                    tally(service_id, days.week_of_day(day)).slots_offered += count
                _bookings(session, query, ids, days, tally)
                _searches(session, query, ids, tally)
                if query.channel in (None, Channel.PHONE):
                    _callbacks(session, ids, days, tally)
                _waitlist(session, query, ids, days, tally)
        return _report(query, tallies, single=query.service_id is not None)

    def services(self, team_id: int | None = None) -> list[Service]:
        """The services a report may be narrowed to, those no longer offered too: their
        weeks past still count."""
        with read_session(self._sessions) as session:
            return self._services(session, StatsQuery(date.min, date.min, team_id=team_id))

    @staticmethod
    def _services(session: Session, query: StatsQuery) -> list[Service]:
        statement = select(Service).order_by(Service.id)
        if query.service_id is not None:
            statement = statement.where(Service.id == query.service_id)
        if query.team_id is not None:
            statement = statement.where(Service.team_id == query.team_id)
        return list(session.scalars(statement))


TallyOf = Callable[[int, date], Tally]


def _plain(connection: Connection, statement: Executable) -> list[Any]:
    """The rows as the database driver gives them: tuples of plain ints and strings, without
    the result rows' processing, which costs more than the query over a year of bookings.
    Columns of our own types (UTC times, booleans, dates) come as the driver has them."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()


def _bookings(
    session: Session, query: StatsQuery, ids: list[int], days: _Days, tally: TallyOf
) -> None:
    connection = session.connection()
    period = (
        Booking.service_id.in_(ids),
        Booking.status != BookingStatus.HELD,
        Booking.start_at >= days.lo,
        Booking.start_at < days.hi,
        *(() if query.channel is None else (Booking.channel == query.channel,)),
    )
    cancellers = dict(
        connection.execute(
            select(BookingCanceller.booking_id, BookingCanceller.cancelled_by)
            .join(Booking, Booking.id == BookingCanceller.booking_id)
            .where(*period)
        ).all()
    )
    statement = select(
        Booking.id,
        Booking.service_id,
        Booking.status,
        Booking.created_by_id,
        seconds(Booking.start_at),
        seconds(Booking.created_at),
    ).where(*period)
    # A year is 100,000 rows: counted into plain dicts in the order of the index, the week
    # moving on as the appointments do, then handed to the tallies once per group.
    counts: Counter[tuple[int, date, str, bool, str | None]] = Counter()
    waits: dict[tuple[int, date], list[int]] = {}
    mondays, starts = days.weeks()
    next_week, monday = starts[0], mondays[0]
    cancelled = BookingStatus.CANCELLED.value
    for booking_id, service_id, status, by, start, created in _plain(
        connection, statement.order_by(Booking.start_at)
    ):
        if start >= next_week:
            week = bisect_right(starts, start) - 1
            next_week = starts[week + 1] if week + 1 < len(starts) else days.bounds[-1]
            monday = mondays[week]
        key = (service_id, monday)
        if status == cancelled:
            counts[service_id, monday, status, by is not None, cancellers.get(booking_id)] += 1
        else:
            counts[service_id, monday, status, by is not None, None] += 1
        group = waits.get(key)
        if group is None:
            waits[key] = [start - created]
        else:
            group.append(start - created)
    for (service_id, monday, status, by_staff, by), count in counts.items():
        tally(service_id, monday).bookings(status, by_staff, by, count)
    for (service_id, monday), seconds_waited in waits.items():
        tally(service_id, monday).waits.extend(seconds_waited)


def _searches(session: Session, query: StatsQuery, ids: list[int], tally: TallyOf) -> None:
    statement = select(
        SearchWait.service_id, SearchWait.day, SearchWait.wait_days, SearchWait.count
    )
    statement = statement.where(
        SearchWait.service_id.in_(ids), SearchWait.day >= query.start, SearchWait.day <= query.end
    )
    if query.channel is not None:
        statement = statement.where(SearchWait.channel == query.channel)
    mondays: dict[object, date] = {}
    for service_id, day, wait, count in _plain(session.connection(), statement):
        if day not in mondays:
            # A date from PostgreSQL's driver, its ISO text from SQLite's.
            moment = day if isinstance(day, date) else date.fromisoformat(day)
            mondays[day] = moment - timedelta(days=moment.weekday())
        target = tally(service_id, mondays[day])
        if wait == NO_SLOT:
            target.searches_without_slot += count
        else:
            target.search_waits[wait] += count


def _callbacks(session: Session, ids: list[int], days: _Days, tally: TallyOf) -> None:
    live = (
        CallbackRequest.service_id.in_(ids),
        CallbackRequest.created_at >= days.lo,
        CallbackRequest.created_at < days.hi,
    )
    first: dict[int, int] = {}
    reached: set[int] = set()
    # All attempts, grouped in the order of their index: cheaper than joining the requests.
    attempts = select(
        CallbackAttempt.callback_id,
        func.min(seconds(CallbackAttempt.at)),
        func.max(case((CallbackAttempt.outcome == AttemptOutcome.REACHED, 1), else_=0)),
    ).group_by(CallbackAttempt.callback_id)
    for callback_id, at, was_reached in _plain(session.connection(), attempts):
        first[callback_id] = at
        if was_reached:
            reached.add(callback_id)
    requests = select(
        CallbackRequest.id,
        CallbackRequest.service_id,
        seconds(CallbackRequest.created_at),
        CallbackRequest.booking_id,
    ).where(*live)
    for callback_id, service_id, created, booking_id in _plain(session.connection(), requests):
        monday = days.week_of(created)
        if monday is not None:
            called = first.get(callback_id)
            wait = None if called is None else called - created
            booked = booking_id is not None
            tally(service_id, monday).callback(wait, callback_id in reached, booked)
    kept = select(
        CallbackTally.service_id,
        seconds(CallbackTally.hour),
        CallbackTally.requests,
        CallbackTally.attempted,
        CallbackTally.reached,
        CallbackTally.booked,
        CallbackTally.first_attempt_seconds,
    ).where(
        CallbackTally.service_id.in_(ids),
        CallbackTally.hour >= days.lo,
        CallbackTally.hour < days.hi,
    )
    for service_id, hour, *counts in session.connection().execute(kept):
        monday = days.week_of(hour)
        if monday is not None:
            tally(service_id, monday).callbacks.add(*counts)


def _waitlist(
    session: Session, query: StatsQuery, ids: list[int], days: _Days, tally: TallyOf
) -> None:
    live = [
        WaitlistEntry.service_id.in_(ids),
        WaitlistEntry.created_at >= days.lo,
        WaitlistEntry.created_at < days.hi,
    ]
    if query.channel is not None:
        live.append(WaitlistEntry.channel == query.channel)
    offers: dict[int, tuple[int | None, int, int]] = {}
    statement = (
        select(
            WaitlistOffer.entry_id,
            func.min(seconds(WaitlistOffer.created_at)),
            func.count(),
            func.count().filter(WaitlistOffer.status == OfferStatus.ACCEPTED),
        )
        .join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
        .where(*live)
        .group_by(WaitlistOffer.entry_id)
    )
    for entry_id, first, count, accepted in session.connection().execute(statement):
        offers[entry_id] = (first, count, accepted)
    entries = select(WaitlistEntry.id, WaitlistEntry.service_id, seconds(WaitlistEntry.created_at))
    for entry_id, service_id, created in session.connection().execute(entries.where(*live)):
        monday = days.week_of(created)
        if monday is not None:
            offered, count, accepted = offers.get(entry_id, (None, 0, 0))
            wait = None if offered is None else offered - created
            tally(service_id, monday).waitlist_entry(wait, count, accepted)
    kept = select(
        WaitlistTally.service_id,
        seconds(WaitlistTally.hour),
        WaitlistTally.entries,
        WaitlistTally.offered,
        WaitlistTally.offers,
        WaitlistTally.accepted,
        WaitlistTally.offer_seconds,
    ).where(
        WaitlistTally.service_id.in_(ids),
        WaitlistTally.hour >= days.lo,
        WaitlistTally.hour < days.hi,
    )
    if query.channel is not None:
        kept = kept.where(WaitlistTally.channel == query.channel)
    for service_id, hour, *counts in session.connection().execute(kept):
        monday = days.week_of(hour)
        if monday is not None:
            tally(service_id, monday).waitlist.add(*counts)


def _report(query: StatsQuery, tallies: dict[Key, Tally], single: bool) -> Report:
    weeks: dict[date, dict[int, Tally]] = {}
    for (service_id, monday), one in sorted(tallies.items()):
        weeks.setdefault(monday, {})[service_id] = one
    rows = [
        Week(
            monday,
            Tally.merged(by_service.values()).figures(),
            {} if single else {sid: t.figures() for sid, t in by_service.items()},
        )
        for monday, by_service in sorted(weeks.items())
    ]
    return Report(query, Tally.merged(tallies.values()).figures(), rows)
