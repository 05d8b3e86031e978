"""A generated year of the office, for checking and timing the statistics: 50 advisors in 8
services, 100,000 bookings, 20,000 callback requests with their attempts, 3,000 waiting-list
entries with offers, and the counts of a year of citizens' searches. Written with bulk Core
inserts from a fixed random seed, so every run (and both databases) gets the same rows.

Times are whole seconds, as the statistics read them from the database. Bookings lie on an
advisor's hour cells, so the ones that occupy time never overlap (PostgreSQL's exclusion
constraint checks it); cancelled ones may share a cell.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, text

from scheduler.calendar import public_holidays
from scheduler.callbacks_models import CallbackAttempt, CallbackRequest
from scheduler.models import (
    Absence,
    Booking,
    ClosureDay,
    Service,
    Staff,
    Team,
    WeeklyHours,
    staff_services,
)
from scheduler.statistics_models import BookingCanceller, SearchWait
from scheduler.waitlist_models import WaitlistEntry, WaitlistOffer

TZ = ZoneInfo("Europe/Berlin")
FIRST = date(2031, 1, 6)  # a Monday
LAST = date(2032, 1, 4)  # the Sunday 52 weeks later
SEED = 15
ADVISORS = 50
BOOKINGS = 100_000
CANCELLED = 15_000
CALLBACKS = 20_000
ENTRIES = 3_000
# (duration, buffer, slot interval, channels); every duration plus buffer fits an hour cell.
SERVICES = [
    (30, 0, None, ["video", "phone", "in_person"]),
    (45, 15, None, ["video", "phone"]),
    (60, 0, None, ["in_person"]),
    (20, 10, 15, ["phone"]),
    (30, 5, 30, ["video", "in_person"]),
    (50, 10, None, ["video", "phone", "in_person"]),
    (25, 5, None, ["phone", "video"]),
    (40, 0, 20, ["in_person", "phone"]),
]


@dataclass(frozen=True)
class Year:
    first: date
    last: date
    service_ids: list[int]
    team_ids: list[int]


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TZ).astimezone(UTC)


def _insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows`; their ids (given here, so that no database has to return them)."""
    with engine.begin() as connection:
        for n in range(0, len(rows), 5000):
            connection.execute(insert(table), rows[n : n + 5000])
        if engine.dialect.name == "postgresql" and rows and "id" in rows[0]:
            # Ids given here leave PostgreSQL's sequence behind: the app adds rows afterwards.
            name = getattr(table, "__table__", table).name
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence(:name, 'id'), :top)"),
                {"name": name, "top": max(row["id"] for row in rows)},
            )
    return [row["id"] for row in rows if "id" in row]


