"""Lost PostgreSQL connections (scheduler/lost_connections.py). Pooled connections are checked
before use only after idling, or when the server has spoken on them since: one the server
dropped meanwhile is replaced before a unit of work meets it, and one given back a moment ago
costs no round trip. An error with which the server ends a connection counts as its loss."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from scheduler.db import make_engine
from scheduler.lost_connections import TRUSTED_IDLE, ping_when_idle, server_gone
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


def test_a_connection_dropped_while_trusted_is_replaced_before_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart or a failover closes the connection's socket: the next checkout sees it and
    pings, however recently the connection was given back."""
    engine = _engine(trusted_idle=60)
    pings = _counting_pings(engine, monkeypatch)
    try:
        first = _backend(engine)
        _drop(first)
        time.sleep(0.05)  # the server's last word crosses loopback

        assert _backend(engine) != first
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_a_notification_on_a_trusted_connection_costs_a_ping_not_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine(trusted_idle=60)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            connection.execute(text("LISTEN idle_ping_test"))
            connection.commit()
        assert POSTGRES_URL is not None
        with create_engine(POSTGRES_URL, poolclass=NullPool).connect() as other:
            other.execute(text("NOTIFY idle_ping_test"))
            other.commit()
        time.sleep(0.05)
        pings = _counting_pings(engine, monkeypatch)

        assert _backend(engine) == first
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_a_unit_of_work_whose_connection_is_dropped_fails_once_then_the_pool_renews() -> None:
    """What no check before use can spare: the server goes while a unit of work holds the
    connection. The statement meets it, and the pool renews every connection it had."""
    engine = _engine(trusted_idle=60)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            _drop(first)
            with pytest.raises(OperationalError) as failure:
                connection.execute(text("SELECT 1"))
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


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (psycopg.errors.AdminShutdown, True),  # pg_terminate_backend, a fast shutdown
        (psycopg.errors.CrashShutdown, True),
        (psycopg.errors.CannotConnectNow, True),  # starting up, a standby promoted
        (psycopg.errors.ConnectionFailure, True),
        (psycopg.errors.IdleSessionTimeout, True),
        (psycopg.errors.UniqueViolation, False),
        (psycopg.errors.SerializationFailure, False),
        (psycopg.errors.QueryCanceled, False),
    ],
)
def test_the_servers_last_word_counts_as_a_lost_connection_before_the_socket_closes(
    error: type[psycopg.Error], lost: bool
) -> None:
    """On a connection psycopg still calls open, as when the server's message comes in a
    pipeline before the end of the socket."""
    assert POSTGRES_URL is not None
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert not driver.closed
            assert server_gone(engine.dialect, error("said by the server"), driver) is lost
    finally:
        engine.dispose()
