"""A SQLite file of a test's own with one table `t (x INTEGER)`, for the tests of SQLite's
writer lock (tests/scheduler/test_sqlite_writer.py, tests/web/test_lane_inline.py), whatever
database the suite runs on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from scheduler.db import make_engine, make_sessionmaker, write_session


@contextmanager
def scratch_sessions(database: Path | str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{database}")
    factory = make_sessionmaker(engine)
    with write_session(factory) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    try:
        yield factory
    finally:
        engine.dispose()


def insert(sessions: sessionmaker[Session], x: int) -> None:
    with write_session(sessions) as session:
        session.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})


def rows(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.execute(text("SELECT x FROM t ORDER BY x")).scalars())


class WriterHeld:
    """Another thread in a unit of work (it writes 100), holding the writer until `finish`."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.inside, self.finish = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._write, args=(sessions,))

    def _write(self, sessions: sessionmaker[Session]) -> None:
        with write_session(sessions) as session:
            session.execute(text("INSERT INTO t VALUES (100)"))
            self.inside.set()
            self.finish.wait(30)

    def __enter__(self) -> WriterHeld:
        self.thread.start()
        assert self.inside.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self.finish.set()
        self.thread.join(30)
