"""The one declarative base, its naming convention and the column types shared by all packages.

Engines and sessions are created by `web` from settings and handed down; nothing here connects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    MetaData,
    Select,
    String,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from scheduler import sqlite_writer
from scheduler.direct import plain, send_later_with_commit
from scheduler.lost_connections import ping_when_idle, recognise_lost_connections
from scheduler.sqlite_writer import AUTOCHECKPOINT_PAGES, SqliteWriter, may_wait

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime: `timestamptz` on PostgreSQL, ISO text on SQLite.

    SQLite's default DateTime type parses every value with a regular expression; the slot
    search reads thousands of booking times per query, so text is parsed with the C
    `fromisoformat` instead. Naive values are refused rather than guessed.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # "YYYY-MM-DD HH:MM:SS.ffffff", as strftime would write it, several times faster.
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment: datetime = value  # psycopg's timestamptz
        return moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for `url`, with SQLite set up for safe concurrent writers.

    pysqlite's own transaction handling starts transactions late and never with IMMEDIATE;
    we take over (SQLAlchemy's documented recipe) so that a writing unit of work can take the
    write lock before it reads, see `write_session`.
    """
    if url.startswith("sqlite"):
        if make_url(url).database not in (None, "", ":memory:") and "poolclass" not in kwargs:
            # A connection forgets the pages it has cached whenever another one has written
            # since its last transaction. Writers take turns (`write_session`): handed the
            # connection the last one gave back, the next finds its cache still good (~20 %
            # of SQLite's time in a booking burst), where the pool's default queue would hand
            # out each connection in turn.
            kwargs.setdefault("pool_use_lifo", True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=20, max_overflow=20, **kwargs)
    ping_when_idle(engine)
    recognise_lost_connections(engine)
    send_later_with_commit(engine)
    return engine


_sqlite_writers: WeakKeyDictionary[Engine, SqliteWriter] = WeakKeyDictionary()


