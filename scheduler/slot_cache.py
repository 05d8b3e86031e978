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
without reading the database. What this process learns before the answers are computed anew
goes from them at once, or they would send the crowd on to times that are gone: a booking
made takes its advisor from the times it overlaps (`booked`; a time goes when it has no
advisor left), and a time the database has refused as taken by everyone goes entirely
(`taken`). Both also reach an answer whose reads began before them.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

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
        # What `taken` and `booked` learnt in the last moments, with when.
        self._taken: deque[tuple[float, int, datetime]] = deque()
        self._booked: deque[tuple[float, _Booked]] = deque()

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
            return self._keep(key, compute(), before, now, began)
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
        at once (`gone`) and the next to search do not pick it."""
        with self._lock:
            when = self._monotonic()
            self._taken.append((when, service_id, start))
            _forget_before(self._taken, when - PATIENCE_SECONDS)
            for key, kept in self._serving(when):
                if key[0] == service_id and start in kept.starts:
                    self._kept[key] = _without(kept, start)

    def booked(self, advisor_id: int, start: datetime, end: datetime) -> None:
        """This process has just booked `advisor_id` from `start` to `end`: the kept answers of
        every service no longer name that advisor at the times that overlap it, and a time
        with no advisor left goes. What else the booking rules out (the buffer after it, say)
        waits for the answers to be computed anew."""
        booked = _Booked(advisor_id, start, end)
        with self._lock:
            when = self._monotonic()
            self._booked.append((when, booked))
            _forget_before(self._booked, when - PATIENCE_SECONDS)
            for key, kept in self._serving(when):
                self._kept[key] = booked.applied(kept)

    def _keep(
        self, key: SearchKey, found: list[Slot], before: int, now: datetime, made: float
    ) -> list[Slot]:
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
            for when, booked in self._booked:
                if when >= made:
                    kept = booked.applied(kept)
            self._kept[key] = kept
            self._kept.move_to_end(key)
            while len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)
            return kept.found

    def _serving(self, moment: float) -> list[tuple[SearchKey, _Kept]]:
        """The kept answers that may still be served (`_servable`); older ones stay only for
        what they offered (`_keep`)."""
        return [
            (key, kept) for key, kept in self._kept.items() if moment - kept.made < PATIENCE_SECONDS
        ]

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


@dataclass(frozen=True, slots=True)
class _Booked:
    advisor_id: int
    start: datetime
    end: datetime

    def applied(self, kept: _Kept) -> _Kept:
        """`kept` without this advisor at the times that overlap the booking; `kept` itself if
        it named them nowhere (its JSON is made once for each list: web/slot_answers.py)."""
        found = kept.found
        if not found:
            return kept
        # The slots of one answer are sorted and equally long: those that overlap lie together.
        length = found[0].end - found[0].start
        first = bisect_right(found, self.start - length, key=_start)
        after = bisect_left(found, self.end, key=_start, lo=first)
        if not any(self.advisor_id in slot.advisor_ids for slot in found[first:after]):
            return kept
        overlapping = []
        for slot in found[first:after]:
            left = tuple(a for a in slot.advisor_ids if a != self.advisor_id)
            if left:
                overlapping.append(replace(slot, advisor_ids=left))
        found = [*found[:first], *overlapping, *found[after:]]
        return replace(kept, found=found, starts=frozenset(slot.start for slot in found))


def _start(slot: Slot) -> datetime:
    return slot.start


def _without(kept: _Kept, start: datetime) -> _Kept:
    found = [slot for slot in kept.found if slot.start != start]
    return replace(kept, found=found, starts=frozenset(slot.start for slot in found))


def _forget_before(learnt: deque[Any], moment: float) -> None:
    """Drop what was learnt before `moment` (each entry begins with when)."""
    while learnt and learnt[0][0] < moment:
        learnt.popleft()
