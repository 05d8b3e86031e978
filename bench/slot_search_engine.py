"""Benchmark of the slot search: `find_slots` against the naive minute-by-minute reference.

50 advisors, four weeks (across the spring-forward Sunday and Good Friday), about 60 % of the
grid already booked, a 30-minute service with a 10-minute buffer. Prints figures, asserts
nothing about time.

    .venv/bin/python -m bench.slot_search_engine [--runs 30] [--naive-runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time as clock
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bench.common import percentile
from bench.naive_slots import find_slots_naive
from scheduler.availability import AdvisorCalendar, Slot, SlotRules, WeeklyInterval, find_slots

TZ = ZoneInfo("Europe/Berlin")
SEED = 20260309
ADVISORS = 50
DAYS = 28
FIRST_DAY = date(2026, 3, 9)  # Monday; the range holds 2026-03-29 (DST) and Good Friday
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
CLOSED_DAYS = frozenset({date(2026, 4, 3)})  # Karfreitag
NOW = datetime(2026, 3, 8, 18, 0, tzinfo=TZ)
RULES = SlotRules(duration=30, buffer=10, min_notice=120, horizon_days=60)
TAKEN_SHARE = 0.6

MORNING, AFTERNOON = (time(8), time(12)), (time(13), time(16))
WEEK = range(5)
PART_TIME_PATTERNS: list[list[tuple[int, tuple[time, time]]]] = [
    [(day, hours) for day in (0, 1, 2) for hours in (MORNING, AFTERNOON)],  # Mon-Wed
    [(day, MORNING) for day in WEEK],  # mornings only
    [(day, hours) for day in (1, 3) for hours in (MORNING, AFTERNOON)],  # Tue and Thu
    [(day, MORNING) for day in WEEK] + [(3, AFTERNOON)],  # mornings + Thursday afternoon
]


def weekly_hours(rng: random.Random, advisor_id: int) -> list[WeeklyInterval]:
    if advisor_id % 5 == 0:  # every fifth advisor works part-time
        pattern = rng.choice(PART_TIME_PATTERNS)
    else:
        pattern = [(day, hours) for day in WEEK for hours in (MORNING, AFTERNOON)]
    return [WeeklyInterval(day, start, end) for day, (start, end) in pattern]


def build_calendars(rng: random.Random) -> tuple[list[AdvisorCalendar], int]:
    """Advisors with ~60 % of their free grid booked; returns them and the number booked."""
    calendars, booked = [], 0
    for advisor_id in range(1, ADVISORS + 1):
        weekly = weekly_hours(rng, advisor_id)
        absences: list[tuple[datetime, datetime]] = []
        if advisor_id % 10 == 3:  # a week of leave
            leave = FIRST_DAY + timedelta(days=rng.choice((7, 14)))
            absences.append(
                (
                    datetime.combine(leave, time(), TZ),
                    datetime.combine(leave + timedelta(days=7), time(), TZ),
                )
            )
        if advisor_id % 7 == 1:  # a training morning
            day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            absences.append(
                (datetime.combine(day, time(8), TZ), datetime.combine(day, time(12), TZ))
            )
        bare = AdvisorCalendar(advisor_id, weekly, absences=absences)
        grid = find_slots(
            RULES, [bare], FIRST_DAY, LAST_DAY, now=NOW, tz=TZ, closed_days=CLOSED_DAYS
        )
        chosen = rng.sample(grid, round(len(grid) * TAKEN_SHARE))
        occupied = timedelta(minutes=RULES.duration + RULES.buffer)
        taken = [(slot.start, slot.start + occupied) for slot in chosen]
        rng.shuffle(taken)
        booked += len(taken)
        calendars.append(AdvisorCalendar(advisor_id, weekly, absences=absences, taken=taken))
    return calendars, booked


def measure(run: Callable[[], list[Slot]], runs: int) -> tuple[list[float], list[Slot]]:
    result = run()  # warm-up (imports, zoneinfo cache)
    times = []
    for _ in range(runs):
        started = clock.perf_counter()
        result = run()
        times.append((clock.perf_counter() - started) * 1000)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args()

    calendars, booked = build_calendars(random.Random(SEED))
    fast_times, fast = measure(
        lambda: find_slots(
            RULES, calendars, FIRST_DAY, LAST_DAY, now=NOW, tz=TZ, closed_days=CLOSED_DAYS
        ),
        args.runs,
    )
    naive_times, naive = measure(
        lambda: find_slots_naive(
            RULES, calendars, FIRST_DAY, LAST_DAY, now=NOW, tz=TZ, closed_days=CLOSED_DAYS
        ),
        args.naive_runs,
    )

    weekly = sum(len(c.weekly) for c in calendars)
    pairs = sum(len(slot.advisor_ids) for slot in fast)
    print(f"{ADVISORS} advisors ({weekly} weekly intervals), {DAYS} days {FIRST_DAY}..{LAST_DAY}")
    print(f"service {RULES.duration} min + {RULES.buffer} min buffer, step {RULES.grid_step} min")
    closed = ", ".join(map(str, sorted(CLOSED_DAYS)))
    print(f"taken ranges: {booked} (~{TAKEN_SHARE:.0%} of the grid), closed days: {closed}")
    print(f"result: {len(fast)} start times, {pairs} free advisor slots")
    print(f"same result as naive reference: {'yes' if fast == naive else 'NO'}")
    print()
    print(
        f"{'implementation':<16}{'runs':>6}{'p50 ms':>11}{'p95 ms':>11}{'min ms':>11}{'max ms':>11}"
    )
    for name, times in (("find_slots", fast_times), ("naive", naive_times)):
        print(
            f"{name:<16}{len(times):>6}{statistics.median(times):>11.2f}"
            f"{percentile(times, 0.95):>11.2f}{min(times):>11.2f}{max(times):>11.2f}"
        )
    ratio = statistics.median(naive_times) / statistics.median(fast_times)
    print(f"\nnaive / find_slots (p50): {ratio:.1f}x")


if __name__ == "__main__":
    main()
