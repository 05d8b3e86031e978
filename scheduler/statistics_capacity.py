"""Slots offered: how many appointments a service's advisors could have given on each local
day, by the rules of the slot search (scheduler/availability.py) with no booking in the way.

Each advisor of the service counts with their weekly hours on the service's grid; a start is
lost to an absence overlapping the appointment and to a closed day (holiday or closure). An
advisor who serves two services counts for both: the figure is what the service could have
had. The weekly hours and the advisors of a service are today's: no history of them is kept.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from datetime import date, datetime, time
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.availability import SlotRules, Span, _grid, _LocalClock, _merge, _overlaps
from scheduler.db import epoch
from scheduler.models import Absence, Service, Staff, WeeklyHours, staff_services

EVER = -(2**62)  # the grid's earliest start: every start counts, however long ago


def _minutes(text: str) -> int:
    moment = time.fromisoformat(text)
    return moment.hour * 60 + moment.minute


def slots_offered(
    session: Session,
    services: Sequence[Service],
    days: Sequence[date],
    closed: Container[date],
    tz: ZoneInfo,
    lo: datetime,
    hi: datetime,
) -> dict[tuple[int, date], int]:
    """Offered starts per (service id, local day) over `days`; `lo`..`hi` enclose them, for
    reading the absences."""
    service_ids = [s.id for s in services]
    hours: dict[int, dict[int, list[tuple[int, int]]]] = {}
    linked: dict[int, list[int]] = {}
    rows = session.execute(
        select(staff_services.c.service_id, Staff.id)
        .join(Staff, Staff.id == staff_services.c.staff_id)
        .where(staff_services.c.service_id.in_(service_ids), Staff.active)
    )
    for service_id, staff_id in cast("Iterable[tuple[int, int]]", rows):
        linked.setdefault(service_id, []).append(staff_id)
        hours.setdefault(staff_id, {})
    staff_ids = list(hours)
    for staff_id, weekday, opens, closes in session.execute(
        select(WeeklyHours.staff_id, WeeklyHours.weekday, WeeklyHours.start, WeeklyHours.end)
        .where(WeeklyHours.staff_id.in_(staff_ids))
        .order_by(WeeklyHours.staff_id, WeeklyHours.weekday, WeeklyHours.start)
    ):
        hours[staff_id].setdefault(weekday, []).append((_minutes(opens), _minutes(closes)))
    absences: dict[int, list[Span]] = {i: [] for i in staff_ids}
    for staff_id, start, end in session.execute(
        select(Absence.staff_id, epoch(Absence.start_at), epoch(Absence.end_at)).where(
            Absence.staff_id.in_(staff_ids),
            Absence.start_at < hi,
            Absence.end_at > lo,
        )
    ):
        absences[staff_id].append((start, end))
    merged = {i: _merge(spans) for i, spans in absences.items()}
    open_days = [d for d in days if d not in closed]
    clock = _SteadyClock(tz)
    offered: Counter[tuple[int, date]] = Counter()
    for service in services:
        rules = SlotRules(
            service.duration_minutes, service.buffer_minutes, service.slot_interval_minutes
        )
        grids: dict[tuple[date, int, int], list[int]] = {}
        for staff_id in linked.get(service.id, ()):
            spans = merged[staff_id]
            starts = [s for s, _ in spans]
            by_weekday = hours[staff_id]
            for day in open_days:
                for begin, finish in by_weekday.get(day.weekday(), ()):
                    key = (day, begin, finish)
                    grid = grids.get(key)
                    if grid is None:
                        grid = grids[key] = _grid(clock, day, begin, finish, rules, EVER)
                    if grid:
                        offered[service.id, day] += _free(grid, spans, starts, rules.duration * 60)
    return dict(offered)


class _SteadyClock(_LocalClock):
    """`_LocalClock` that converts a day's times with one offset when the offset does not
    change that day (every day but two a year): a year of grids costs a lookup per start."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__(tz)
        self._zone = tz
        self._midnights: dict[date, int | None] = {}

    def at(self, day: date, minute: int) -> int | None:
        if day not in self._midnights:
            start = datetime.combine(day, time(), self._zone)
            end = datetime.combine(day, time(23, 59), self._zone)
            steady = start.utcoffset() == end.utcoffset()
            self._midnights[day] = int(start.timestamp()) if steady else None
        midnight = self._midnights[day]
        if midnight is None or minute >= 24 * 60:
            return super().at(day, minute)
        return midnight + minute * 60


def _free(grid: list[int], spans: list[Span], starts: list[int], duration: int) -> int:
    """How many of the grid's starts no absence overlaps; most days none comes near."""
    i = bisect_left(starts, grid[-1] + duration) - 1  # the last absence starting before the end
    if i < 0 or spans[i][1] <= grid[0]:
        return len(grid)
    return sum(not _overlaps(spans, starts, s, s + duration) for s in grid)
