"""The waiting list's offer loop after 500 cancellations at once (the staff's view of a list
of 10,000 is measured in bench/staff_lists.py).

Offer loop: one service with 25 advisors whose every slot of the horizon (three days) is
booked, 600 people waiting; 500 of the bookings are cancelled in one statement, then one run
of the offer loop makes the offers (a held slot, the offer row and the mail's outbox row each)
and the outbox renders the 500 offer mails. Prints the time until every offer is made and
until every mail is out. A benchmark, not a test: it prints figures, it asserts nothing.

    .venv/bin/python -m bench.bench_waitlist [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import tempfile
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from bench.common import fresh_postgres
from scheduler.accounts import StaffIdentity
from scheduler.availability import find_slots
from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.db import read_session, write_session
from scheduler.models import Booking, BookingStatus, Role
from scheduler.placement import slot_rules
from scheduler.references import new_reference
from scheduler.waitlist_models import EntryStatus, WaitlistEntry, WaitlistOffer
from web.container import Container
from web.database import migrate
from web.settings import Settings

NOW = datetime(2031, 2, 3, 5, 0, tzinfo=UTC)  # a Monday morning, before opening
FIRST = date(2031, 2, 3)
PASSWORD = "bench password 1234"
ENTRIES = 10_000
SERVICES = 20
ADVISORS = 25
WAITING = 600
CANCELLED = 500
HOURS = [HoursSpec(d, time(h1), time(h2)) for d in range(5) for h1, h2 in ((9, 12), (13, 16))]


def _settings(url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        env="test",
        secret_key="bench-secret-key-that-is-long-enough-0123",
        base_url="http://bench.example",
        embedded_worker=False,
        freeze_startup_objects=False,
    )


def _admin(container: Container) -> StaffIdentity:
    with write_session(container.sessions) as session:
        staff = container.accounts.create(
            session, email="admin@bench.example", name="Admin", role=Role.ADMIN, password=PASSWORD
        )
        return StaffIdentity.of(staff)


def _entries(service_ids: list[int], count: int) -> list[dict[str, object]]:
    return [
        {
            "service_id": service_ids[n % len(service_ids)],
            "name": f"Wartende {n}",
            "email": f"w{n}@bench.example",
            "email_key": f"w{n}@bench.example",
            "channel": "video",
            "weekdays": [],
            "day_parts": [],
            "language": "de",
            "status": EntryStatus.WAITING.value,
            "token_version": 1,
            "created_at": NOW - timedelta(minutes=count - n),
            "updated_at": NOW,
        }
        for n in range(count)
    ]


def _analyse(container: Container) -> None:
    # A bulk load leaves the planner without statistics; a live database has them.
    with container.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def _fill(container: Container, service_id: int) -> list[int]:
    """Book every slot of the service's horizon; the ids of the bookings."""
    scheduler = container.scheduler
    with read_session(container.sessions) as session:
        service = scheduler.placement.service(session, service_id)
        last = FIRST + timedelta(days=service.horizon_days)
        calendars = scheduler.placement.calendars(session, service, FIRST, last, NOW)
        rules = slot_rules(service)
    rows = [
        {
            "reference": new_reference(),
            "service_id": service_id,
            "advisor_id": calendar.advisor_id,
            "channel": "video",
            "status": BookingStatus.CONFIRMED.value,
            "start_at": slot.start,
            "end_at": slot.end,
            "blocked_until": slot.end,
            "name": "Bench",
            "email": "bench@example.org",
            "language": "de",
            "notes": "",
            "token_version": 1,
            "sequence": 0,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for calendar in calendars
        for slot in find_slots(rules, [calendar], FIRST, last, now=NOW, tz=scheduler.tz)
    ]
    with write_session(container.sessions) as session:
        session.execute(insert(Booking), rows)
        return list(session.scalars(select(Booking.id).order_by(Booking.start_at, Booking.id)))


def offer_loop(url: str) -> None:
    container = Container.build(_settings(url), clock=lambda: NOW)
    migrate(container.engine)
    admin = _admin(container)
    service = container.catalogue.create_service(
        admin, ServiceSpec("Beratung", 30, ["video"], min_notice_minutes=0, horizon_days=2)
    )
    for n in range(ADVISORS):
        staff, _ = container.catalogue.create_advisor(
            admin, AdvisorSpec(f"Advisor {n}", f"advisor{n}@bench.example", [service.id])
        )
        container.catalogue.set_weekly_hours(admin, staff.id, HOURS)
    booked = _fill(container, service.id)
    with write_session(container.sessions) as session:
        session.execute(insert(WaitlistEntry), _entries([service.id], WAITING))
    _analyse(container)
    freed = booked[:: max(1, len(booked) // CANCELLED)][:CANCELLED]
    with write_session(container.sessions) as session:
        session.execute(
            update(Booking)
            .where(Booking.id.in_(freed))
            .values(status=BookingStatus.CANCELLED.value, cancelled_at=NOW)
        )
    started = clock.perf_counter()
    result = container.waitlist.run()
    offered = clock.perf_counter() - started
    while container.outbox.deliver_due():
        pass
    mailed = clock.perf_counter() - started
    with read_session(container.sessions) as session:
        offers = session.scalar(select(func.count()).select_from(WaitlistOffer))
    print(
        f"  offer loop after {len(freed)} cancellations ({len(booked)} bookings, {WAITING} "
        f"waiting): {result.offered} offers ({offers} rows) in {offered:.2f} s "
        f"({offered / max(1, result.offered) * 1000:.1f} ms each); with their mails rendered "
        f"{mailed:.2f} s"
    )
    container.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        print("== SQLite")
        with tempfile.TemporaryDirectory() as directory:
            offer_loop(f"sqlite:///{Path(directory) / 'offers.db'}")
    if args.database in ("postgres", "both"):
        print("== PostgreSQL")
        offer_loop(fresh_postgres("bench_waitlist"))


if __name__ == "__main__":
    main()
