"""The issue's check: a generated year (50 advisors, 100,000 bookings, 20,000 callbacks; see
bench/stats_year.py) recomputed straightforwardly from the raw rows agrees with
scheduler/statistics.py, before and after the retention purge took a quarter of it away."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.stats_year import LAST, generate
from scheduler.availability import AdvisorCalendar, SlotRules, WeeklyInterval, find_slots
from scheduler.calendar import closed_days
from scheduler.callbacks_models import CallbackAttempt, CallbackRequest
from scheduler.db import read_session
from scheduler.models import Absence, Booking, Service, Staff, WeeklyHours, staff_services
from scheduler.statistics import StatsQuery
from scheduler.statistics_models import BookingCanceller, SearchWait
from scheduler.waitlist_models import WaitlistEntry, WaitlistOffer

TZ = ZoneInfo("Europe/Berlin")
DAY = 86400


def monday_of(moment: datetime | date) -> date:
    day = moment.astimezone(TZ).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


class Group:
    """Everything of one service in one week, as raw as it comes."""

    def __init__(self) -> None:
        self.bookings: list[tuple[str, bool, float, str | None]] = []
        self.offered = 0
        self.searches: list[int] = []
        self.no_slot = 0
        self.callbacks: list[tuple[float | None, bool, bool]] = []
        self.entries: list[tuple[float | None, int, int]] = []


def figures(groups: list[Group]) -> dict[str, Any]:
    bookings = [b for g in groups for b in g.bookings]
    status = Counter(b[0] for b in bookings)
    cancelled = [b for b in bookings if b[0] == "cancelled"]
    waits = sorted(b[2] / DAY for b in bookings)
    offered = sum(g.offered for g in groups)
    searches = [w for g in groups for w in g.searches]
    callbacks = [c for g in groups for c in g.callbacks]
    called = [c for c in callbacks if c[0] is not None]
    entries = [e for g in groups for e in g.entries]
    offered_entries = [e for e in entries if e[0] is not None]
    offers, accepted = sum(e[1] for e in entries), sum(e[2] for e in entries)
    booked = len(bookings) - status["cancelled"]
    return {
        "bookings": len(bookings),
        "confirmed": status["confirmed"],
        "completed": status["completed"],
        "no_shows": status["no_show"],
        "cancellations": status["cancelled"],
        "cancelled_by": {
            who: sum((b[3] or "unknown") == who for b in cancelled)
            for who in ("citizen", "staff", "office", "unknown")
        },
        "no_show_rate": status["no_show"] / (status["completed"] + status["no_show"])
        if status["completed"] + status["no_show"]
        else None,
        "online_bookings": sum(not b[1] for b in bookings),
        "hotline_bookings": sum(b[1] for b in bookings),
        "waiting_days_median": median(waits) if waits else None,
        "waiting_days_p90": waits[math.ceil(0.9 * len(waits)) - 1] if waits else None,
        "slots_offered": offered,
        "slots_booked": booked,
        "utilisation": booked / offered if offered else None,
        "searches": len(searches) + sum(g.no_slot for g in groups),
        "searches_without_slot": sum(g.no_slot for g in groups),
        "search_wait_days_median": median(searches) if searches else None,
        "callbacks": {
            "requests": len(callbacks),
            "attempted": len(called),
            "reached": sum(c[1] for c in called),
            "reach_rate": sum(c[1] for c in called) / len(called) if called else None,
            "booked": sum(c[2] for c in callbacks),
            "booked_rate": sum(c[2] for c in callbacks) / len(callbacks) if callbacks else None,
            "first_attempt_hours_mean": sum(c[0] for c in called) / len(called) / 3600
            if called
            else None,
        },
        "waitlist": {
            "entries": len(entries),
            "offered": len(offered_entries),
            "offer_days_mean": sum(e[0] for e in offered_entries) / len(offered_entries) / DAY
            if offered_entries
            else None,
            "offers": offers,
            "accepted": accepted,
            "acceptance_rate": accepted / offers if offers else None,
        },
    }


def recompute(session, first: date, last: date) -> dict[date, dict[int, Group]]:
    weeks: dict[date, dict[int, Group]] = defaultdict(lambda: defaultdict(Group))
    lo = datetime.combine(first, time(), TZ)
    hi = datetime.combine(last + timedelta(days=1), time(), TZ)

    def inside(moment: datetime) -> bool:
        return lo <= moment < hi

    cancellers = dict(
        session.execute(select(BookingCanceller.booking_id, BookingCanceller.cancelled_by)).all()
    )
    columns = (Booking.id, Booking.service_id, Booking.status, Booking.created_by_id)
    times = (Booking.start_at, Booking.created_at)
    for booking_id, service_id, status, by, start, created in session.execute(
        select(*columns, *times).where(Booking.status != "held")
    ):
        if inside(start):
            wait = (start - created).total_seconds()
            row = (status, by is not None, wait, cancellers.get(booking_id))
            weeks[monday_of(start)][service_id].bookings.append(row)
    for s in session.scalars(select(SearchWait)):
        if first <= s.day <= last:
            group = weeks[monday_of(s.day)][s.service_id]
            if s.wait_days < 0:
                group.no_slot += s.count
            else:
                group.searches += [s.wait_days] * s.count
    attempts: dict[int, list[CallbackAttempt]] = defaultdict(list)
    for a in session.scalars(select(CallbackAttempt)):
        attempts[a.callback_id].append(a)
    for c in session.scalars(select(CallbackRequest)):
        if inside(c.created_at):
            tries = attempts[c.id]
            wait = (min(a.at for a in tries) - c.created_at).total_seconds() if tries else None
            reached = any(a.outcome == "reached" for a in tries)
            weeks[monday_of(c.created_at)][c.service_id].callbacks.append(
                (wait, reached, c.booking_id is not None)
            )
    offers: dict[int, list[WaitlistOffer]] = defaultdict(list)
    for o in session.scalars(select(WaitlistOffer)):
        offers[o.entry_id].append(o)
    for e in session.scalars(select(WaitlistEntry)):
        if inside(e.created_at):
            made = offers[e.id]
            wait = (
                (min(o.created_at for o in made) - e.created_at).total_seconds() if made else None
            )
            accepted = sum(o.status == "accepted" for o in made)
            weeks[monday_of(e.created_at)][e.service_id].entries.append((wait, len(made), accepted))
    # Slots offered: the slot search itself, with no booking in the way and every advisor.
    closed = closed_days(session, "DE", "ST", first, last)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for service in session.scalars(select(Service)):
        rules = SlotRules(
            service.duration_minutes,
            service.buffer_minutes,
            service.slot_interval_minutes,
            0,
            100_000,
        )
        calendars = []
        advisor_ids = session.scalars(
            select(Staff.id)
            .join(staff_services, staff_services.c.staff_id == Staff.id)
            .where(staff_services.c.service_id == service.id, Staff.active)
        ).all()
        for advisor_id in advisor_ids:
            weekly = [
                WeeklyInterval(h.weekday, time.fromisoformat(h.start), time.fromisoformat(h.end))
                for h in session.scalars(
                    select(WeeklyHours).where(WeeklyHours.staff_id == advisor_id)
                )
            ]
            absences = [
                (a.start_at, a.end_at)
                for a in session.scalars(select(Absence).where(Absence.staff_id == advisor_id))
            ]
            calendars.append(AdvisorCalendar(advisor_id, weekly, absences))
        for slot in find_slots(rules, calendars, first, last, now=epoch, tz=TZ, closed_days=closed):
            weeks[monday_of(slot.start)][service.id].offered += len(slot.advisor_ids)
    return weeks


def same(found: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert set(found) == set(expected), where
        for key in expected:
            same(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, float):
        assert found is not None, where
        assert math.isclose(found, expected, rel_tol=1e-9), (where, found, expected)
    else:
        assert found == expected, (where, found, expected)


def agree(report, weeks: dict[date, dict[int, Group]]) -> None:
    groups = [g for by_service in weeks.values() for g in by_service.values()]
    same(report.totals, figures(groups), "totals")
    assert [w.monday for w in report.weeks] == sorted(weeks)
    for week in report.weeks:
        by_service = weeks[week.monday]
        same(week.figures, figures(list(by_service.values())), str(week.monday))
        assert set(week.services) == set(by_service)
        for service_id, group in by_service.items():
            same(week.services[service_id], figures([group]), f"{week.monday}/{service_id}")


def test_a_generated_year_recomputed_from_the_rows_agrees(container, clock):
    year = generate(container.engine)
    query = StatsQuery(year.first, year.last)
    with read_session(container.sessions) as session:
        assert session.scalar(select(Booking.id).order_by(Booking.id.desc()).limit(1)) == 100_000
        weeks = recompute(session, year.first, year.last)
    assert len(weeks) == 52

    agree(container.statistics.report(query), weeks)

    # The purge erases the first quarter of the year; what it deleted is counted all the same.
    clock.now = datetime.combine(date(2031, 4, 1), time(), TZ) + timedelta(days=90)
    counts = container.retention.purge()
    assert counts["callback_requests_deleted"] + counts["callback_attempts_deleted"] > 5_000
    assert counts["waitlist_entries_deleted"] + counts["waitlist_offers_deleted"] > 300
    agree(container.statistics.report(query), weeks)

    # A filtered view agrees too: one team's services, video only.
    team = year.team_ids[0]
    with read_session(container.sessions) as session:
        services = set(session.scalars(select(Service.id).where(Service.team_id == team)))
    filtered = container.statistics.report(
        StatsQuery(year.first, LAST, team_id=team, channel="video")
    )
    assert filtered.totals["bookings"] == sum(
        1
        for by_service in weeks.values()
        for sid, group in by_service.items()
        if sid in services
        for _ in group.bookings
    ) - filtered_out(container, services)


def filtered_out(container, services: set[int]) -> int:
    """The team's bookings in other channels than video."""
    with read_session(container.sessions) as session:
        return len(
            session.scalars(
                select(Booking.id).where(
                    Booking.service_id.in_(services),
                    Booking.channel != "video",
                    Booking.status != "held",
                )
            ).all()
        )
