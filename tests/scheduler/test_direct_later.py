"""What `scheduler.direct` keeps for later on PostgreSQL (a transaction's BEGIN, the writes of
`Direct.later`) goes with the next statement or the COMMIT, in its round trip, and never gets
lost, doubled or sent outside its transaction. Round trips are counted in libpq's own trace
(tests/scheduler/test_round_trips.py)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool

from scheduler.db import read_session, write_session
from scheduler.direct import Direct, send_later_with_commit, together
from scheduler.models import ClosureDay
from tests.conftest import POSTGRES_URL
from tests.pg_backends import drop_backends
from tests.scheduler.test_round_trips import round_trips, traced

pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="about PostgreSQL's pipeline")

NEW_DAY = Direct(insert(ClosureDay))
DAYS = Direct(select(func.count()).select_from(ClosureDay))
OUTING = date(2031, 6, 13)


def day(n: int) -> dict[str, object]:
    return {"day": OUTING.replace(day=n), "name": f"outing {n}"}


def days(container) -> list[date]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(ClosureDay.day).order_by(ClosureDay.day)))


def test_kept_writes_go_with_the_commit_in_one_round_trip(container, engine, tmp_path):
    with traced(engine, tmp_path / "trace") as lines, write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(1))
        NEW_DAY.later(session.connection(), day(2))
    assert round_trips(lines) == 1  # BEGIN, both rows and COMMIT
    assert days(container) == [OUTING.replace(day=1), OUTING.replace(day=2)]


def test_a_kept_write_goes_with_the_next_direct_statement(container, engine, tmp_path):
    with traced(engine, tmp_path / "trace") as lines, write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(3))
        # The next statement sees it: it went first, in the same round trip.
        assert DAYS.scalar(session.connection(), {}) == 1
    assert round_trips(lines) == 2  # BEGIN, the row and the count; then COMMIT
    assert days(container) == [OUTING.replace(day=3)]


def test_a_kept_write_goes_before_a_statement_of_sqlalchemy(container):
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(4))
        assert session.scalar(select(func.count()).select_from(ClosureDay)) == 1
        session.add(ClosureDay(day=OUTING.replace(day=5), name="ORM"))
        session.flush()
    assert days(container) == [OUTING.replace(day=4), OUTING.replace(day=5)]


def keeping(container, *kept: dict[str, object], then_fail: bool = False) -> None:
    """A unit of work that keeps closure days for later, and fails at its end if told to."""
    with write_session(container.sessions) as session:
        for values in kept:
            NEW_DAY.later(session.connection(), values)
        if then_fail:
            raise RuntimeError("the request failed")


def test_a_rollback_drops_what_was_kept(container, engine):
    with pytest.raises(RuntimeError):
        keeping(container, day(6), then_fail=True)
    # The same connection serves the next unit of work without sending the dropped row.
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(7))
    assert days(container) == [OUTING.replace(day=7)]


def test_a_kept_write_that_fails_fails_the_commit_and_nothing_is_written(container):
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(8))
    with pytest.raises(IntegrityError):
        keeping(container, day(9), day(8))  # the same day again: unique
    assert days(container) == [OUTING.replace(day=8)]
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(9))
    assert days(container) == [OUTING.replace(day=8), OUTING.replace(day=9)]


def test_a_unit_of_work_that_ran_nothing_costs_no_round_trip(container, engine, tmp_path):
    with traced(engine, tmp_path / "trace") as lines:
        with write_session(container.sessions):
            pass
        with read_session(container.sessions) as session:
            session.connection()
    assert round_trips(lines) == 0


def test_statements_of_one_unit_of_work_share_its_transaction(container):
    with write_session(container.sessions) as session:
        first = DAYS.rows(session.connection(), {})
        ids = {session.scalar(text("SELECT txid_current()")) for _ in range(2)}
        ids.add(Direct(select(func.txid_current())).scalar(session.connection(), {}))
    assert first == [(0,)]
    assert len(ids) == 1


def test_together_runs_in_order_in_one_round_trip(container, engine, tmp_path):
    with traced(engine, tmp_path / "trace") as lines, write_session(container.sessions) as session:
        written, counted = together(
            session.connection(),
            (Direct(insert(ClosureDay).returning(ClosureDay.day)), day(10)),
            (DAYS, {}),
        )
    assert written == [(OUTING.replace(day=10),)]
    assert counted == [(1,)]  # the second saw the first's row
    assert round_trips(lines) == 2  # BEGIN and both statements; COMMIT


def together_in_a_unit(container, *runs) -> None:
    with write_session(container.sessions) as session:
        together(session.connection(), *runs)


def test_together_stops_at_a_failing_statement(container):
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(11))
    with pytest.raises(IntegrityError):
        together_in_a_unit(container, (NEW_DAY, day(11)), (NEW_DAY, day(12)))
    assert days(container) == [OUTING.replace(day=11)]


def test_an_autocommit_connection_still_autocommits(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM closure_days"))  # refused inside a transaction


def test_an_engine_without_it_runs_a_kept_write_at_once(container):
    assert POSTGRES_URL is not None
    plain = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with plain.begin() as connection:
            NEW_DAY.later(connection, day(13))
            assert DAYS.scalar(connection, {}) == 1
    finally:
        plain.dispose()
    assert days(container) == [OUTING.replace(day=13)]


def test_only_postgresql_keeps_statements_for_later(tmp_path):
    sqlite: Engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match="PostgreSQL"):
        send_later_with_commit(sqlite)


def counting_days(container, then: Exception | None = None) -> None:
    with write_session(container.sessions) as session:
        DAYS.rows(session.connection(), {})
        if then is not None:
            raise then


def test_a_rollback_keeps_the_statements_psycopg_has_prepared(container, engine, tmp_path):
    with traced(engine, tmp_path / "trace") as lines:  # on one new connection
        # psycopg prepares a statement that a connection has run five times.
        for _ in range(6):
            counting_days(container)
        with pytest.raises(RuntimeError):  # a refusal: Python raises after the reads
            counting_days(container, then=RuntimeError("the slot is taken"))
        counting_days(container)
    prepared = [line for line in lines if '\tParse\t "_pg3_' in line and "count" in line]
    rolled_back = [n for n, line in enumerate(lines) if '\tQuery\t "ROLLBACK"' in line]
    assert len(prepared) == 1, "\n".join(lines)
    assert len(rolled_back) == 1, "\n".join(lines)
    # The ROLLBACK did not make psycopg forget it: the count after it was not parsed again.
    after = lines[rolled_back[-1] :]
    assert not [line for line in after if "\tParse\t" in line and "count" in line]
    assert not [line for line in lines if "DEALLOCATE" in line]


def counting_after(container, kept: dict[str, object]) -> None:
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), kept)
        DAYS.rows(session.connection(), {})


def test_a_statement_first_prepared_in_a_failed_round_trip_runs_afterwards(container):
    with write_session(container.sessions) as session:
        NEW_DAY.later(session.connection(), day(15))
    container.engine.dispose()  # one new connection
    for _ in range(5):
        counting_days(container)
    # The count is prepared in the round trip of a write that fails before it: the server
    # skips its preparation, and psycopg must not believe it done.
    with pytest.raises(IntegrityError):
        counting_after(container, day(15))
    for _ in range(2):
        counting_days(container)


@pytest.mark.parametrize("where", ["statement", "commit"])
def test_a_connection_the_server_drops_is_invalidated_and_replaced(container, where):
    """As `Connection.execute` does: the error says the connection was lost (the service
    answers 503 for that), and the pool hands out a new one."""
    dropped: list[int] = []
    with pytest.raises(DBAPIError) as failure:
        _dropped_under_way(container, where, dropped)
    assert failure.value.connection_invalidated
    with read_session(container.sessions) as session:
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() not in dropped
    assert days(container) == []


def _dropped_under_way(container, where: str, dropped: list[int]) -> None:
    """A unit of work whose connection the server drops before its statement or its commit."""
    assert POSTGRES_URL is not None
    with write_session(container.sessions) as session:
        connection = session.connection()
        dropped.append(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        drop_backends(POSTGRES_URL, dropped)
        if where == "statement":
            DAYS.scalar(connection, {})
        else:
            NEW_DAY.later(connection, day(10))
