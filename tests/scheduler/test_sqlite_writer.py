"""Units of work that must not wait for SQLite's writer (`without_waiting`): refused at once,
before anything is written, while another thread or process writes; only the first of them;
and their log checkpoints on a thread of their own. A SQLite file of its own, whatever
database the suite runs on."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from scheduler import sqlite_writer
from scheduler.sqlite_writer import WouldWait, without_waiting
from tests.sqlite_scratch import WriterHeld, insert, rows, scratch_sessions

# Holds the writer lock of a SQLite file from another process until its stdin closes.
_HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def database(tmp_path) -> str:
    return str(tmp_path / "writer.db")


@pytest.fixture
def sessions(database: str) -> Iterator[sessionmaker[Session]]:
    with scratch_sessions(database) as factory:
        yield factory


def test_the_unit_is_refused_at_once_while_another_thread_writes(sessions) -> None:
    with WriterHeld(sessions):
        started = time.monotonic()
        with pytest.raises(WouldWait), without_waiting():
            insert(sessions, 1)
        assert time.monotonic() - started < 1
    assert rows(sessions) == [100], "nothing of the refused unit was written"

    with without_waiting():
        insert(sessions, 2)
    assert rows(sessions) == [2, 100]


def test_the_unit_is_refused_while_another_process_holds_the_lock(database, sessions) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, f"{database}-writer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(WouldWait), without_waiting():
            insert(sessions, 1)
    finally:
        other.communicate("", timeout=30)
    # The refusal gave back this process's own turn too: the next writer is not stuck.
    insert(sessions, 2)
    assert rows(sessions) == [2]


def test_only_the_first_unit_is_refused_the_ones_after_it_wait(sessions) -> None:
    """Once a unit has committed, the work cannot be started again elsewhere: the next unit
    waits for the writer like any other."""
    holder = WriterHeld(sessions)
    with without_waiting():
        insert(sessions, 1)
        with holder:
            threading.Timer(0.2, holder.finish.set).start()
            insert(sessions, 2)
            assert holder.finish.is_set(), "the second unit waited for the other writer"
    assert rows(sessions) == [1, 2, 100]


def test_a_checkpoint_due_after_such_a_unit_runs_on_a_thread_of_its_own(
    sessions, monkeypatch
) -> None:
    """The checkpoint copies the log into the database with an fsync: not on the event loop."""
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_EVERY", 1)
    ran_on: list[str] = []
    done = threading.Event()
    copy_log = sqlite_writer.checkpoint

    def checkpoint(engine) -> None:
        copy_log(engine)
        ran_on.append(threading.current_thread().name)
        done.set()

    monkeypatch.setattr(sqlite_writer, "checkpoint", checkpoint)
    with without_waiting():
        insert(sessions, 1)
    assert done.wait(30)
    assert ran_on[0].startswith("sqlite-checkpoint")
    with sessions() as session:
        busy, log, copied = session.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
    assert (busy, copied) == (0, log), "the log was copied whole"

    done.clear()
    insert(sessions, 2)
    assert ran_on[1] == threading.current_thread().name, "a unit that may wait copies it itself"
