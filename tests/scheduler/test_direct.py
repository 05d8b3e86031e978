"""Statements run straight on the driver (`scheduler.direct.Direct`) send what SQLAlchemy
would send and give back what it would give back, on either database; its errors are
SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from notifications.models import NEW_MESSAGES, OutboxMessage, OutboxStatus
from notifications.outbox import message_row
from scheduler import queries
from scheduler.db import conflict_kind, read_session, write_session
from scheduler.direct import Direct, plain
from scheduler.models import Absence, Booking, BookingStatus
from tests.scheduler.test_services import TUESDAY, book, local

NOW = datetime(2031, 1, 6, 7, 0, tzinfo=UTC)


@pytest.fixture
def calendar(container, world) -> dict[str, object]:
    """A service with two advisors, a booking, a hold and an absence on TUESDAY."""
    service = world.service()
    first = world.advisor([service])
    second = world.advisor([service])
    book(container, service, local(TUESDAY, 9))
    container.scheduler.hold(service.id, local(TUESDAY, 10), "video")
    with write_session(container.sessions) as session:
        session.add(
            Absence(staff_id=second.id, start_at=local(TUESDAY, 13), end_at=local(TUESDAY, 14))
        )
    lo = local(TUESDAY, 0) - timedelta(days=1)
    return {
        "service_id": service.id,
        "ids": [first.id, second.id],
        "lo": lo,
        "earliest": lo - timedelta(days=2),
        "hi": lo + timedelta(days=3),
        "now": NOW + timedelta(hours=2),
        "exclude": 0,
        "weekday": TUESDAY.weekday(),
        "email_key": "erika@example.org",
        "day": TUESDAY,
    }


@pytest.mark.parametrize(
    "name",
    [
        "SERVICE",
        "SERVICE_CHECKED",
        "ROSTER",
        "ROSTER_ON_WEEKDAY",
        "BUSY",
        "CALENDARS",
        "CALENDARS_ON_WEEKDAY",
        "BOOKING_CHECKS",
        "CHECKED_CALENDARS",
        "BOOKING_INFO",
    ],
)
def test_a_query_answers_as_through_sqlalchemy(container, calendar, name):
    statement = getattr(queries, name)
    params = {**calendar, "id": 1}
    with read_session(container.sessions) as session:
        connection = session.connection()
        expected = [tuple(row) for row in connection.execute(statement, params)]
        assert Direct(statement).rows(connection, params) == expected
    assert expected
    assert expected != [(None,)]


def test_a_list_bound_for_in_expands_with_its_values_processed(container, calendar):
    """A list bound for `IN` becomes one parameter per item, beside times that are bound as
    text on SQLite: each is processed as SQLAlchemy would, whatever the list's length."""
    taken = (
        select(Booking.advisor_id, Booking.status)
        .where(
            Booking.advisor_id.in_(bindparam("ids", expanding=True)),
            Booking.start_at < bindparam("hi"),
            Booking.blocked_until > bindparam("lo"),
        )
        .order_by(Booking.id)
    )
    direct = Direct(taken)
    with read_session(container.sessions) as session:
        connection = session.connection()
        for ids in ([calendar["ids"][0]], calendar["ids"], [*calendar["ids"], 999]):
            params = {**calendar, "ids": ids}
            expected = [tuple(row) for row in connection.execute(taken, params)]
            assert direct.rows(connection, params) == expected
    # The booking and the hold, whichever advisors they went to.
    assert [status for _, status in expected] == [BookingStatus.CONFIRMED, BookingStatus.HELD]


def test_an_insert_writes_what_the_orm_reads_back(container):
    rows = [
        message_row(
            "confirmation",
            f"erika{n}@example.org",
            "de",
            NOW,
            domain="example.org",
            params={"previous_start": None, "n": str(n)},
            expires_at=NOW + timedelta(days=n),
        )
        for n in range(3)
    ]
    with write_session(container.sessions) as session:
        Direct(NEW_MESSAGES).many(session.connection(), rows)
    with read_session(container.sessions) as session:
        stored = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.recipient for m in stored] == [r["recipient"] for r in rows]
    assert [m.params for m in stored] == [r["params"] for r in rows]
    assert [m.expires_at for m in stored] == [r["expires_at"] for r in rows]
    assert all(m.not_before == NOW and m.not_before.tzinfo == UTC for m in stored)
    assert {m.status for m in stored} == {OutboxStatus.PENDING}