def generate(engine: Engine) -> Year:
    rng = random.Random(SEED)
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    holidays = public_holidays("DE", "ST", 2031) | public_holidays("DE", "ST", 2032)
    closures = [date(2031, 6, 13), date(2031, 9, 26), date(2031, 12, 29)]
    _insert(
        engine, ClosureDay, [{"id": n + 1, "day": d, "name": ""} for n, d in enumerate(closures)]
    )
    teams = _insert(
        engine, Team, [{"id": n + 1, "name": f"Team {n + 1}", "email": None} for n in range(3)]
    )
    services = _insert(
        engine,
        Service,
        [
            {
                "id": n + 1,
                "name": f"Leistung {n + 1}",
                "description": "",
                "description_en": "",
                "duration_minutes": duration,
                "buffer_minutes": buffer,
                "slot_interval_minutes": interval,
                "min_notice_minutes": 60,
                "horizon_days": 60,
                "channels": channels,
                "team_id": teams[n % 3] if n < 7 else None,
                "active": True,
                "advisors_take_callbacks": False,
            }
            for n, (duration, buffer, interval, channels) in enumerate(SERVICES)
        ],
    )
    staff_rows: list[dict[str, Any]] = [
        {
            "id": n + 1,
            "email": f"staff{n + 1}@bench.example",
            "name": f"Staff {n + 1}",
            "role": "advisor" if n < ADVISORS else "hotline",
            "password_hash": None,
            "team_id": teams[n % 3],
            "active": True,
            "created_at": _local(FIRST, 7),
        }
        for n in range(ADVISORS + 3)
    ]
    _insert(engine, Staff, staff_rows)
    advisors = [r["id"] for r in staff_rows[:ADVISORS]]
    hotline = [r["id"] for r in staff_rows[ADVISORS:]]
    serves: dict[int, list[int]] = {s: [] for s in services}
    links = []
    for n, advisor in enumerate(advisors):
        for service in {services[n % len(services)], rng.choice(services)}:
            serves[service].append(advisor)
            links.append({"staff_id": advisor, "service_id": service})
    _insert(engine, staff_services, links)
    # Full-time: weekdays 08:00-16:00; part-time: Monday to Wednesday, Thursday mornings.
    hours: dict[int, dict[int, tuple[int, int]]] = {}
    for n, advisor in enumerate(advisors):
        part_time = n % 5 == 4
        week = dict.fromkeys(range(3 if part_time else 5), (8, 16))
        if part_time:
            week[3] = (8, 12)
        hours[advisor] = week
    hour_rows = [
        {"staff_id": a, "weekday": d, "start": f"{s:02d}:00", "end": f"{e:02d}:00"}
        for a, week in hours.items()
        for d, (s, e) in week.items()
    ]
    _insert(engine, WeeklyHours, [{"id": n + 1, **r} for n, r in enumerate(hour_rows)])
    absence_rows = []
    for advisor in advisors:
        for _ in range(4):
            day = rng.choice(days)
            if rng.random() < 0.5:  # a few days off
                start, end = _local(day, 0), _local(day + timedelta(days=rng.randint(1, 5)), 0)
            else:  # an appointment of their own
                start = _local(day, rng.randint(8, 14), rng.choice((0, 15, 30)))
                end = start + timedelta(minutes=rng.choice((45, 90, 120)))
            absence_rows.append({"staff_id": advisor, "start_at": start, "end_at": end})
    _insert(engine, Absence, [{"id": n + 1, **r, "reason": ""} for n, r in enumerate(absence_rows)])

    open_days = [d for d in days if d not in holidays and d not in closures]
    cells = [
        (advisor, service, day, hour)
        for service, advisor_ids in serves.items()
        for advisor in advisor_ids
        for day in open_days
        if day.weekday() in hours[advisor]
        for hour in range(*hours[advisor][day.weekday()])
    ]
    # An advisor's cell belongs to one of their services only.
    rng.shuffle(cells)
    taken: set[tuple[int, date, int]] = set()
    occupying = []
    for cell in cells:
        key = (cell[0], cell[2], cell[3])
        if key not in taken:
            taken.add(key)
            occupying.append(cell)
        if len(occupying) == BOOKINGS - CANCELLED:
            break
    chosen = occupying + [rng.choice(cells) for _ in range(CANCELLED)]
    bookings, cancellers = [], []
    for n, (advisor, service, day, hour) in enumerate(chosen):
        duration, buffer, _, channels = SERVICES[service - 1]
        start = _local(day, hour)
        created = start - timedelta(seconds=rng.randint(3600, 60 * 86400))
        status = rng.choices(("completed", "no_show", "confirmed"), (88, 10, 2))[0]
        cancelled_at = None
        if n >= BOOKINGS - CANCELLED:
            status = "cancelled"
            cancelled_at = created + (start - created) * rng.random()
            cancelled_at = cancelled_at.replace(microsecond=0)
            by = rng.choices(("citizen", "staff", "office", None), (60, 25, 10, 5))[0]
            if by is not None:
                cancellers.append({"booking_id": n + 1, "cancelled_by": by})
        bookings.append(
            {
                "id": n + 1,
                "reference": None,
                "service_id": service,
                "advisor_id": advisor,
                "channel": rng.choice(channels),
                "status": status,
                "start_at": start,
                "end_at": start + timedelta(minutes=duration),
                "blocked_until": start + timedelta(minutes=duration + buffer),
                "name": "Person",
                "created_by_id": rng.choice(hotline) if rng.random() < 0.3 else None,
                "created_at": created,
                "updated_at": created,
                "cancelled_at": cancelled_at,
            }
        )
    # Latest first: SQLite's overlap trigger then finds each new booking's neighbours at once.
    _insert(engine, Booking, sorted(bookings, key=lambda b: b["start_at"], reverse=True))
    _insert(engine, BookingCanceller, cancellers)
    _callbacks(engine, rng, services, open_days, hotline, len(bookings))
    _waitlist(engine, rng, services, open_days, serves)
    _searches(engine, rng, services, days)
    with engine.begin() as connection:
        # A bulk load leaves the planner without statistics; a live database has them.
        connection.execute(text("ANALYZE"))
    return Year(FIRST, LAST, services, teams)