def _configure_sqlite(engine: Engine) -> None:
    _sqlite_writers[engine] = SqliteWriter(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Erased data must not linger in the file's free space: SQLite overwrites what it
        # deletes with zeros (docs/operations.md, "What erased data leaves behind").
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        plain(conn, "BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False, info={_AFTER_COMMIT: {}})
    event.listen(factory, "after_commit", _committed)
    event.listen(factory, "after_rollback", _rolled_back)
    return factory


# Where a factory keeps what to call after a commit, handed to each of its sessions' `info`.
_AFTER_COMMIT = "after_commit"


def call_after_commit(
    factory: sessionmaker[Session], flag: str, callback: Callable[[], None]
) -> None:
    """Call `callback` after the commit of each session of `factory` that has set
    `session.info[flag]` (a rollback drops the flag).

    The factory keeps the callback, not a listener: SQLAlchemy keeps a factory's listeners for
    as long as the process lives, in a registry weakly keyed by the factory's session class,
    and a listener holding the callback (an app's worker, its container, the factory) would
    keep that class and everything with it alive for ever: in a test run, thousands of apps.
    """
    factory.kw["info"][_AFTER_COMMIT][flag] = callback


def _committed(session: Session) -> None:
    for flag, callback in session.info[_AFTER_COMMIT].items():
        if session.info.pop(flag, False):
            callback()


def _rolled_back(session: Session) -> None:
    for flag in session.info[_AFTER_COMMIT]:
        session.info.pop(flag, None)


def forget_freed(factory: sessionmaker[Session]) -> None:
    """After an erasure: on SQLite, move the write-ahead log into the database and empty it,
    since the log still holds the pages as they were before. Best effort: a reader that is
    still at an older state keeps the log until the next checkpoint. PostgreSQL keeps erased
    rows as dead tuples until (auto)vacuum reclaims them; nothing to do here."""
    bind = factory.kw.get("bind")
    writer = _sqlite_writers.get(bind) if isinstance(bind, Engine) else None
    if bind is not None and writer is not None:
        # In the writer's turn: this checkpoint keeps writers out while it runs, and one on
        # the event loop must find the lock taken rather than wait in SQLite's busy handler.
        with writer.turn(), bind.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def conflict_kind(exc: DBAPIError) -> str | None:
    """'overlap', 'unique' or 'deadlock' for the errors a retry can settle, else None.

    Two transactions inserting overlapping bookings at once each find the other's row while
    checking the exclusion constraint and wait for it: PostgreSQL breaks that deadlock by
    aborting one, whose retry then sees the other's booking."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "40P01":
        return "deadlock"
    message = str(exc.orig)
    if sqlstate == "23P01" or "booking_overlap" in message:
        return "overlap"
    if sqlstate == "23505" or "UNIQUE constraint failed" in message:
        return "unique"
    return None


_commits = itertools.count(1)
_written = 0


def _count_write() -> None:
    global _written
    _written = next(_commits)


def writes() -> int:
    """How many units of work this process has committed: what was read before one of them
    may be stale after it (`scheduler.slot_cache`)."""
    return _written


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that will write: on SQLite it holds the write lock from its first read.

    The check for a free slot and the insert of the booking then happen under one lock, so two
    requests can never both see a slot free. PostgreSQL needs no lock here: its exclusion
    constraint refuses the second of two overlapping bookings.
    """
    bind: Engine | None = factory.kw.get("bind")
    writer = _sqlite_writers.get(bind) if isinstance(bind, Engine) else None
    wait = may_wait()
    with writer.turn(wait) if writer else nullcontext(), factory() as session:
        session.connection(execution_options={"sqlite_immediate": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        _count_write()
    if bind is not None and writer is not None and writer.checkpoint_due():
        if wait:
            sqlite_writer.checkpoint(bind)
        else:
            sqlite_writer.checkpoint_in_background(bind)


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads. It ends with COMMIT, not the ROLLBACK of closing: on
    PostgreSQL a ROLLBACK makes psycopg forget the statements it has prepared on that
    connection, and every query would be parsed and planned anew."""
    with factory() as session:
        yield session
        session.commit()


class epoch(FunctionElement[int]):
    """POSIX seconds of a `UTCDateTime` column, computed by the database."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch)
def _epoch_default(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"


class unindexed(FunctionElement[Any]):
    """A column SQLite must not look up by an index of its own (`+column`, its documented way):
    without statistics its planner may choose that index over a far better one."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


class among(FunctionElement[bool]):
    """`column` is one of the values `query` selects. PostgreSQL plans `IN (query)` as a join
    over all the rows of the column's table; `= ANY(ARRAY(query))` reads the values once and
    looks each up in the column's index, as with a list of them."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, column: Any, query: Select[Any]) -> None:
        super().__init__(column, query.scalar_subquery())

    def self_group(self, against: Any = None) -> Any:
        # A comparison already: without this SQLite, which has no boolean type, would get
        # `(… IN …) = 1`, which no index serves.
        return self


@compiles(among, "postgresql")
def _among_postgresql(element: among, compiler: Any, **kw: Any) -> str:
    column, query = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} = ANY(ARRAY{query})"


@compiles(among)
def _among_default(element: among, compiler: Any, **kw: Any) -> str:
    column, query = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} IN {query}"


def _json_value(column: Any, compiler: Any, **kw: Any) -> str:
    # A JSON column is text to SQLite: json() puts it in as the value it holds.
    sql = compiler.process(column, **kw)
    return f"json({sql})" if isinstance(column.type, JSON) else sql


class json_values(FunctionElement[list[Any]]):
    """Columns of a row as one JSON array, in one column: Python 3.11's sqlite3 lets go of the
    interpreter lock for every column it fetches, and beside a busy event loop each time costs
    a switch of threads (bench/booking_threads.py)."""

    type = JSON()
    inherit_cache = True


@compiles(json_values, "sqlite")
def _json_values_sqlite(element: json_values, compiler: Any, **kw: Any) -> str:
    return f"json_array({', '.join(_json_value(c, compiler, **kw) for c in element.clauses)})"


@compiles(json_values)
def _json_values_default(element: json_values, compiler: Any, **kw: Any) -> str:
    return f"json_build_array({compiler.process(element.clauses, **kw)})"


class json_columns(FunctionElement[list[list[Any]]]):
    """The rows of a query in one value: a JSON array of its columns, each the array of that
    column's values in the rows' order (the same for all columns, each taken in one pass).

    Fetched row by row, a booking's calendars let go of the interpreter lock about 40 times
    (see `json_values`). By column, not row, the answer parses into a few lists of numbers and
    strings, not a list for each row: thousands of rows in a fortnight's search would each be
    an object for the garbage collector to visit.
    """

    type = JSON()
    inherit_cache = True


@compiles(json_columns, "sqlite")
def _json_columns_sqlite(element: json_columns, compiler: Any, **kw: Any) -> str:
    columns = (f"json_group_array({_json_value(c, compiler, **kw)})" for c in element.clauses)
    return f"json_array({', '.join(columns)})"


@compiles(json_columns)
def _json_columns_default(element: json_columns, compiler: Any, **kw: Any) -> str:
    columns = (f"coalesce(json_agg({compiler.process(c, **kw)}), '[]')" for c in element.clauses)
    return f"json_build_array({', '.join(columns)})"
