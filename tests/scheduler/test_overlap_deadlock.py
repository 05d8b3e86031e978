"""Two transactions inserting overlapping bookings at once can each wait for the other while
PostgreSQL checks the exclusion constraint; it breaks that deadlock by aborting one of them. The
aborted booking tries again and ends like any lost race (the slot is taken), the aborted
waiting-list offer goes to the next free time: never a server error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time

import pytest
from sqlalchemy import Connection, Engine, insert, select, text

from scheduler import queries, services
from scheduler.catalogue import HoursSpec
from scheduler.db import conflict_kind, read_session
from scheduler.errors import SlotUnavailable
from scheduler.models import Booking, BookingStatus
from scheduler.waitlist import JoinRequest
from scheduler.waitlist_models import WaitlistOffer
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


def _deadlocked(engine: Engine, service_id: int, advisor_id: int, work: Callable[[], object]):
    """Run `work` while another transaction holds 09:00-09:10 on Tuesday, uncommitted; once
    `work` waits for it, that transaction also writes 09:20-09:30, which overlaps what `work`
    wrote meanwhile: each waits for the other. Then it commits. What `work` returned or raised."""
    start = local(TUESDAY, 9)
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # the tests assert which one
            outcome.append(exc)

    with engine.connect() as other, engine.connect() as watcher:
        # `work`'s side finds the deadlock first (its wait is the older one in any case).
        other.execute(text("SET deadlock_timeout = '30s'"))
        other.commit()
        blocker = other.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _insert(other, service_id, advisor_id, start)
        worker = threading.Thread(target=run)
        worker.start()
        _waiting_on(watcher, blocker, time.monotonic() + 10)

        _insert(other, service_id, advisor_id, start + timedelta(minutes=20))
        other.commit()
        worker.join(timeout=20)

    assert not worker.is_alive()
    assert len(outcome) == 1
    return outcome[0]


def test_a_booking_aborted_to_break_a_deadlock_tries_again_and_finds_the_slot_taken(
    container, world, engine
) -> None:
    service = world.service()
    advisor = world.advisor([service], password=None)

    outcome = _deadlocked(
        engine,
        service.id,
        advisor.id,
        lambda: container.scheduler.book(request(service, local(TUESDAY, 9))),
    )

    assert isinstance(outcome, SlotUnavailable), outcome


def test_a_waiting_list_offer_aborted_to_break_a_deadlock_goes_to_the_next_free_time(
    container, world, engine
) -> None:
    service = world.service(horizon_days=7)
    advisor = world.advisor(
        [service], password=None, hours=[HoursSpec(1, clock_time(9), clock_time(10))]
    )
    waitlist = container.waitlist
    waitlist.join(JoinRequest(service.id, "Wartende", "w@example.org", "video"))

    outcome = _deadlocked(engine, service.id, advisor.id, waitlist.run)

    assert getattr(outcome, "offered", None) == 1, outcome
    with read_session(container.sessions) as session:
        (offer,) = session.scalars(select(WaitlistOffer))
        assert offer.start_at == local(TUESDAY, 9, 30)


def _waiting(connection: Connection, count: int, deadline: float) -> None:
    """Return once `count` backends wait for a lock."""
    while time.monotonic() < deadline:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0"
            )
        ).scalar_one()
        connection.rollback()
        if waiting >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} bookings waited")


def test_bookings_of_one_advisor_written_at_once_take_turns_without_deadlocking(
    container, world, engine, monkeypatch
) -> None:
    """A crowd at a release: while one attempt at the advisor's 09:00 is under way, two more
    come, and it fails (a loser of another race, rolling back). Without turns both waited for
    it while checking the exclusion constraint, each then found the other's row still being
    checked, and PostgreSQL broke that deadlock only after a second: in the morning's crowd,
    hundreds a minute (docs/benchmarks.md). In turns, one books and the other is refused."""
    service = world.service()
    advisor = world.advisor([service], password=None)
    conflicts: list[str | None] = []

    def seen(exc):
        conflicts.append(conflict_kind(exc))
        return conflicts[-1]

    monkeypatch.setattr(services, "conflict_kind", seen)
    outcomes: list[object] = []

    def book(email: str) -> None:
        try:
            outcomes.append(container.scheduler.book(request(service, local(TUESDAY, 9), email)))
        except SlotUnavailable as refused:
            outcomes.append(refused)

    with engine.connect() as first, engine.connect() as watcher:
        # An attempt of ours that has written its row and is about to fail.
        minute = int(local(TUESDAY, 9).timestamp()) // 60
        first.execute(queries.ADVISOR_TURN, {"advisor_id": advisor.id, "minute": minute})
        _insert(first, service.id, advisor.id, local(TUESDAY, 9))
        crowd = []
        for n in range(2):
            crowd.append(threading.Thread(target=book, args=(f"p{n}@example.org",)))
            crowd[-1].start()
            _waiting(watcher, n + 1, time.monotonic() + 10)
        first.rollback()
        for person in crowd:
            person.join(30)

    assert len(outcomes) == 2
    assert sum(isinstance(outcome, SlotUnavailable) for outcome in outcomes) == 1, outcomes
    assert "deadlock" not in conflicts, conflicts
