"""The pure rules of the waiting list: which slot suits whom, and how long an offer runs.

No database and no clock: the offer loop (`scheduler/waitlist.py`) passes `now` in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.waitlist_models import DayPart

NOON = 12


@dataclass(frozen=True, slots=True)
class Wishes:
    """What suits a person on the list; empty sequences mean "any"."""

    weekdays: Sequence[int] = ()
    day_parts: Sequence[str] = ()

    def suit(self, start: datetime, tz: ZoneInfo) -> bool:
        return self.suit_at(*slot_key(start, tz))

    def suit_at(self, weekday: int, day_part: str) -> bool:
        if self.weekdays and weekday not in self.weekdays:
            return False
        return not self.day_parts or day_part in self.day_parts


def slot_key(start: datetime, tz: ZoneInfo) -> tuple[int, str]:
    """The local weekday (Monday 0) and day part of a slot's start."""
    local = start.astimezone(tz)
    return local.weekday(), DayPart.MORNING if local.hour < NOON else DayPart.AFTERNOON


@dataclass(frozen=True, slots=True)
class OfferTerms:
    lifetime: timedelta = timedelta(hours=24)
    # An offer that would leave less time than this to answer is not made.
    shortest: timedelta = timedelta(minutes=15)


def offer_expiry(
    now: datetime, start: datetime, min_notice: timedelta, terms: OfferTerms
) -> datetime | None:
    """When an offer of the slot at `start` made `now` runs out, or None if none is made.

    At most `terms.lifetime`; at most half the time until the slot, so that a declined or
    ignored offer still leaves time for the next person; and over before the slot enters the
    service's minimum notice, when nobody could book it any more.
    """
    if start - now <= min_notice:
        return None
    expires = min(now + terms.lifetime, now + (start - now) / 2, start - min_notice)
    expires = expires.replace(microsecond=0)
    if expires - now < terms.shortest:
        return None
    return expires
