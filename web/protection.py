"""Protection of slot search and booking against bots: limits per client address.

A person searches a few times and books once; a bot that empties a calendar needs thousands
of requests. Limits count requests per address in a sliding window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from scheduler.errors import SchedulerError


class RateLimited(SchedulerError):
    code = "rate_limited"


class SlidingWindow:
    """At most `limit` hits per key within `window` seconds (in this process)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._hits) > 100_000:  # bounded memory under a flood of addresses
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry_after = int(hits[0] + self.window - now) + 1
                raise RateLimited(retry_after=retry_after)
            hits.append(now)

    def _forget_idle(self, now: float) -> None:
        for key in [
            k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window
        ]:
            del self._hits[key]


class Protection:
    def __init__(self, search_per_minute: int, bookings_per_hour: int) -> None:
        self.search = SlidingWindow(search_per_minute, 60)
        self.booking = SlidingWindow(bookings_per_hour, 3600)


def _protection(request: Request) -> Protection:
    return request.app.state.protection  # type: ignore[no-any-return]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_slot_search(request: Request) -> None:
    """Raise RateLimited (429) when this address searches too often."""
    _protection(request).search.hit(_address(request))


def check_booking(request: Request, altcha: str | None = None) -> None:
    """Raise RateLimited (429) when this address books too often."""
    _protection(request).booking.hit(_address(request))
