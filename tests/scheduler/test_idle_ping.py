"""Pooled PostgreSQL connections are checked before use only after idling (scheduler/idle_ping.py):
one the server dropped meanwhile is replaced before a unit of work meets it, and one given back
a moment ago costs no round trip."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from scheduler.db import make_engine
from scheduler.idle_ping import TRUSTED_IDLE, ping_when_idle
from tests.conftest import POSTGRES_URL
from tests.pg_backends import drop_backends

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="about a database server that can drop connections"
)


def _engine(trusted_idle: float) -> Engine:
    assert POSTGRES_URL is not None
    engine = create_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    ping_when_idle(engine, trusted_idle)
    return engine


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def _drop(pid: int) -> None:
    assert POSTGRES_URL is not None
    drop_backends(POSTGRES_URL, [pid])


def _counting_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_dropped_while_idle_is_replaced_before_use() -> None:
    engine = _engine(trusted_idle=0.05)
    try:
        first = _backend(engine)
        _drop(first)
        time.sleep(0.1)

        # No error reaches the unit of work: the ping found the dead connection first.
        assert _backend(engine) != first
    finally:
        engine.dispose()


def test_a_connection_given_back_a_moment_ago_is_used_without_a_ping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine(trusted_idle=60)
    pings = _counting_pings(engine, monkeypatch)
    try:
        pids = {_backend(engine) for _ in range(5)}

        assert len(pids) == 1
        assert pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_is_pinged_once_per_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(trusted_idle=0.05)
    pings = _counting_pings(engine, monkeypatch)
    try:
        _backend(engine)  # a new connection: known good
        time.sleep(0.1)
        _backend(engine)

        assert len(pings) == 1
    finally:
        engine.dispose()


def test_a_connection_dropped_in_the_trusted_moment_fails_once_then_the_pool_renews() -> None:
    """The price of trusting a connection for a moment: a drop within it is met by the
    statement, as by any unit of work under way when the server goes, and the pool then
    renews every connection it had."""
    engine = _engine(trusted_idle=60)
    try:
        first = _backend(engine)
        _drop(first)

        with pytest.raises(OperationalError) as failure:
            _backend(engine)
        assert failure.value.connection_invalidated
        assert _backend(engine) != first
    finally:
        engine.dispose()


def test_the_application_engine_checks_connections_that_idled() -> None:
    assert POSTGRES_URL is not None
    engine = make_engine(POSTGRES_URL)
    try:
        first = _backend(engine)
        _drop(first)
        time.sleep(TRUSTED_IDLE + 0.1)

        assert _backend(engine) != first
    finally:
        engine.dispose()
