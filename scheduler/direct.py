"""Statements of the hottest paths (a booking, a slot search) run straight on the driver.

SQLAlchemy's execution of a Core statement costs about 70 µs of Python on our machine (its
compiled cache, the execution context, the result object), the driver's own about 4 µs
(`bench/statement_cost.py`); a booking runs several. A `Direct` statement is compiled once
per dialect by SQLAlchemy itself, with the bind and result processors of its own types, and
run on the driver's connection of a SQLAlchemy `Connection`, inside its transaction:
the same SQL with the same values as `Connection.execute` would send, and the same values
back. A driver's error comes out as SQLAlchemy's (`IntegrityError` and so on), as from
`Connection.execute`.

What it does not do, by design: fill in Python-side column defaults (an INSERT must give every
such column; compiling one that would need them is refused), or call SQLAlchemy's
statement events (the application listens to none).

On PostgreSQL each statement is a round trip, and each round trip hands the interpreter's lock
to the event loop and back. psycopg's pipeline saves some: `together` sends several statements
in one round trip (the server still runs each after the one before); `Direct.later` keeps a
write whose result nobody reads, and the transaction's BEGIN is kept the same way, until the
transaction's next statement or its COMMIT, and goes in that round trip
(`send_later_with_commit`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from weakref import WeakSet

from sqlalchemy import Connection, Engine, Insert, bindparam, event
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPIModule
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from scheduler.lost_connections import server_gone

Processor = Callable[[Any], Any]
# In `Connection.info`: the SQL and values of what is kept to go with the next statement, in
# order (`send_later_with_commit`).
_LATER = "direct_later"
# The engines whose connections send such writes (`send_later_with_commit`).
_SENDING_LATER: WeakSet[Engine] = WeakSet()


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one value of the SQL comes from."""

    name: str  # in the SQL (an item of a list bound for `IN` has its own: ids_2)
    key: str  # in the parameters given
    index: int | None  # the item of that list
    process: Processor | None
    # When the parameters do not give `key` (a value bound in the statement). Statements are
    # compiled for each set of keys, and SQLAlchemy refuses a set that lacks a required one.
    default: Any


@dataclass(frozen=True, slots=True)
class _Shape:
    sql: str
    slots: tuple[_Slot, ...]
    positional: bool  # SQLite's `?`; else named, as psycopg's `%(name)s`


class _Compiled:
    """A statement compiled for one dialect and one set of keys; a `_Shape` for each length
    of the lists it binds for `IN` (SQLAlchemy renders one parameter per item)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: list[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        prefetch = [c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
        if prefetch:
            raise ValueError(f"Direct fills in no column defaults; give {', '.join(prefetch)}")
        if compiled.literal_execute_params or any(b.callable for b in compiled.binds.values()):
            raise ValueError("Direct renders no literal parameters and calls no bound values")
        self.compiled = compiled
        self.dialect = dialect
        self.expanding = tuple((b.key, b.value) for b in compiled.post_compile_params)
        self.shapes: dict[tuple[int, ...], _Shape] = {}
        columns = getattr(statement, "exported_columns", ())
        self.results = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )

    def processed(self, fetched: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows as the driver gave them, with the values of SQLAlchemy's types."""
        processors = self.results
        if not any(processors):
            return list(fetched)
        return [
            tuple(p(v) if p else v for p, v in zip(processors, row, strict=True)) for row in fetched
        ]

    def shape(self, params: Mapping[str, Any]) -> _Shape:
        lengths = tuple(len(params.get(key, value)) for key, value in self.expanding)
        found = self.shapes.get(lengths)
        if found is None:
            found = self.shapes[lengths] = self._shape(params)
        return found

    def _shape(self, params: Mapping[str, Any]) -> _Shape:
        compiled, dialect = self.compiled, self.dialect
        expanded = compiled.construct_expanded_state(dict(params))
        unescaped = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
        items = {
            item: (name, index)
            for name, expansion in expanded.parameter_expansion.items()
            for index, item in enumerate(expansion)
        }
        slots = []
        names = expanded.positiontup or list(expanded.parameters)
        for name in names:
            source, index = items.get(name, (unescaped.get(name, name), None))
            bind = compiled.binds[source]
            slots.append(
                _Slot(
                    name,
                    bind.key,
                    index,
                    bind.type.dialect_impl(dialect).bind_processor(dialect),
                    bind.value,
                )
            )
        return _Shape(expanded.statement, tuple(slots), expanded.positiontup is not None)


