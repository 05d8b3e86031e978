"""Free slots from weekly hours, absences, closed days and taken time: pure, no I/O, no clock.

Times are handled as integer POSIX seconds inside the search (it checks tens of thousands of
candidate starts per query) and as aware datetimes at the edges.

The rules, which `scheduler.services` and the database constraint share:

* A slot is `duration` long and starts on the advisor's grid: the start of a weekly interval
  plus a multiple of `step`, in local wall-clock time, so a 09:00 slot stays at 09:00 across a
  daylight-saving change. Local times that do not exist (the spring gap) give no slot.
* The appointment lies inside the weekly interval and outside every absence.
* The appointment plus the service's buffer, [start, start + duration + buffer), overlaps no
  time already taken (earlier bookings and holds, each with its own buffer).
* It starts at least `min_notice` after `now`, on a local day at most `horizon_days` ahead,
  and not on a closed day (public holiday or extra closure).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SlotRules:
    """The parts of a service that shape its slots, all in minutes except `horizon_days`."""

    duration: int
    buffer: int = 0
    step: int | None = None
    min_notice: int = 0
    horizon_days: int = 365

    @property
    def grid_step(self) -> int:
        return self.step or self.duration + self.buffer


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    weekday: int
    start: time
    end: time


@dataclass(slots=True)
class AdvisorCalendar:
    """One advisor's week and the time they cannot give: absences and taken ranges (UTC).

    The search works on the `*_spans` (merged POSIX-second ranges), computed from the
    datetime ranges given to the constructor, or handed over directly by `from_spans` when
    the caller already has seconds (the database can compute them far faster than Python
    can parse datetimes).
    """

    advisor_id: int
    weekly: Sequence[WeeklyInterval]
    absences: Sequence[tuple[datetime, datetime]] = ()
    taken: Sequence[tuple[datetime, datetime]] = ()
    absence_spans: list[Span] = field(init=False, repr=False)
    taken_spans: list[Span] = field(init=False, repr=False)
    # Unmerged starts of the taken ranges, sorted: how many appointments fall in a period.
    taken_starts: list[int] = field(init=False, repr=False)
    _by_weekday: dict[int, list[tuple[int, int]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_weekday: dict[int, list[tuple[int, int]]] = {}
        for interval in self.weekly:
            start = interval.start.hour * 60 + interval.start.minute
            end = interval.end.hour * 60 + interval.end.minute
            by_weekday.setdefault(interval.weekday, []).append((start, end))
        for intervals in by_weekday.values():
            intervals.sort()
        self._by_weekday = by_weekday
        self._set_spans(_seconds(self.absences), _seconds(self.taken))

    @classmethod
    def from_spans(
        cls,
        advisor_id: int,
        weekly: Sequence[WeeklyInterval],
        absences: Iterable[Span],
        taken: Iterable[Span],
    ) -> AdvisorCalendar:
        calendar = cls(advisor_id, weekly)
        calendar._set_spans(list(absences), list(taken))
        return calendar

    def _set_spans(self, absences: list[Span], taken: list[Span]) -> None:
        self.absence_spans = _merge(absences)
        self.taken_spans = _merge(taken)
        self.taken_starts = sorted(start for start, _ in taken)

    def appointments_between(self, start: datetime, end: datetime) -> int:
        lo, hi = int(start.timestamp()), int(end.timestamp())
        return bisect_left(self.taken_starts, hi) - bisect_left(self.taken_starts, lo)


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    advisor_ids: tuple[int, ...]


def _seconds(ranges: Iterable[tuple[datetime, datetime]]) -> list[Span]:
    """POSIX-second spans, rounded outwards so that no fraction of a range is lost."""
    return [(math.floor(s.timestamp()), math.ceil(e.timestamp())) for s, e in ranges]


def _merge(spans: list[Span]) -> list[Span]:
    """Sorted, merged, disjoint spans."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _overlaps(spans: list[Span], starts: list[int], start: int, end: int) -> bool:
    i = bisect_right(starts, start) - 1
    if i >= 0 and spans[i][1] > start:
        return True
    return i + 1 < len(spans) and spans[i + 1][0] < end


