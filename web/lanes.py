"""A lane: at most so many request threads at a time for one kind of work, the rest waiting
their turn in the event loop.

Bookings run in a lane of their own. On SQLite the writer's lock lets one booking write at a
time anyway: six threads taking turns at it spent more on handing that lock and the
interpreter's lock between them than on the bookings (docs/benchmarks.md, "One lane for the
bookings"). On PostgreSQL bookings wait for the database in parallel: there the lane is as
wide as the request threads (fewer held back the bookings of the morning release, when the
event loop is busy with the crowd's searches).

On SQLite a short booking runs straight on the event loop when the writer's lock is free
(`run(..., inline=True)`): handing the interpreter's lock back and forth between a booking's
thread and the busy event loop, once for every statement, cost more than the booking itself
(docs/benchmarks.md, "The booking on the event loop"). It never waits there: if another
writer holds the lock, it goes to the lane's thread like any other.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar, cast
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread

from scheduler.sqlite_writer import WouldWait, without_waiting

T = TypeVar("T")
P = ParamSpec("P")


class _PerLoop:
    """One limiter and one gate per event loop: their waiters belong to the loop that made
    them, and the tests start a loop per client."""

    def __init__(self, width: int) -> None:
        self.limiter = anyio.CapacityLimiter(width)
        self.gate = asyncio.Lock()


class Lane:
    def __init__(self, width: int, inline: bool = False) -> None:
        self.width = width
        self.inline = inline
        self._loops: WeakKeyDictionary[asyncio.AbstractEventLoop, _PerLoop] = WeakKeyDictionary()

    async def run(self, work: Callable[[], T], inline: bool = False) -> T:
        """`work` on a request thread once the lane has room, in the order of arrival.

        With `inline`, in a lane that allows it, `work` runs on the event loop instead if its
        first unit of work finds the writer free: work of a few milliseconds that waits for
        nothing but the database's writer. If another writer has the lock, it goes to the
        lane's thread, and the next such work waits in the event loop until it is done, then
        tries the event loop again: otherwise, once one booking of a burst went to the
        thread, the others would follow it there for as long as the burst lasts."""
        loop = asyncio.get_running_loop()
        lane = self._loops.get(loop)
        if lane is None:
            lane = self._loops[loop] = _PerLoop(self.width)
        if not (inline and self.inline):
            return await anyio.to_thread.run_sync(work, limiter=lane.limiter)
        async with lane.gate:
            try:
                with without_waiting():
                    return work()
            except WouldWait:
                return await anyio.to_thread.run_sync(work, limiter=lane.limiter)


def booking_width(dialect: str, configured: int | None, worker_threads: int) -> int:
    """The booking lane's width: as configured, else one thread on SQLite and every request
    thread on PostgreSQL."""
    if configured is not None:
        return configured
    return 1 if dialect == "sqlite" else worker_threads


class _WithLane(Protocol):
    booking_lane: Lane


def in_booking_lane(handler: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """A request handler that places or moves a booking, run in the booking lane of the
    container it takes as `services`: the staff's and the waiting list's bookings queue with
    the citizens' instead of meeting them at the writer's lock. FastAPI reads the handler's
    own signature through `functools.wraps`."""

    @functools.wraps(handler)
    async def laned(*args: P.args, **kwargs: P.kwargs) -> T:
        services = cast(_WithLane, kwargs["services"])
        return await services.booking_lane.run(functools.partial(handler, *args, **kwargs))

    return laned