class Direct:
    """A Core statement run on the driver's cursor; see the module's docstring."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}
        self._multi: dict[tuple[tuple[str, ...], int], Direct] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run with `params`; the rows it returns (none for a statement without rows)."""
        compiled = self._compile(connection.dialect, params)
        sql, values = _bound(compiled.shape(params), params)
        kept = connection.info.pop(_LATER, None)
        try:
            if kept:  # its errors come out wrapped already
                cursor = _pipelined(connection, [*kept, (sql, values)])[-1]
            else:
                cursor = _driver(connection).execute(sql, values)
            fetched = cursor.fetchall() if cursor.description else []
        except connection.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(connection, sql, values, exc) from exc
        return compiled.processed(fetched)

    def later(self, connection: Connection, params: Mapping[str, Any]) -> None:
        """Run with `params` as part of the transaction's next statement or its COMMIT, in
        the same round trip (PostgreSQL, once `send_later_with_commit` is set up on the
        engine); at once elsewhere. For a write whose result nobody reads: an error it meets
        (a violated constraint) comes out of that later statement or the commit."""
        if connection.engine not in _SENDING_LATER:
            self.rows(connection, params)
            return
        connection.info.setdefault(_LATER, []).append(self.bound(connection.dialect, params))

    def scalar(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the one row the statement returns."""
        rows = self.rows(connection, params)
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)}")
        return rows[0][0]

    def many(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]], later: bool = False
    ) -> None:
        """Insert `rows` (all with the same keys) with multi-row INSERTs: one statement is one
        step of the driver, where `executemany` steps, resets and binds for each row (each
        call lets go of the interpreter lock on SQLite). `later`: as `Direct.later`."""
        if not isinstance(self.statement, Insert):
            raise TypeError("Direct.many inserts rows; run other statements one by one")
        if not rows:
            return
        keys = tuple(rows[0])
        # Within the 999 values that SQLite has allowed a statement since always.
        per_statement = max(1, 999 // len(keys))
        for first in range(0, len(rows), per_statement):
            chunk = rows[first : first + per_statement]
            statement = self._multi.get((keys, len(chunk)))
            if statement is None:
                columns = self.statement.table.c
                values = [
                    {k: bindparam(f"{k}_{n}", type_=columns[k].type) for k in keys}
                    for n in range(len(chunk))
                ]
                statement = self._multi[keys, len(chunk)] = Direct(self.statement.values(values))
            params = {f"{k}_{n}": row[k] for n, row in enumerate(chunk) for k in keys}
            if later:
                statement.later(connection, params)
            else:
                statement.rows(connection, params)

    def bound(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL and the values that running with `params` sends to the driver."""
        return _bound(self._compile(dialect, params).shape(params), params)

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        # An INSERT's columns are those its values name, so the keys are part of the key.
        key = (dialect.name, tuple(params))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _Compiled(self.statement, dialect, list(params))
        return found


def _bound(shape: _Shape, params: Mapping[str, Any]) -> tuple[str, Any]:
    values = []
    try:
        for slot in shape.slots:
            value = params.get(slot.key, slot.default)
            if slot.index is not None:
                value = value[slot.index]
            values.append(value if slot.process is None else slot.process(value))
    except Exception as exc:  # a type refusing a value, as SQLAlchemy reports it
        raise StatementError(str(exc), shape.sql, dict(params), exc) from exc
    if shape.positional:
        return shape.sql, tuple(values)
    return shape.sql, {slot.name: value for slot, value in zip(shape.slots, values, strict=True)}


def together(
    connection: Connection, *runs: tuple[Direct, Mapping[str, Any]]
) -> list[list[tuple[Any, ...]]]:
    """Run each statement with its parameters, in order, and give each one's rows: on
    PostgreSQL in one round trip (psycopg's pipeline; the server runs each statement after the
    one before, with a snapshot taken then, as if they were sent one by one), elsewhere one by
    one. A statement that fails stops the rest; its error comes out as from `Direct.rows`."""
    if connection.dialect.name != "postgresql":
        return [direct.rows(connection, params) for direct, params in runs]
    dialect = connection.dialect
    compiled = [direct._compile(dialect, params) for direct, params in runs]
    bound = [_bound(c.shape(params), params) for c, (_, params) in zip(compiled, runs, strict=True)]
    cursors = _pipelined(connection, [*connection.info.pop(_LATER, ()), *bound])[-len(bound) :]
    return [
        c.processed(cursor.fetchall() if cursor.description else [])
        for c, cursor in zip(compiled, cursors, strict=True)
    ]


def send_later_with_commit(engine: Engine) -> None:
    """On the connections of `engine` (PostgreSQL's): send what is kept for later (the
    transaction's BEGIN, the writes of `Direct.later`) with the next statement in one round
    trip where `Direct` runs it, before it where SQLAlchemy does, or with the COMMIT; drop it
    when the transaction rolls back or the connection goes back to the pool.

    psycopg sends a transaction's BEGIN on its own and waits for it, in a pipeline too. So the
    driver runs in autocommit, and SQLAlchemy's begin keeps a BEGIN of ours for later: a
    transaction then starts in the round trip of its first statement, and one that ran none
    costs none."""
    if engine.dialect.name != "postgresql":
        raise ValueError("only PostgreSQL's driver sends statements in a pipeline")
    _SENDING_LATER.add(engine)
    errors = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "begin")
    def _begin_later(connection: Connection) -> None:
        # Not where SQLAlchemy set an isolation level of its own: psycopg begins there.
        if _driver(connection).autocommit and not _autocommitting(connection):
            connection.info[_LATER] = [_BEGIN]

    @event.listens_for(engine, "before_cursor_execute")
    def _before_statement(connection: Connection, *_args: Any) -> None:
        if _LATER in connection.info:
            _pipelined(connection, connection.info.pop(_LATER))

    @event.listens_for(engine, "commit")
    def _with_commit(connection: Connection) -> None:
        kept = connection.info.pop(_LATER, None)
        if kept and kept != [_BEGIN]:
            # psycopg's own commit() would wait for the pipeline's end, a second round trip;
            # after this COMMIT it finds the transaction over and sends nothing.
            _pipelined(connection, [*kept, ("COMMIT", None)])

    @event.listens_for(engine, "rollback")
    def _dropped(connection: Connection) -> None:
        # An invalidated connection has no record to keep anything in (`_wrapped`).
        if not (connection.closed or connection.invalidated):
            connection.info.pop(_LATER, None)
            _roll_back_keeping_prepared(_driver(connection), errors)

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_LATER, None)


