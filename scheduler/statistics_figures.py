"""Counting one group of the statistics (a service in a week) and turning counts into figures.

Medians are those of `statistics.median` (the mean of the two middle values of an even count);
the 90th percentile is the nearest-rank one: the smallest value with 90 % at or below it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median

from scheduler.models import BookingStatus

DAY = 86400.0
HOUR = 3600.0
CANCELLERS = ("citizen", "staff", "office", "unknown")


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def p90(values: list[int]) -> int | None:
    """Of sorted `values`."""
    return values[math.ceil(0.9 * len(values)) - 1] if values else None


def counted_median(counts: Counter[int]) -> float | None:
    """The median of the values each repeated `counts[value]` times."""
    n = sum(counts.values())
    if not n:
        return None
    wanted, found, seen = {(n - 1) // 2, n // 2}, [], 0
    for value in sorted(counts):
        for position in sorted(wanted):
            if seen <= position < seen + counts[value]:
                found.append(value)
        seen += counts[value]
    return sum(found) / len(found) if len(wanted) == 2 else float(found[0])


@dataclass(slots=True)
class CallbackCounts:
    requests: int = 0
    attempted: int = 0
    reached: int = 0
    booked: int = 0
    first_attempt_seconds: int = 0

    def add(self, requests: int, attempted: int, reached: int, booked: int, seconds: int) -> None:
        self.requests += requests
        self.attempted += attempted
        self.reached += reached
        self.booked += booked
        self.first_attempt_seconds += seconds

    def figures(self) -> dict[str, object]:
        mean = self.first_attempt_seconds / self.attempted / HOUR if self.attempted else None
        return {
            "requests": self.requests,
            "attempted": self.attempted,
            "reached": self.reached,
            "reach_rate": _rate(self.reached, self.attempted),
            "booked": self.booked,
            "booked_rate": _rate(self.booked, self.requests),
            "first_attempt_hours_mean": mean,
        }


@dataclass(slots=True)
class WaitlistCounts:
    entries: int = 0
    offered: int = 0
    offers: int = 0
    accepted: int = 0
    offer_seconds: int = 0

    def add(self, entries: int, offered: int, offers: int, accepted: int, seconds: int) -> None:
        self.entries += entries
        self.offered += offered
        self.offers += offers
        self.accepted += accepted
        self.offer_seconds += seconds

    def figures(self) -> dict[str, object]:
        mean = self.offer_seconds / self.offered / DAY if self.offered else None
        return {
            "entries": self.entries,
            "offered": self.offered,
            "offer_days_mean": mean,
            "offers": self.offers,
            "accepted": self.accepted,
            "acceptance_rate": _rate(self.accepted, self.offers),
        }


Figures = dict[str, object]


@dataclass(slots=True)
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    cancelled_by: Counter[str] = field(default_factory=Counter)
    hotline: int = 0
    waits: list[int] = field(default_factory=list)  # seconds from booking to appointment
    slots_offered: int = 0
    search_waits: Counter[int] = field(default_factory=Counter)  # whole days -> searches
    searches_without_slot: int = 0
    callbacks: CallbackCounts = field(default_factory=CallbackCounts)
    waitlist: WaitlistCounts = field(default_factory=WaitlistCounts)

    def bookings(self, status: str, by_staff: bool, cancelled_by: str | None, count: int) -> None:
        """`count` bookings alike; their waits go to `waits`."""
        self.statuses[status] += count
        if status == BookingStatus.CANCELLED:
            self.cancelled_by[cancelled_by or "unknown"] += count
        self.hotline += by_staff * count

    def callback(self, first_attempt: int | None, reached: bool, booked: bool) -> None:
        attempted = first_attempt is not None
        self.callbacks.add(1, attempted, reached, booked, first_attempt or 0)

    def waitlist_entry(self, first_offer: int | None, offers: int, accepted: int) -> None:
        self.waitlist.add(1, first_offer is not None, offers, accepted, first_offer or 0)

    @classmethod
    def merged(cls, tallies: Iterable[Tally]) -> Tally:
        total = cls()
        for one in tallies:
            total.statuses += one.statuses
            total.cancelled_by += one.cancelled_by
            total.hotline += one.hotline
            total.waits += one.waits
            total.slots_offered += one.slots_offered
            total.search_waits += one.search_waits
            total.searches_without_slot += one.searches_without_slot
            total.callbacks.add(*_callback_counts(one.callbacks))
            total.waitlist.add(*_waitlist_counts(one.waitlist))
        return total

    def figures(self) -> Figures:
        bookings = sum(self.statuses.values())
        no_shows, completed = self.statuses[BookingStatus.NO_SHOW], self.statuses["completed"]
        cancellations = self.statuses[BookingStatus.CANCELLED]
        booked = bookings - cancellations
        waits = sorted(self.waits)
        middle, slowest = median(waits) / DAY if waits else None, p90(waits)
        return {
            "bookings": bookings,
            "confirmed": self.statuses[BookingStatus.CONFIRMED],
            "completed": completed,
            "no_shows": no_shows,
            "cancellations": cancellations,
            "cancelled_by": {name: self.cancelled_by[name] for name in CANCELLERS},
            "no_show_rate": _rate(no_shows, completed + no_shows),
            "online_bookings": bookings - self.hotline,
            "hotline_bookings": self.hotline,
            "waiting_days_median": middle,
            "waiting_days_p90": None if slowest is None else slowest / DAY,
            "slots_offered": self.slots_offered,
            "slots_booked": booked,
            "utilisation": _rate(booked, self.slots_offered),
            "searches": sum(self.search_waits.values()) + self.searches_without_slot,
            "searches_without_slot": self.searches_without_slot,
            "search_wait_days_median": counted_median(self.search_waits),
            "callbacks": self.callbacks.figures(),
            "waitlist": self.waitlist.figures(),
        }


def _callback_counts(c: CallbackCounts) -> tuple[int, int, int, int, int]:
    return c.requests, c.attempted, c.reached, c.booked, c.first_attempt_seconds


def _waitlist_counts(w: WaitlistCounts) -> tuple[int, int, int, int, int]:
    return w.entries, w.offered, w.offers, w.accepted, w.offer_seconds
