"""The bookings' lane (web/lanes.py): at most its width of request threads at a time, the rest
waiting in the event loop in the order they came."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from web.lanes import Lane, booking_width


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: list[int] = []

    def work(self, n: int, seconds: float) -> int:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(n)
        time.sleep(seconds)
        with self._lock:
            self.running -= 1
        return n


async def _crowd(lane: Lane, tally: Tally, count: int, seconds: float) -> list[int]:
    tasks = []
    for n in range(count):
        tasks.append(asyncio.create_task(lane.run(lambda n=n: tally.work(n, seconds))))
        await asyncio.sleep(0)  # each arrives after the one before
    return list(await asyncio.gather(*tasks))


def test_a_lane_of_one_runs_one_at_a_time_in_the_order_of_arrival() -> None:
    lane, tally = Lane(1), Tally()

    results = asyncio.run(_crowd(lane, tally, 12, 0.005))

    assert results == list(range(12))
    assert tally.most == 1
    assert tally.started == list(range(12))


def test_a_wider_lane_runs_up_to_its_width_at_once() -> None:
    lane, tally = Lane(3), Tally()

    asyncio.run(_crowd(lane, tally, 12, 0.05))

    assert tally.most == 3


def test_a_lane_serves_one_event_loop_after_another() -> None:
    """The tests start an event loop per client: a lane's waiters belong to their own loop."""
    lane, tally = Lane(1), Tally()

    for _ in range(3):
        assert asyncio.run(_crowd(lane, tally, 4, 0.001)) == [0, 1, 2, 3]
    assert tally.most == 1


def test_an_error_in_the_lane_reaches_the_caller_and_frees_its_place() -> None:
    lane = Lane(1)

    def fail() -> None:
        raise ValueError("refused")

    async def both() -> str:
        with pytest.raises(ValueError, match="refused"):
            await lane.run(fail)
        return await lane.run(lambda: "next")

    assert asyncio.run(both()) == "next"


@pytest.mark.parametrize(
    ("dialect", "configured", "threads", "width"),
    [
        ("sqlite", None, 6, 1),  # one writer at a time anyway
        ("postgresql", None, 6, 6),  # waiting for the database in parallel
        ("sqlite", 4, 6, 4),  # as configured
        ("postgresql", 1, 6, 1),
    ],
)
def test_the_booking_lane_is_as_wide_as_the_database_allows(
    dialect: str, configured: int | None, threads: int, width: int
) -> None:
    assert booking_width(dialect, configured, threads) == width
