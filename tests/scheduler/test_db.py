"""The database itself keeps an advisor's bookings apart (SQLite: triggers, PostgreSQL: an
exclusion constraint), and `UTCDateTime` stores aware UTC times only."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from scheduler import db, sqlite_writer
from scheduler.db import call_after_commit, make_engine, make_sessionmaker, write_session
from scheduler.models import Absence, Booking, BookingStatus, Role, Service, Staff

NINE = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in Berlin
HALF_HOUR = timedelta(minutes=30)


@pytest.fixture
def ids(container) -> dict[str, int]:
    """A service and two advisors, written straight through the ORM."""
    with write_session(container.sessions) as session:
        service = Service(name="Beratung", duration_minutes=30, channels=["video"])
        first = Staff(email="a@example.org", name="A", role=Role.ADVISOR)
        second = Staff(email="b@example.org", name="B", role=Role.ADVISOR)
        session.add_all([service, first, second])
        session.flush()
        return {"service": service.id, "first": first.id, "second": second.id}


def insert(
    container,
    ids: dict[str, int],
    start: datetime,
    *,
    minutes: int = 30,
    buffer: int = 0,
    advisor: str = "first",
    status: BookingStatus = BookingStatus.CONFIRMED,
) -> int:
    end = start + timedelta(minutes=minutes)
    with write_session(container.sessions) as session:
        booking = Booking(
            service_id=ids["service"],
            advisor_id=ids[advisor],
            channel="video",
            status=status,
            start_at=start,
            end_at=end,
            blocked_until=end + timedelta(minutes=buffer),
        )
        session.add(booking)
        session.flush()
        return booking.id


def is_overlap(exc: IntegrityError) -> bool:
    """What the booking code looks for to retry after losing a race."""
    return getattr(exc.orig, "sqlstate", None) == "23P01" or "booking_overlap" in str(exc.orig)


def test_overlapping_bookings_of_one_advisor_are_refused(container, ids):
    insert(container, ids, NINE)
    with pytest.raises(IntegrityError) as raised:
        insert(container, ids, NINE + timedelta(minutes=15))
    assert is_overlap(raised.value)


def test_an_identical_booking_is_refused(container, ids):
    insert(container, ids, NINE)
    with pytest.raises(IntegrityError):
        insert(container, ids, NINE)


def test_a_booking_enclosing_another_is_refused(container, ids):
    insert(container, ids, NINE + timedelta(minutes=10), minutes=10)
    with pytest.raises(IntegrityError):
        insert(container, ids, NINE, minutes=60)


def test_the_buffer_counts_as_taken(container, ids):
    insert(container, ids, NINE, buffer=15)
    with pytest.raises(IntegrityError):
        insert(container, ids, NINE + HALF_HOUR)


def test_adjacent_bookings_are_allowed(container, ids):
    insert(container, ids, NINE, buffer=15)
    insert(container, ids, NINE + timedelta(minutes=45))
    insert(container, ids, NINE - HALF_HOUR)


def test_other_advisors_may_overlap(container, ids):
    insert(container, ids, NINE)
    insert(container, ids, NINE, advisor="second")


def test_a_hold_takes_its_range_like_a_booking(container, ids):
    insert(container, ids, NINE, status=BookingStatus.HELD)
    with pytest.raises(IntegrityError):
        insert(container, ids, NINE)


def test_a_cancelled_booking_does_not_block(container, ids):
    insert(container, ids, NINE, status=BookingStatus.CANCELLED)
    insert(container, ids, NINE)


def test_a_cancelled_booking_may_be_written_over_a_taken_range(container, ids):
    insert(container, ids, NINE)
    insert(container, ids, NINE, status=BookingStatus.CANCELLED)


def update(container, booking_id: int, **changes: object) -> None:
    with write_session(container.sessions) as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None
        for name, value in changes.items():
            setattr(booking, name, value)
        session.flush()


def test_moving_a_booking_onto_another_is_refused(container, ids):
    insert(container, ids, NINE)
    moving = insert(container, ids, NINE + timedelta(hours=1))
    later = NINE + HALF_HOUR
    with pytest.raises(IntegrityError):
        update(container, moving, start_at=NINE, end_at=later, blocked_until=later)


def test_reviving_a_cancelled_booking_onto_a_taken_range_is_refused(container, ids):
    cancelled = insert(container, ids, NINE, status=BookingStatus.CANCELLED)
    insert(container, ids, NINE)
    with pytest.raises(IntegrityError):
        update(container, cancelled, status=BookingStatus.CONFIRMED)


def test_a_booking_may_be_moved_within_its_own_range(container, ids):
    moving = insert(container, ids, NINE, minutes=60)
    later = NINE + timedelta(minutes=90)
    update(container, moving, start_at=NINE + HALF_HOUR, end_at=later, blocked_until=later)


def test_a_refused_booking_leaves_no_row(container, ids):
    insert(container, ids, NINE)
    with pytest.raises(IntegrityError):
        insert(container, ids, NINE)
    with write_session(container.sessions) as session:
        assert len(session.scalars(select(Booking)).all()) == 1


# -- UTCDateTime ---------------------------------------------------------------------------


def stored_absence(container, ids, start: datetime, end: datetime) -> Absence:
    with write_session(container.sessions) as session:
        absence = Absence(staff_id=ids["first"], start_at=start, end_at=end)
        session.add(absence)
        session.flush()
        absence_id = absence.id
    with write_session(container.sessions) as session:
        loaded = session.get(Absence, absence_id)
        assert loaded is not None
        return loaded


def test_rows_read_as_json_columns_keep_their_order_and_their_nulls(container, ids):
    """The calendars' reads (`db.json_columns`): one value, a list per column, the columns
    of one row at the same place; none for no row; and a JSON column as the value it holds
    (`db.json_values`)."""
    insert(container, ids, NINE)
    insert(container, ids, NINE + HALF_HOUR, advisor="second", buffer=15)
    bookings = (
        select(Booking.advisor_id, db.epoch(Booking.blocked_until), Booking.cancelled_at)
        .where(Booking.service_id == ids["service"])
        .subquery()
    )
    by_column = select(db.json_columns(*bookings.c))
    nothing = select(db.json_columns(*bookings.c)).where(bookings.c.advisor_id < 0)
    service = select(db.json_values(Service.id, Service.channels, Service.address)).where(
        Service.id == ids["service"]
    )
    with container.sessions() as session:
        advisors, ends, cancelled = session.execute(by_column).scalar_one()
        assert sorted(zip(advisors, ends, cancelled, strict=True)) == [
            (ids["first"], int((NINE + HALF_HOUR).timestamp()), None),
            (ids["second"], int((NINE + 2 * HALF_HOUR + timedelta(minutes=15)).timestamp()), None),
        ]
        assert session.execute(nothing).scalar_one() == [[], [], []]
        assert session.execute(service).scalar_one() == [ids["service"], ["video"], None]


def test_utc_datetime_reads_back_aware_utc(container, ids):
    berlin = datetime(2031, 7, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    absence = stored_absence(container, ids, berlin, berlin + timedelta(hours=1))
    assert absence.start_at == berlin
    assert absence.start_at.tzinfo == UTC
    assert absence.start_at.utcoffset() == timedelta(0)
    assert (absence.start_at.hour, absence.start_at.microsecond) == (7, 123456)


def test_utc_datetime_compares_in_utc_in_queries(container, ids):
    berlin = ZoneInfo("Europe/Berlin")
    stored_absence(
        container, ids, datetime(2031, 1, 7, 9, tzinfo=berlin), NINE + timedelta(hours=2)
    )
    with write_session(container.sessions) as session:
        found = session.scalars(
            select(Absence).where(Absence.start_at >= NINE, Absence.start_at < NINE + HALF_HOUR)
        ).all()
    assert len(found) == 1


def test_utc_datetime_refuses_naive_datetimes(container, ids):
    naive = datetime(2031, 1, 7, 9, 0)
    with pytest.raises(StatementError) as raised:
        stored_absence(container, ids, naive, naive + HALF_HOUR)
    assert isinstance(raised.value.orig, ValueError)
    assert "naive" in str(raised.value.orig)


# Tries the writer lock of a SQLite file without waiting: prints "free" or "taken".
_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("taken")
else:
    print("free")
"""


