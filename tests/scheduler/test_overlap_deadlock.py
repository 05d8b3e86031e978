"""Two transactions inserting overlapping bookings at once can each wait for the other while
PostgreSQL checks the exclusion constraint; it breaks that deadlock by aborting one of them. The
aborted booking tries again and ends like any lost race: the slot is taken, never a server error."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, insert, text

from scheduler.errors import SlotUnavailable
from scheduler.models import Booking, BookingStatus
from tests.conftest import POSTGRES_URL
from tests.scheduler.test_services import TUESDAY, local, request

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="about PostgreSQL's exclusion constraint"
)


def _insert(connection: Connection, service_id: int, advisor_id: int, start: datetime) -> None:
    end = start + timedelta(minutes=10)
    connection.execute(
        insert(Booking).values(
            service_id=service_id,
            advisor_id=advisor_id,
            channel="video",
            status=BookingStatus.CONFIRMED,
            start_at=start,
            end_at=end,
            blocked_until=end,
            name="Other",
        )
    )


def _waiting_on(connection: Connection, blocker: int, deadline: float) -> int:
    """The backend that waits for `blocker`'s transaction, once one does."""
    while time.monotonic() < deadline:
        waiting = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE :blocker = ANY(pg_blocking_pids(pid))"),
            {"blocker": blocker},
        ).scalar()
        connection.rollback()  # pg_stat_activity is a snapshot per transaction
        if waiting is not None:
            return int(waiting)
        time.sleep(0.02)
    raise AssertionError("the booking never waited for the other transaction")


def test_a_booking_aborted_to_break_a_deadlock_tries_again_and_finds_the_slot_taken(
    container, world, engine
) -> None:
    service = world.service()
    advisor = world.advisor([service], password=None)
    start = local(TUESDAY, 9)
    outcome: list[object] = []

    def book() -> None:
        try:
            outcome.append(container.scheduler.book(request(service, start)))
        except Exception as exc:  # the test asserts which one
            outcome.append(exc)

    with engine.connect() as other, engine.connect() as watcher:
        # The booking's side finds the deadlock first (its wait is the older one in any case).
        other.execute(text("SET deadlock_timeout = '30s'"))
        other.commit()
        blocker = other.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _insert(other, service.id, advisor.id, start)  # 09:00–09:10, not yet committed
        booking = threading.Thread(target=book)
        booking.start()
        _waiting_on(watcher, blocker, time.monotonic() + 10)

        # 09:20–09:30 overlaps the booking's own uncommitted 09:00–09:30: each waits for the other.
        _insert(other, service.id, advisor.id, start + timedelta(minutes=20))
        other.commit()
        booking.join(timeout=20)

    assert not booking.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], SlotUnavailable), outcome[0]