def _moment(rng: random.Random, days: list[date]) -> datetime:
    return _local(rng.choice(days), rng.randint(7, 17), rng.randint(0, 59))


def _callbacks(
    engine: Engine,
    rng: random.Random,
    services: list[int],
    days: list[date],
    staff: list[int],
    bookings: int,
) -> None:
    requests, attempts = [], []
    for n in range(CALLBACKS):
        created = _moment(rng, days)
        status = rng.choices(
            ("booked", "settled", "closed", "withdrawn", "open"), (25, 35, 20, 10, 10)
        )[0]
        at = created
        tries = 0 if status in ("withdrawn", "open") and rng.random() < 0.7 else rng.randint(1, 3)
        for t in range(tries):
            at += timedelta(seconds=rng.randint(600, 2 * 86400))
            last = t == tries - 1
            outcome = "reached" if last and status in ("booked", "settled") else "not_reached"
            attempts.append(
                {"callback_id": n + 1, "staff_id": rng.choice(staff), "outcome": outcome, "at": at}
            )
        requests.append(
            {
                "id": n + 1,
                "reference": f"C{n:07d}",
                "service_id": rng.choice(services),
                "status": status,
                "name": "Person",
                "phone": "0391 5400",
                "phone_key": "3915400",
                "windows": [],
                "due_at": created,
                "attempts": tries,
                "booking_id": rng.randint(1, bookings) if status == "booked" else None,
                "created_at": created,
                "updated_at": at,
                "closed_at": None if status == "open" else at + timedelta(minutes=5),
            }
        )
    _insert(engine, CallbackRequest, requests)
    _insert(engine, CallbackAttempt, [{"id": n + 1, **a} for n, a in enumerate(attempts)])


def _waitlist(
    engine: Engine,
    rng: random.Random,
    services: list[int],
    days: list[date],
    serves: dict[int, list[int]],
) -> None:
    entries, offers = [], []
    for n in range(ENTRIES):
        service = rng.choice(services)
        channel = rng.choice(SERVICES[service - 1][3])
        created = _moment(rng, days)
        at = created
        count = rng.choices((0, 1, 2, 3), (30, 40, 20, 10))[0]
        status = "waiting" if count == 0 and rng.random() < 0.5 else "left"
        for k in range(count):
            at += timedelta(seconds=rng.randint(3600, 20 * 86400))
            accepted = k == count - 1 and rng.random() < 0.6
            status = "booked" if accepted else "removed"
            offers.append(
                {
                    "entry_id": n + 1,
                    "service_id": service,
                    "advisor_id": rng.choice(serves[service]),
                    "channel": channel,
                    "start_at": at + timedelta(days=3),
                    "end_at": at + timedelta(days=3, minutes=30),
                    "expires_at": at + timedelta(hours=12),
                    "status": "accepted" if accepted else rng.choice(("declined", "expired")),
                    "created_at": at,
                    "decided_at": at + timedelta(hours=1),
                }
            )
        entries.append(
            {
                "id": n + 1,
                "service_id": service,
                "name": "Person",
                "email": f"p{n}@bench.example",
                "email_key": f"p{n}@bench.example",
                "channel": channel,
                "weekdays": [],
                "day_parts": [],
                "status": status,
                "created_at": created,
                "updated_at": at + timedelta(hours=2),
            }
        )
    _insert(engine, WaitlistEntry, entries)
    _insert(engine, WaitlistOffer, [{"id": n + 1, **o} for n, o in enumerate(offers)])


def _searches(engine: Engine, rng: random.Random, services: list[int], days: list[date]) -> None:
    rows = [
        {"service_id": s, "day": d, "channel": c, "wait_days": w, "count": rng.randint(1, 40)}
        for s in services
        for d in days
        for c in ("", rng.choice(SERVICES[s - 1][3]))
        for w in sorted({-1, *rng.sample(range(0, 30), 3)})
    ]
    _insert(engine, SearchWait, rows)


def row_count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(text("count(*)")).select_from(table)) or 0)
