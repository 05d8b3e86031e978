"""Slot search for one service with 50 advisors over 28 days, 60 % already booked.

Prints p50/p95 in ms for the whole query through `Scheduler.slots` (database read plus
search) on SQLite and PostgreSQL, the pure search alone, and the naive minute-by-minute
reference over the same calendars, all in one run. A benchmark, not a test.

    .venv/bin/python -m bench.slot_search [--database sqlite|postgres|both] [--runs 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from bench.common import fresh_postgres, percentile
from bench.naive_slots import find_slots_naive
from scheduler.accounts import StaffIdentity
from scheduler.availability import AdvisorCalendar, find_slots
from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.db import read_session, write_session
from scheduler.models import Booking, BookingStatus, Role
from scheduler.placement import slot_rules
from scheduler.references import new_reference
from web.container import Container
from web.settings import Settings

NOW = datetime(2031, 2, 3, 5, 0, tzinfo=UTC)  # a Monday morning, before opening
FIRST = date(2031, 2, 3)
DAYS = 28
ADVISORS = 50
BOOKED = 0.6

FULL = [
    HoursSpec(d, time(h1, m1), time(h2, m2))
    for d in range(5)
    for (h1, m1, h2, m2) in ((8, 0, 12, 0), (12, 30, 16, 0))
]
PART = [HoursSpec(d, time(8), time(12, 30)) for d in range(3)]


def _build(url: str) -> tuple[Container, int]:
    from web.database import migrate

    container = Container.build(
        Settings(_env_file=None, database_url=url, env="test"),
        clock=lambda: NOW,
    )
    migrate(container.engine)
    with write_session(container.sessions) as session:
        admin = StaffIdentity.of(
            container.accounts.create(
                session, email="admin@bench.example", name="Admin", role=Role.ADMIN, password=None
            )
        )
    service = container.catalogue.create_service(
        admin,
        ServiceSpec(
            "Beratung", 30, ["video"], buffer_minutes=10, min_notice_minutes=0, horizon_days=60
        ),
    )
    for n in range(ADVISORS):
        staff, _ = container.catalogue.create_advisor(
            admin, AdvisorSpec(f"Advisor {n}", f"advisor{n}@bench.example", [service.id])
        )
        container.catalogue.set_weekly_hours(admin, staff.id, PART if n % 5 == 4 else FULL)
    _fill(container, service.id)
    return container, service.id


def _fill(container: Container, service_id: int) -> None:
    """Book 60 % of every advisor's free slots, written in bulk."""
    scheduler = container.scheduler
    rng = random.Random(7)
    last = FIRST + timedelta(days=DAYS - 1)
    with read_session(container.sessions) as session:
        service = scheduler.placement.service(session, service_id)
        calendars = scheduler.placement.calendars(session, service, FIRST, last, NOW)
        rules = slot_rules(service)
    rows = []
    for calendar in calendars:
        for slot in find_slots(rules, [calendar], FIRST, last, now=NOW, tz=scheduler.tz):
            if rng.random() < BOOKED:
                rows.append(
                    {
                        "reference": new_reference(),
                        "service_id": service_id,
                        "advisor_id": calendar.advisor_id,
                        "channel": "video",
                        "status": BookingStatus.CONFIRMED.value,
                        "start_at": slot.start,
                        "end_at": slot.end,
                        "blocked_until": slot.end + timedelta(minutes=10),
                        "name": "Bench",
                        "email": "bench@example.org",
                        "language": "de",
                        "notes": "",
                        "token_version": 1,
                        "sequence": 0,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
    with write_session(container.sessions) as session:
        session.execute(insert(Booking), rows)
    # A bulk load leaves the planner without statistics; a live database has them (PostgreSQL's
    # autovacuum analyses a table after a tenth of it changed).
    with container.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    print(f"  {len(rows)} bookings of {ADVISORS} advisors over {DAYS} days")


def _measure(work: Callable[[], object], runs: int) -> tuple[float, float, int]:
    work()  # warm caches (holidays, zoneinfo) before timing
    times, size = [], 0
    for _ in range(runs):
        started = clock.perf_counter()
        result = work()
        times.append((clock.perf_counter() - started) * 1000)
        size = len(result)  # type: ignore[arg-type]  # every measured call returns a list
    times.sort()
    return statistics.median(times), percentile(times, 0.95), size


def _with_datetimes(calendar: AdvisorCalendar) -> AdvisorCalendar:
    def moments(spans: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
        return [(datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC)) for s, e in spans]

    return AdvisorCalendar(
        calendar.advisor_id,
        calendar.weekly,
        moments(calendar.absence_spans),
        moments(calendar.taken_spans),
    )


def run(url: str, label: str, runs: int) -> None:
    print(f"== {label}")
    container, service_id = _build(url)
    scheduler = container.scheduler
    last = FIRST + timedelta(days=DAYS - 1)
    with read_session(container.sessions) as session:
        service = scheduler.placement.service(session, service_id)
        calendars = scheduler.placement.calendars(session, service, FIRST, last, NOW)
        closed = scheduler.placement.closed(session, FIRST, last)
        rules = slot_rules(service)
    as_datetimes = [_with_datetimes(c) for c in calendars]
    rows = [
        (
            # What `Scheduler.slots` computes when its kept answer has gone stale.
            "Scheduler.slots (database + search)",
            _measure(
                lambda: scheduler.placement.free_times(
                    container.sessions, service_id, None, FIRST, last, NOW
                ),
                runs,
            ),
        ),
        (
            "find_slots (search only)",
            _measure(
                lambda: find_slots(
                    rules,
                    calendars,
                    FIRST,
                    last,
                    now=NOW,
                    tz=scheduler.tz,
                    closed_days=closed,
                    all_advisors=False,
                ),
                runs,
            ),
        ),
        (
            "find_slots (search only, every free advisor)",
            _measure(
                lambda: find_slots(
                    rules, calendars, FIRST, last, now=NOW, tz=scheduler.tz, closed_days=closed
                ),
                runs,
            ),
        ),
        (
            "naive minute-by-minute reference",
            _measure(
                lambda: find_slots_naive(
                    rules,
                    as_datetimes,
                    FIRST,
                    last,
                    now=NOW,
                    tz=scheduler.tz,
                    closed_days=closed,
                ),
                max(3, runs // 10),
            ),
        ),
    ]
    print(f"  {'what':46} {'p50 ms':>9} {'p95 ms':>9} {'slots':>6}")
    for name, (p50, p95, size) in rows:
        print(f"  {name:46} {p50:9.1f} {p95:9.1f} {size:6d}")
    container.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as directory:
            run(f"sqlite:///{Path(directory) / 'bench.db'}", "SQLite", args.runs)
    if args.database in ("postgres", "both"):
        run(fresh_postgres("bench"), "PostgreSQL", args.runs)


if __name__ == "__main__":
    main()
