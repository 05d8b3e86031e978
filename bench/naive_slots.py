"""A deliberately slow and simple twin of `scheduler.availability.find_slots`.

It walks every local day and every wall-clock minute of every weekly interval, keeps the minutes
on the advisor's grid, turns them into aware datetimes with zoneinfo and checks each rule with
plain datetime comparisons against every taken range and absence: no POSIX seconds, no bisect,
no merging, no caching. The property tests compare `find_slots` with it, and the benchmark
times both.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.availability import AdvisorCalendar, Slot, SlotRules


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock minute, or None inside the spring-forward gap.

    An ambiguous time (the repeated autumn hour) means its first occurrence (fold=0).
    """
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    instant = naive.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return instant


def _overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def find_slots_naive(
    rules: SlotRules,
    calendars: Sequence[AdvisorCalendar],
    first_day: date,
    last_day: date,
    *,
    now: datetime,
    tz: ZoneInfo,
    closed_days: Container[date] = frozenset(),
) -> list[Slot]:
    last_day = min(last_day, now.astimezone(tz).date() + timedelta(days=rules.horizon_days))
    earliest = now + timedelta(minutes=rules.min_notice)
    duration = timedelta(minutes=rules.duration)
    occupied = timedelta(minutes=rules.duration + rules.buffer)
    step = rules.step or rules.duration + rules.buffer
    free: dict[datetime, set[int]] = {}
    day = first_day
    while day <= last_day:
        if day not in closed_days:
            for calendar in calendars:
                for interval in calendar.weekly:
                    if interval.weekday != day.weekday():
                        continue
                    begin = interval.start.hour * 60 + interval.start.minute
                    finish = interval.end.hour * 60 + interval.end.minute
                    interval_end = _local(day, finish, tz)
                    if interval_end is None:
                        # An interval that ends inside the spring gap gives nothing, as in
                        # find_slots (the end of such an interval is not a point in time).
                        continue
                    for minute in range(begin, finish):
                        if (minute - begin) % step != 0:
                            continue
                        # find_slots also wants the appointment to fit in wall-clock minutes;
                        # that differs from the instant check below only in the repeated hour.
                        if minute + rules.duration > finish:
                            continue
                        start = _local(day, minute, tz)
                        if start is None:
                            continue
                        end = start + duration
                        if start < earliest or end > interval_end:
                            continue
                        if any(_overlap(start, start + occupied, s, e) for s, e in calendar.taken):
                            continue
                        if any(_overlap(start, end, s, e) for s, e in calendar.absences):
                            continue
                        free.setdefault(start, set()).add(calendar.advisor_id)
        day += timedelta(days=1)
    return [
        Slot(start=start, end=start + duration, advisor_ids=tuple(sorted(free[start])))
        for start in sorted(free)
    ]
