"""A booking on PostgreSQL waits for the server as few times as it can (scheduler/direct.py):
once for the service, the person's lock, the checks and the day's calendars, once for the
booking, its messages and the COMMIT. Counted in libpq's own trace of the connection: each
round trip ends with the server's ReadyForQuery."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, func, select

from notifications.models import OutboxMessage
from scheduler.catalogue import HoursSpec
from scheduler.db import read_session
from scheduler.errors import SlotUnavailable
from scheduler.models import Booking
from scheduler.requests import BookingRequest
from tests.conftest import POSTGRES_URL
from tests.scheduler.test_services import TUESDAY, WEDNESDAY, book, local, stored

pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="about PostgreSQL's round trips")


@contextmanager
def traced(engine: Engine, path: Path) -> Iterator[list[str]]:
    """libpq's trace of every connection `engine` hands out meanwhile; its lines at the end."""

    def on(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.pgconn.trace(file.fileno())
        dbapi_connection.pgconn.set_trace_flags(
            psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
        )

    def off(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.pgconn.untrace()

    # Connections made now, not ones idle for a second: those are pinged first.
    engine.dispose()
    lines: list[str] = []
    with path.open("w") as file:
        event.listen(engine, "checkout", on)
        event.listen(engine, "checkin", off)
        try:
            yield lines
        finally:
            event.remove(engine, "checkout", on)
            event.remove(engine, "checkin", off)
    lines += path.read_text().splitlines()


def round_trips(lines: list[str]) -> int:
    return sum(1 for line in lines if "\tReadyForQuery\t" in line)


def test_a_booking_waits_for_the_server_twice(container, world, engine, tmp_path):
    service = world.service()
    world.advisor([service], password=None)
    start = local(TUESDAY, 9)

    with traced(engine, tmp_path / "libpq.trace") as lines:
        placed = book(container, service, start)

    assert round_trips(lines) == 2, "\n".join(lines)
    with read_session(container.sessions) as session:
        written = session.get(Booking, placed.id)
        assert written is not None
        assert written.start_at == start
        messages = session.scalar(select(func.count()).where(OutboxMessage.booking_id == placed.id))
    assert messages == 3  # the confirmation and two reminders, committed with the booking


def test_a_phone_callback_without_an_address_waits_twice_too(container, world, engine, tmp_path):
    service = world.service()
    world.advisor([service], password=None)
    start = local(TUESDAY, 9)

    with traced(engine, tmp_path / "libpq.trace") as lines:
        placed = container.scheduler.book(
            BookingRequest(
                service_id=service.id,
                start=start,
                channel="phone",
                name="Erika Mustermann",
                email=None,
                phone="+49 345 1234567",
            )
        ).booking

    assert round_trips(lines) == 2, "\n".join(lines)
    assert placed is not None
    assert stored(container, placed.reference).phone == "+49 345 1234567"


def test_a_booking_whose_buffer_runs_past_midnight_reads_the_next_day_too(
    container, world, engine, tmp_path
):
    # The calendars go with the service, before its buffer is known: read for the booking's
    # day, then again past midnight once the buffer shows that it reaches into the next day.
    service = world.service(buffer_minutes=120, slot_interval_minutes=30)
    world.advisor(
        [service],
        hours=[
            HoursSpec(TUESDAY.weekday(), time(22), time(23)),
            HoursSpec(WEDNESDAY.weekday(), time(0), time(1)),
        ],
    )
    book(container, service, local(WEDNESDAY, 0))

    with traced(engine, tmp_path / "libpq.trace") as lines, pytest.raises(SlotUnavailable):
        book(container, service, local(TUESDAY, 22, 30))  # blocked until 01:00

    assert round_trips(lines) == 3, "\n".join(lines)  # no retry against the constraint
