"""A lane: at most so many request threads at a time for one kind of work, the rest waiting
their turn in the event loop.

Bookings run in a lane of their own. On SQLite the writer's lock lets one booking write at a
time anyway: six threads taking turns at it spent more on handing that lock and the
interpreter's lock between them than on the bookings (docs/benchmarks.md, "One lane for the
bookings"). On PostgreSQL bookings wait for the database in parallel: there the lane is as
wide as the request threads (fewer held back the bookings of the morning release, when the
event loop is busy with the crowd's searches).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar, cast
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread

T = TypeVar("T")
P = ParamSpec("P")


class Lane:
    def __init__(self, width: int) -> None:
        self.width = width
        # One limiter per event loop: its waiters belong to the loop that made it, and the
        # tests start a loop per client.
        self._limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            WeakKeyDictionary()
        )

    async def run(self, work: Callable[[], T]) -> T:
        """`work` on a request thread once the lane has room, in the order of arrival."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.width)
        return await anyio.to_thread.run_sync(work, limiter=limiter)


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
