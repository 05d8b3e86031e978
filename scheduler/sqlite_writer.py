"""SQLite's one writer: the lock writers take turns at, the checkpoints of its write-ahead log,
and units of work that would rather not wait for it (`without_waiting`).
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from weakref import finalize

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# SQLite copies the write-ahead log into the database itself once the log holds 1,000 pages,
# inside the commit that crossed the line: ~5 ms with its fsync, while every other writer
# waits for the lock. We checkpoint every so many units of work instead, after the lock is
# released (PASSIVE: beside the next writer, which need not wait); SQLite's own checkpoint
# stays as the bound should ours fall behind.
CHECKPOINT_EVERY = 32
AUTOCHECKPOINT_PAGES = 4000


class WouldWait(Exception):
    """The writer's lock is taken elsewhere and the unit of work was asked not to wait for it
    (`without_waiting`): nothing has been written."""


# False while the next writing unit of work of this context must not wait for the lock.
_MAY_WAIT: ContextVar[bool] = ContextVar("may_wait", default=True)


@contextmanager
def without_waiting() -> Iterator[None]:
    """The first writing unit of work inside takes SQLite's writer lock only if it is free at
    once, else raises `WouldWait` before it reads or writes anything; its log checkpoint, when
    due, goes to a thread of its own. For work on the event loop, which must not stop for
    another writer or for an fsync. The units after the first wait as usual: the first may
    have committed, and the work cannot be started again elsewhere."""
    token = _MAY_WAIT.set(False)
    try:
        yield
    finally:
        _MAY_WAIT.reset(token)


def may_wait() -> bool:
    """Whether the unit of work starting now may wait for the lock (and then lets the next
    ones wait, see `without_waiting`)."""
    if _MAY_WAIT.get():
        return True
    _MAY_WAIT.set(True)
    return False


class _FifoLock:
    """A lock that goes to its waiters in the order they came: `threading.Lock` lets any
    waiter win, and under a burst an unlucky request waits many turns (the latency tail)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, wait: bool = True) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            if not wait:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by the holder before us, who hands the lock over
        return True

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False


class SqliteWriter:
    """One writer at a time per SQLite database file, across threads and processes.

    SQLite's own busy handler makes a waiting writer sleep and poll (up to 100 ms a nap), which
    starves unlucky requests under load. Threads of one process queue on a lock; processes
    (`serve --workers`, `sprechstunde worker`) on an advisory `flock` of `<database>-writer`,
    which the kernel hands to the next waiter at once and releases if its holder dies.
    """

    def __init__(self, database: str | None) -> None:
        self._threads = _FifoLock()
        self._path = f"{database}-writer" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._pid = 0
        self._units = itertools.count(1)

    @contextmanager
    def turn(self, wait: bool = True) -> Iterator[None]:
        """Hold the lock; without `wait`, raise `WouldWait` if it is taken."""
        if not self._threads.acquire(wait):
            raise WouldWait()
        try:
            if self._path is not None:
                try:
                    fcntl.flock(
                        self._file(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
                    )
                except BlockingIOError:
                    raise WouldWait() from None
        except BaseException:
            self._threads.release()
            raise
        try:
            yield
        finally:
            try:
                if self._path is not None and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                self._threads.release()

    def checkpoint_due(self) -> bool:
        """Whether the unit of work that just let go of the lock should checkpoint the log."""
        return next(self._units) % CHECKPOINT_EVERY == 0

    def _file(self) -> int:
        # One descriptor per process: a forked child must not share its parent's lock.
        if self._fd is None or self._pid != os.getpid():
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
            finalize(self, os.close, self._fd)
        return self._fd


def checkpoint(engine: Engine) -> None:
    # The unit of work has committed: a failure here must not fail it. The next one due tries
    # again, and SQLite's own checkpoint bounds the log meanwhile.
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            connection.close()
    except (sqlite3.Error, SQLAlchemyError):
        log.warning("checkpoint of the write-ahead log failed", exc_info=True)


_background: ThreadPoolExecutor | None = None
_background_made = threading.Lock()


def checkpoint_in_background(engine: Engine) -> None:
    """`checkpoint` on a thread of its own, for a unit of work that must not wait for the
    fsync; one at a time, since a second beside the first would find nothing to copy."""
    global _background
    with _background_made:
        if _background is None:
            _background = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
    _background.submit(checkpoint, engine)