def _writer_lock_in_another_process(database: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, f"{database}-writer"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_sqlite_writer_lock_is_held_across_processes_for_the_whole_unit_of_work(tmp_path):
    """Other processes on the same file (`serve --workers`, `sprechstunde worker`) queue on
    the lock instead of meeting SQLite's sleep-and-poll busy handler. A SQLite file of its
    own, whatever database the suite runs on."""
    database = str(tmp_path / "locks.db")
    engine = make_engine(f"sqlite:///{database}")
    try:
        sessions = make_sessionmaker(engine)
        assert _writer_lock_in_another_process(database) == "free"
        with write_session(sessions) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            assert _writer_lock_in_another_process(database) == "taken"
        assert _writer_lock_in_another_process(database) == "free"
    finally:
        engine.dispose()


def test_sqlite_writers_of_one_process_take_turns_in_the_order_they_asked(tmp_path, monkeypatch):
    """Two threads that write again and again: each waits behind the other rather than the
    releasing one taking the lock straight back (which a plain lock allows, and which under a
    burst lets an unlucky request wait many turns)."""
    # A thread copying the log after its turn is not waiting for the next one meanwhile.
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_EVERY", 1000)
    engine = make_engine(f"sqlite:///{tmp_path / 'order.db'}")
    sessions = make_sessionmaker(engine)
    order: list[str] = []
    both = threading.Barrier(2)

    def write(name: str) -> None:
        both.wait()
        for _ in range(50):
            with write_session(sessions) as session:
                session.execute(text("SELECT 1"))
                order.append(name)

    try:
        threads = [threading.Thread(target=write, args=(name,)) for name in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        engine.dispose()
    turns = sum(1 for first, second in pairwise(order) if first != second)
    assert len(order) == 100
    assert turns >= 90, "".join(order)


def test_sqlite_log_is_checkpointed_every_so_many_writes_after_the_lock_is_released(
    tmp_path, monkeypatch
):
    """SQLite would copy its write-ahead log into the database inside the commit that filled
    it, while every other writer waits; every `CHECKPOINT_EVERY` units of work the one that
    just wrote copies it instead, after letting go of the writer lock."""
    database = str(tmp_path / "log.db")
    engine = make_engine(f"sqlite:///{database}")
    checkpoints: list[str] = []

    def checkpoint(engine) -> None:
        checkpoints.append(_writer_lock_in_another_process(database))
        copy_log(engine)

    copy_log = sqlite_writer.checkpoint
    monkeypatch.setattr(sqlite_writer, "checkpoint", checkpoint)
    try:
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == sqlite_writer.AUTOCHECKPOINT_PAGES
        sessions = make_sessionmaker(engine)
        with write_session(sessions) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        written = Path(database).read_bytes()
        for n in range(2, sqlite_writer.CHECKPOINT_EVERY):
            with write_session(sessions) as session:
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        assert checkpoints == []
        assert Path(database).read_bytes() == written, "SQLite checkpointed on its own"
        with write_session(sessions) as session:
            session.execute(text("INSERT INTO t VALUES (0)"))
        assert checkpoints == ["free"]
        with engine.connect() as connection:
            busy, log, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            assert (busy, copied) == (0, log), "the log was copied whole"
        assert Path(database).read_bytes() != written
    finally:
        engine.dispose()


def test_a_factorys_session_listeners_hear_its_own_sessions_only_and_go_with_it(tmp_path):
    """Each app wakes its workers after a commit that gave them work (`call_after_commit`):
    only after a commit of its own sessions that says so, not after a rollback, and without
    keeping the app alive once it is gone (a test run builds thousands)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'two.db'}")
    mine, other = make_sessionmaker(engine), make_sessionmaker(engine)
    heard: list[str] = []
    call_after_commit(mine, "wrote", lambda: heard.append("commit"))

    try:
        with write_session(other) as session:
            session.info["wrote"] = True
        with write_session(mine) as session:
            session.execute(text("SELECT 1"))
        assert heard == []

        def write_then_fail(sessions) -> None:
            with write_session(sessions) as session:
                session.info["wrote"] = True
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            write_then_fail(mine)
        with write_session(mine) as session:
            session.execute(text("SELECT 1"))
        assert heard == []
        with write_session(mine) as session:
            session.info["wrote"] = True
        assert heard == ["commit"]

        gone = weakref.ref(mine)
        del mine
        gc.collect()
        assert gone() is None
    finally:
        engine.dispose()


def test_sqlite_writers_get_the_connection_the_last_writer_gave_back(tmp_path):
    """A SQLite connection drops its page cache when another connection has written since its
    last transaction: the next writer is handed the connection the last one used, not the
    one that has waited longest in the pool."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    sessions = make_sessionmaker(engine)

    def writer_connection() -> object:
        with write_session(sessions) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            return session.connection().connection.dbapi_connection

    try:
        with write_session(sessions) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        # Three connections in the pool, the reader's given back last.
        held = [engine.connect() for _ in range(3)]
        for connection in held:
            connection.exec_driver_sql("SELECT count(*) FROM t").scalar()
        last_back = held[-1].connection.dbapi_connection
        for connection in held:
            connection.close()
        assert writer_connection() is last_back
        first = writer_connection()
        with engine.connect() as reader:  # a reader in between takes the same one and returns it
            assert reader.connection.dbapi_connection is first
        assert {writer_connection() for _ in range(5)} == {first}
    finally:
        engine.dispose()
