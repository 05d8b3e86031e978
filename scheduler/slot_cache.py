"""A service's free times, kept for a moment.

When a popular service's slots are released, thousands of citizens search the same fortnight
within seconds, and computing it for each of them leaves no time for their bookings (issue 16).
A search's answer is kept until something is written in this process (`db.writes`), until it
is `seconds` old (writes by other processes: instances behind the proxy, the mail worker), or
until the office clock moves on by as much; its age counts from the moment its reads began.
While one request computes an answer anew, others asking the same get the one before it (if
at most `PATIENCE_SECONDS` old): under a run of bookings the answers lag behind by about one
computation, and at most one request per search computes at a time. Not an answer that found
nothing, though: when the slots are released, that would send people away.

The answers also tell which times were offered and have gone since (`gone`): most bookings
of such a crowd ask for a time that everybody saw free a moment ago, and can be refused
without reading the database. A time the database has just refused as taken by everyone
(`taken`) goes from the kept answers at once: until they are computed anew, they would send
the crowd on to it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from scheduler.availability import Slot
from scheduler.db import writes

# Searches kept: every service, channel and window that citizens ask for in a few seconds.
MAX_KEPT = 512

OFFER_MEMORY_SECONDS = 60.0

# How old an answer may be that others get while one request computes it anew.
PATIENCE_SECONDS = 5.0

# A search: the service, the channel asked for (None: any), its first and last local day.
SearchKey = tuple[int, str | None, date, date]


@dataclass(frozen=True, slots=True)
class _Kept:
    found: list[Slot]
    starts: frozenset[datetime]
    # Every start this search has offered while it was asked again and again.
    offered: frozenset[datetime]
    writes: int
    clock: datetime
    made: float


class SlotCache:
    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._kept: OrderedDict[SearchKey, _Kept] = OrderedDict()
        self._computing: set[SearchKey] = set()
        # What `taken` learnt in the last moments: when, the service, the start.
        self._taken: deque[tuple[float, int, datetime]] = deque()

    def kept(self, key: SearchKey, now: datetime) -> list[Slot] | None:
        """The answer kept for `key` if it may still serve, else None."""
        with self._lock:
            kept = self._servable(key, now)
            return kept.found if kept is not None else None

    def get(self, key: SearchKey, now: datetime, compute: Callable[[], list[Slot]]) -> list[Slot]:
        """The answer kept for `key`, or `compute()`'s."""
        if self._seconds <= 0:
            return compute()
        with self._lock:
            kept = self._servable(key, now)
            if kept is not None:
                return kept.found
            self._computing.add(key)
        try:
            # Counted and timed before the reads: the answer is as old as what they see.
            before, began = writes(), self._monotonic()
            found = compute()
            self._keep(key, found, before, now, began)
            return found
        finally:
            with self._lock:
                self._computing.discard(key)

    def gone(
        self, service_id: int, channel: str, start: datetime, day: date, now: datetime
    ) -> bool:
        """Whether a kept answer covering `day` offered `start` (for `channel` or any) and no
        longer does: someone else has taken it."""
        with self._lock:
            for key in list(self._kept):
                service, asked, first, last = key
                if service != service_id or asked not in (None, channel):
                    continue
                if not first <= day <= last:
                    continue
                # Written since or not: what was taken when it was computed is taken now,
                # but for a cancellation in the moment since.
                kept = self._kept[key]
                if self._recent(kept, now) and start in kept.offered and start not in kept.starts:
                    return True
        return False

    def taken(self, service_id: int, start: datetime) -> None:
        """The database has just found no advisor free at `start` of `service_id` (a booking
        refused). The kept answers stop offering it, so that the next to book it are refused
        at once (`gone`) and the next to search do not pick it; so does an answer whose reads
        began before this. (A booking made does not take its time from them: an answer names
        one free advisor a time, not all, and the write makes it be computed anew.)"""
        taken = (self._monotonic(), service_id, start)
        with self._lock:
            self._taken.append(taken)
            while self._taken and self._taken[0][0] < taken[0] - PATIENCE_SECONDS:
                self._taken.popleft()
            for key, kept in list(self._kept.items()):
                if key[0] == service_id and start in kept.starts:
                    self._kept[key] = _without(kept, start)

    def _keep(
        self, key: SearchKey, found: list[Slot], before: int, now: datetime, made: float
    ) -> None:
        starts = frozenset(slot.start for slot in found)
        with self._lock:
            previous = self._kept.get(key)
            # What was offered is remembered while the search is asked again within a minute:
            # the time a citizen picked, filled in the form for, and now books.
            if previous is not None and made - previous.made < OFFER_MEMORY_SECONDS:
                offered = frozenset(t for t in previous.offered if t > now) | starts
            else:
                offered = starts
            kept = _Kept(found, starts, offered, before, now, made)
            for when, service_id, start in self._taken:
                if when >= made and service_id == key[0] and start in kept.starts:
                    kept = _without(kept, start)
            self._kept[key] = kept
            self._kept.move_to_end(key)
            while len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)

    def _servable(self, key: SearchKey, now: datetime) -> _Kept | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        if self._recent(kept, now) and kept.writes == writes():
            return kept
        # Someone computes it anew: an overloaded server must not have everybody compute.
        if key in self._computing and kept.found and self._recent(kept, now, PATIENCE_SECONDS):
            return kept
        return None

    def _recent(self, kept: _Kept, now: datetime, seconds: float | None = None) -> bool:
        seconds = self._seconds if seconds is None else seconds
        return self._monotonic() - kept.made < seconds and timedelta(
            0
        ) <= now - kept.clock < timedelta(seconds=seconds)


def _without(kept: _Kept, start: datetime) -> _Kept:
    found = [slot for slot in kept.found if slot.start != start]
    return replace(kept, found=found, starts=frozenset(slot.start for slot in found))