class _LocalClock:
    """Local wall-clock minute of a day -> POSIX seconds, cached: advisors share their grids."""

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._cache: dict[tuple[date, int], int | None] = {}

    def at(self, day: date, minute: int) -> int | None:
        key = (day, minute)
        if key not in self._cache:
            self._cache[key] = self._convert(day, minute)
        return self._cache[key]

    def _convert(self, day: date, minute: int) -> int | None:
        if minute >= 24 * 60:
            day, minute = day + timedelta(days=1), minute - 24 * 60
        naive = datetime.combine(day, time(minute // 60, minute % 60))
        aware = naive.replace(tzinfo=self._tz)
        if aware.astimezone(UTC).astimezone(self._tz).replace(tzinfo=None) != naive:
            return None  # inside the spring-forward gap: this wall-clock time does not exist
        return int(aware.timestamp())


def _grid(
    clock: _LocalClock, day: date, begin: int, finish: int, rules: SlotRules, earliest: int
) -> list[int]:
    """The starts of one weekly interval on one day that are bookable from `earliest` on;
    advisors with the same hours share the list."""
    finish_at = clock.at(day, finish)
    if finish_at is None:
        return []
    duration = rules.duration * 60
    starts = (
        clock.at(day, minute)
        for minute in range(begin, finish - rules.duration + 1, rules.grid_step)
    )
    return [s for s in starts if s is not None and s >= earliest and s + duration <= finish_at]


def last_bookable_day(rules: SlotRules, now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date() + timedelta(days=rules.horizon_days)


def find_slots(
    rules: SlotRules,
    calendars: Sequence[AdvisorCalendar],
    first_day: date,
    last_day: date,
    *,
    now: datetime,
    tz: ZoneInfo,
    closed_days: Container[date] = frozenset(),
    all_advisors: bool = True,
) -> list[Slot]:
    """Every free start between two local days (both inclusive), with the advisors free then.

    One entry per start time, sorted; `advisor_ids` sorted ascending. With `all_advisors`
    false a start is checked only until one advisor is found free for it (`advisor_ids`
    then names that one): enough for showing slots, and much faster with many advisors.
    """
    last_day = min(last_day, last_bookable_day(rules, now, tz))
    earliest = math.ceil(now.timestamp()) + rules.min_notice * 60
    duration, occupied = rules.duration * 60, (rules.duration + rules.buffer) * 60
    clock = _LocalClock(tz)
    free: dict[int, list[int]] = {}
    days = [
        first_day + timedelta(days=n)
        for n in range((last_day - first_day).days + 1)
        if first_day + timedelta(days=n) not in closed_days
    ]
    grids: dict[tuple[date, int, int], list[int]] = {}
    for calendar in calendars:
        absences, taken = calendar.absence_spans, calendar.taken_spans
        absence_starts, taken_starts = [s for s, _ in absences], [s for s, _ in taken]
        for day in days:
            for begin, finish in calendar._by_weekday.get(day.weekday(), ()):
                key = (day, begin, finish)
                if key not in grids:
                    grids[key] = _grid(clock, day, begin, finish, rules, earliest)
                for start in grids[key]:
                    if not all_advisors and start in free:
                        continue
                    if _overlaps(taken, taken_starts, start, start + occupied):
                        continue
                    if _overlaps(absences, absence_starts, start, start + duration):
                        continue
                    free.setdefault(start, []).append(calendar.advisor_id)
    return [
        Slot(
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(start + duration, UTC),
            advisor_ids=tuple(sorted(set(free[start]))),  # overlapping weekly intervals
        )
        for start in sorted(free)
    ]


def free_advisors_at(
    rules: SlotRules,
    calendars: Sequence[AdvisorCalendar],
    start: datetime,
    *,
    now: datetime,
    tz: ZoneInfo,
) -> tuple[int, ...]:
    """The advisors free at `start`, sorted: the `advisor_ids` that `find_slots` (with every
    free advisor) gives for that start on its local day, or () when it gives no such slot.

    Booking checks one start; this tests it against each weekly interval instead of walking
    the day's whole grid. Closed days are the caller's to check, as for `find_slots`.
    """
    at = start.timestamp()
    if at != int(at):
        return ()
    at = int(at)
    local = start.astimezone(tz)
    day, minute = local.date(), local.hour * 60 + local.minute
    earliest = math.ceil(now.timestamp()) + rules.min_notice * 60
    if at < earliest or day > last_bookable_day(rules, now, tz):
        return ()
    duration, occupied = rules.duration * 60, (rules.duration + rules.buffer) * 60
    clock = _LocalClock(tz)
    free: set[int] = set()
    for calendar in calendars:
        for begin, finish in calendar._by_weekday.get(day.weekday(), ()):
            on_grid = begin <= minute <= finish - rules.duration and not (
                (minute - begin) % rules.grid_step
            )
            # The grid's own test: the wall-clock minute must name this very instant (not the
            # repeated hour's second pass) and the appointment must end by the interval's end.
            finish_at = clock.at(day, finish) if on_grid else None
            if finish_at is None or clock.at(day, minute) != at or at + duration > finish_at:
                continue
            taken, absences = calendar.taken_spans, calendar.absence_spans
            if _overlaps(taken, [s for s, _ in taken], at, at + occupied):
                continue
            if _overlaps(absences, [s for s, _ in absences], at, at + duration):
                continue
            free.add(calendar.advisor_id)
            break
    return tuple(sorted(free))


def is_on_grid(
    rules: SlotRules, calendars: Sequence[AdvisorCalendar], start: datetime, tz: ZoneInfo
) -> bool:
    """Whether `start` is a grid time of some advisor's weekly hours, taken or not."""
    day = start.astimezone(tz).date()
    bare = [AdvisorCalendar(c.advisor_id, c.weekly) for c in calendars]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rules = SlotRules(rules.duration, rules.buffer, rules.step, 0, 100_000)
    return any(s.start == start for s in find_slots(rules, bare, day, day, now=epoch, tz=tz))
