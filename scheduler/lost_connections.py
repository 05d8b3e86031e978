"""Connections the database server has dropped (a restart, a failover): found before use where
that costs no round trip, and recognised as lost where a statement meets one.

A pooled database connection is checked before use when it has idled a while, or when the
server has said something on it since it was given back.

SQLAlchemy's `pool_pre_ping` asks the server on every checkout: on PostgreSQL a round trip
for each unit of work, one in eight of a booking's. A connection given back a moment ago is
as alive as the statement it last ran, unless the server has closed it since: a restart or a
failover ends each backend with a last message and closes its socket, which leaves the idle
connection's socket readable. Looking costs a system call, not a round trip. One that has
idled may also have been dropped silently (a firewall, a host gone), and is pinged. A
connection dropped in the moment between the look and the statement is met by the
statement, as in any unit of work under way when the server goes: SQLAlchemy then discards
every connection the pool made before.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DisconnectionError

# Seconds a connection may have been back in the pool and still be taken on trust.
TRUSTED_IDLE = 1.0
_RETURNED = "returned_at"


def ping_when_idle(engine: Engine, trusted_idle: float | None = None) -> None:
    """Check each connection `engine`'s pool hands out that has been back in it for
    `trusted_idle` seconds or more (default `TRUSTED_IDLE`, as it is at each checkout), or on
    which the server has spoken since."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        trusted = TRUSTED_IDLE if trusted_idle is None else trusted_idle
        if (
            returned is not None
            and time.monotonic() - returned < trusted
            and not server_has_spoken(dbapi_connection)
        ):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and hands out a new one.
            raise DisconnectionError(f"idle connection dropped: {exc}") from exc


def server_has_spoken(dbapi_connection: Any) -> bool:
    """Whether the idle `dbapi_connection` has something to read, or no socket left. The
    server speaks unasked mostly to say it is closing the connection; a notification is the
    other kind, and the ping that follows reads it harmlessly."""
    if getattr(dbapi_connection, "closed", False):
        return True
    try:
        descriptor = dbapi_connection.fileno()
    except Exception:  # each driver has its own error for a closed connection
        return True
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))


# SQLSTATEs with which the server ends a connection: connection exceptions (class 08); an
# administrator's, a crash's or a shutdown's end, or a server not taking connections yet
# (57P01 to 57P03); a session ended for idling (57P05, 25P03).
_ENDING = ("08", "57P01", "57P02", "57P03", "57P05", "25P03")


def server_gone(dialect: Dialect, exc: BaseException, dbapi_connection: Any) -> bool:
    """Whether the driver's error `exc` on `dbapi_connection` means the server has dropped it.
    The server's last word can come before the driver has seen the socket close (psycopg then
    still calls the connection open, and SQLAlchemy's check says no): its SQLSTATE says so."""
    if not isinstance(exc, dialect.loaded_dbapi.Error):
        return False
    if dialect.is_disconnect(exc, dbapi_connection, None):
        return True
    return str(getattr(exc, "sqlstate", None) or "").startswith(_ENDING)


def recognise_lost_connections(engine: Engine) -> None:
    """An error of `engine`'s that ends its connection, or a connection it cannot make (the
    server is down or refuses), is reported as a dropped connection (`connection_invalidated`):
    SQLAlchemy then invalidates the pool's connections, and the service answers 503 `busy`,
    the database being away, where SQLAlchemy would leave it an error like any other."""
    dialect = engine.dialect
    unreachable = dialect.loaded_dbapi.OperationalError

    @event.listens_for(engine, "handle_error")
    def _lost(context: ExceptionContext) -> None:
        original = context.original_exception
        if context.connection is None:
            if isinstance(original, unreachable):
                context.is_disconnect = True
        elif server_gone(dialect, original, None):
            context.is_disconnect = True
