"""The booking path's queries are served by indexes, however many bookings there are: SQLite
without statistics otherwise picks a poor one (the per-person cap read every confirmed booking
through `ix_bookings_status`, and grew slower with each booking of the morning)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from scheduler import queries
from scheduler.callbacks_models import CallbackRequest
from scheduler.models import LONGEST_BOOKING, AuditEntry


def plan(engine: Engine, statement: Any, **params: Any) -> str:
    """The plan of `statement`. PostgreSQL prices sequential scans out: on the few rows of a
    test database its planner rightly prefers them."""
    sql = str(statement.params(**params).compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
        else:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            rows = connection.exec_driver_sql(f"EXPLAIN {sql}").all()
        connection.rollback()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_checks_before_a_booking_read_only_that_persons_bookings(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        # Its planner weighs the indexes by the table's statistics: on a test database's
        # few rows any of them is as good.
        pytest.skip("about SQLite's planner, which has no statistics to go by")
    found = plan(
        engine,
        queries.SERVICE_CHECKED,
        email_key="erika@example.org",
        service_id=1,
        now=datetime(2031, 1, 7, 8, tzinfo=UTC),
        day=date(2031, 1, 7),
    )

    assert "ix_bookings_person_open" in found, found
    assert "SEARCH closure_days USING INDEX" in found, found


def test_a_deleted_booking_finds_its_audit_entries_and_callbacks_by_index(engine: Engine) -> None:
    # What the foreign keys' ON DELETE SET NULL looks for when a run-out hold is swept away.
    for model in (AuditEntry, CallbackRequest):
        found = plan(engine, select(model.id).where(model.booking_id == 7))

        assert f"ix_{model.__tablename__}_booking_id" in found, found


def test_a_calendar_read_looks_back_no_further_than_the_longest_booking(engine: Engine) -> None:
    """Not every booking an advisor ever had before the days asked for: a year of them would
    be read for every search and every booking."""
    if engine.dialect.name != "sqlite":
        pytest.skip("about SQLite's planner, which has no statistics to go by")
    lo = datetime(2031, 1, 7, tzinfo=UTC)
    window = {"lo": lo, "earliest": lo - LONGEST_BOOKING, "hi": lo + timedelta(days=1)}
    found = plan(engine, queries.CALENDARS, service_id=1, now=lo, exclude=0, **window)

    assert "ix_bookings_advisor_time (advisor_id=? AND start_at>? AND start_at<?)" in found, found