_BEGIN = ("BEGIN", None)


def _roll_back_keeping_prepared(driver: Any, errors: type[Exception]) -> None:
    """End a transaction that we began, and in which nothing failed, with a ROLLBACK that
    psycopg does not see. Its own `rollback()` forgets every statement it has prepared on the
    connection (on the server they outlive a ROLLBACK), and when a crowd's losing bookings roll
    back, every statement was parsed and planned anew: 1.8 ms of the server's time for the
    checks alone. Not after a failed statement: in a pipeline the server then skips the rest,
    preparations included, and only psycopg's forgetting keeps it from naming one that is not
    there. If this fails, psycopg's rollback, which comes next, tries again and reports."""
    if driver.autocommit and driver.info.transaction_status.name == "INTRANS":
        # libpq's own call: it lets go of the interpreter's lock while it waits.
        with suppress(errors):
            driver.pgconn.exec_(b"ROLLBACK")


def _autocommitting(connection: Connection) -> bool:
    return connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


def _pipelined(connection: Connection, statements: Sequence[tuple[str, Any]]) -> list[Any]:
    """Send `statements` (SQL and values) in one round trip; their cursors."""
    driver = _driver(connection)
    cursors = []
    try:
        with driver.pipeline():
            for sql, values in statements:
                cursors.append(driver.execute(sql, values))
    except connection.dialect.loaded_dbapi.Error as exc:
        sql = ";\n".join(sql for sql, _ in statements)
        raise _wrapped(connection, sql, [v for _, v in statements], exc) from exc
    return cursors


def plain(connection: Connection, sql: str) -> None:
    """Run `sql`, which binds nothing and returns nothing (`BEGIN`), on the driver."""
    try:
        _driver(connection).execute(sql)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(connection, sql, (), exc) from exc


def _driver(connection: Connection) -> Any:
    # sqlite3's or psycopg's connection: both have `execute`, which PEP 249 does not promise.
    return connection.connection.driver_connection


def _wrapped(
    connection: Connection, sql: str, values: Any, exc: DBAPIModule.Error
) -> BaseException:
    """SQLAlchemy's error for the driver's `exc`, as `Connection.execute` would raise it. A
    connection the server has dropped is invalidated, as there: the pool replaces it, and the
    error says so (`connection_invalidated`, which the service answers with 503 `busy`)."""
    dialect = connection.dialect
    lost = server_gone(dialect, exc, _driver(connection))
    if lost:
        connection.invalidate(exc)
    return DBAPIError.instance(
        sql, values, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )
