"""A booking lane on SQLite runs short work on the event loop while the writer is free
(web/lanes.py), and never waits there: with the writer taken elsewhere the work goes to the
lane's thread and the event loop goes on meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from scheduler.db import write_session
from tests.sqlite_scratch import WriterHeld, rows, scratch_sessions
from web.lanes import Lane


@pytest.fixture
def sessions(tmp_path) -> Iterator[sessionmaker[Session]]:
    with scratch_sessions(tmp_path / "lane.db") as factory:
        yield factory


def _writing(sessions: sessionmaker[Session], x: int, ran_on: list[int]):
    def work() -> int:
        ran_on.append(threading.get_ident())
        with write_session(sessions) as session:
            session.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
        return x

    return work


def test_short_work_runs_on_the_event_loop_when_lane_and_writer_are_free(sessions) -> None:
    ran_on: list[int] = []

    async def main() -> list[int]:
        lane = Lane(1, inline=True)
        return [
            await lane.run(_writing(sessions, 1, ran_on), inline=True),
            await lane.run(_writing(sessions, 2, ran_on)),
        ]

    assert asyncio.run(main()) == [1, 2]
    loop_thread = threading.get_ident()
    assert ran_on[0] == loop_thread
    assert ran_on[1] != loop_thread, "work that did not ask for it runs on the lane's thread"
    assert rows(sessions) == [1, 2]


def test_with_the_writer_taken_the_work_waits_on_the_lanes_thread(sessions) -> None:
    """Another thread is in a unit of work: the event loop keeps answering (its ticks go on)
    while the booking waits for the writer on the lane's thread, then it is written once."""
    ran_on: list[int] = []

    async def main(holder: WriterHeld) -> tuple[list[int], int]:
        lane = Lane(1, inline=True)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 20:
                    holder.finish.set()
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(tick())
        try:
            first = asyncio.create_task(lane.run(_writing(sessions, 1, ran_on), inline=True))
            await asyncio.sleep(0)
            second = lane.run(_writing(sessions, 2, ran_on), inline=True)
            return await asyncio.gather(first, second), ticks
        finally:
            ticking.cancel()

    with WriterHeld(sessions) as holder:
        results, ticks = asyncio.run(main(holder))
    assert results == [1, 2]
    assert ticks >= 20, "the event loop went on while the bookings waited"
    here = threading.get_ident()
    # The first was refused on the event loop and ran again on the lane's thread; the second
    # waited for it in the event loop and then found the writer free there.
    assert len(ran_on) == 3
    assert ran_on[0] == here
    assert ran_on[1] != here
    assert ran_on[2] == here
    assert rows(sessions) == [1, 2, 100]


def test_work_that_does_not_write_in_the_lane_holds_nothing_back(sessions) -> None:
    """While the lane's thread is busy with work that is not writing, a booking that finds
    the writer free still runs on the event loop: the writer's lock keeps the turns."""
    ran_on: list[int] = []
    release = threading.Event()

    async def main() -> None:
        lane = Lane(1, inline=True)
        first = asyncio.create_task(lane.run(lambda: release.wait(30)))
        await asyncio.sleep(0.05)
        assert await lane.run(_writing(sessions, 1, ran_on), inline=True) == 1
        assert not first.done()
        release.set()
        await first

    asyncio.run(main())
    assert ran_on == [threading.get_ident()]


def test_a_lane_that_does_not_allow_it_never_runs_work_on_the_event_loop(sessions) -> None:
    """PostgreSQL: a booking waits for the database's answers, which the loop must not."""
    ran_on: list[int] = []

    async def main() -> None:
        await Lane(1).run(_writing(sessions, 1, ran_on), inline=True)

    asyncio.run(main())
    assert ran_on[0] != threading.get_ident()
