"""A pooled database connection is checked before use only when it has been idle a while.

SQLAlchemy's `pool_pre_ping` asks the server on every checkout: on PostgreSQL a round trip
for each unit of work, one in eight of a booking's. A connection given back a moment ago is
as alive as the statement it last ran; one that has idled may have been dropped by a restart,
a failover or a firewall, and is replaced before a request meets it. A connection dropped in
the moment between is met by the statement, as in any unit of work under way when the server
goes: SQLAlchemy then discards every connection the pool made before.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

# Seconds a connection may have been back in the pool and still be taken on trust.
TRUSTED_IDLE = 1.0
_RETURNED = "returned_at"


def ping_when_idle(engine: Engine, trusted_idle: float | None = None) -> None:
    """Check each connection `engine`'s pool hands out that has been back in it for
    `trusted_idle` seconds or more (default `TRUSTED_IDLE`, as it is at each checkout)."""
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
        if returned is not None and time.monotonic() - returned < trusted:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and hands out a new one.
            raise DisconnectionError(f"idle connection dropped: {exc}") from exc