def test_a_returning_insert_gives_back_the_new_row(container, calendar):
    values = {
        "service_id": calendar["service_id"],
        "advisor_id": calendar["ids"][1],
        "channel": "video",
        "status": BookingStatus.CONFIRMED,
        "start_at": local(TUESDAY, 15),
        "end_at": local(TUESDAY, 15, 30),
        "blocked_until": local(TUESDAY, 15, 30),
        "name": "Erika",
        "language": "de",
        "notes": "",
        "sign_language": False,
        "wheelchair_access": True,
        "token_version": 1,
        "sequence": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "search_key": "",
    }
    statement = insert(Booking).returning(Booking.id, Booking.start_at)
    with write_session(container.sessions) as session:
        ((booking_id, start),) = Direct(statement).rows(session.connection(), values)
    assert start == local(TUESDAY, 15)
    assert start.tzinfo == UTC
    with read_session(container.sessions) as session:
        stored = session.get(Booking, booking_id)
    assert (stored.start_at, stored.wheelchair_access, stored.status) == (
        start,
        True,
        BookingStatus.CONFIRMED,
    )


def test_a_violated_constraint_is_sqlalchemys_integrity_error(container):
    row = message_row("confirmation", "a@example.org", "de", NOW, domain="example.org")
    with pytest.raises(IntegrityError) as raised, write_session(container.sessions) as session:
        Direct(NEW_MESSAGES).many(session.connection(), [row, row])
    assert conflict_kind(raised.value) == "unique"
    with read_session(container.sessions) as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_a_value_its_type_refuses_is_a_statement_error(container, calendar):
    with pytest.raises(StatementError, match="naive"), read_session(container.sessions) as s:
        Direct(queries.BUSY).rows(s.connection(), {**calendar, "lo": datetime(2031, 1, 6)})


def test_bad_sql_on_the_driver_is_a_dbapi_error(container):
    with pytest.raises(DBAPIError), read_session(container.sessions) as session:
        plain(session.connection(), "THIS IS NOT SQL")


def test_an_insert_that_would_need_column_defaults_is_refused(container):
    row = message_row("confirmation", "a@example.org", "de", NOW, domain="example.org")
    del row["created_at"], row["attempts"]
    with (
        pytest.raises(ValueError, match=r"attempts, created_at|created_at, attempts"),
        write_session(container.sessions) as session,
    ):
        Direct(NEW_MESSAGES).many(session.connection(), [row])


def test_a_missing_parameter_is_sqlalchemys_error(container, calendar):
    params = {k: v for k, v in calendar.items() if k != "hi"}
    with (
        pytest.raises(SQLAlchemyError, match="'hi'"),
        read_session(container.sessions) as session,
    ):
        Direct(queries.BUSY).rows(session.connection(), params)


def test_many_rows_go_in_statements_within_sqlites_limit_of_values(container):
    """200 rows of 11 values: 2,200 values, more than the 999 SQLite allowed a statement
    before 3.32, go as three multi-row INSERTs."""
    rows = [
        message_row("confirmation", f"p{n}@example.org", "de", NOW, domain="example.org")
        for n in range(200)
    ]
    with write_session(container.sessions) as session:
        Direct(NEW_MESSAGES).many(session.connection(), rows)
    with read_session(container.sessions) as session:
        stored = session.scalars(select(OutboxMessage.recipient).order_by(OutboxMessage.id))
        assert list(stored) == [r["recipient"] for r in rows]


def test_many_inserts_only(container):
    with pytest.raises(TypeError), read_session(container.sessions) as session:
        Direct(queries.BUSY).many(session.connection(), [{}])
