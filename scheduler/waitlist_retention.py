"""The waiting list's part of the retention purge (scheduler/retention.py): an entry holds a
name, an e-mail address and maybe a phone number; it is deleted, with its offers, once the
retention period has passed since it ended (booked, left or removed). An entry still waiting
stays: the person is still asking for an appointment. A booking made from an offer keeps its
own copy of the data, erased with the booking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select

from scheduler.retention import Cutoffs, Eraser
from scheduler.waitlist_models import ACTIVE, WaitlistEntry, WaitlistOffer


def _due(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return and_(WaitlistEntry.status.not_in(ACTIVE), WaitlistEntry.updated_at <= cutoffs.personal)


def due_entries(cutoffs: Cutoffs) -> Select[Any]:
    return select(WaitlistEntry.id).where(_due(cutoffs))


# The offers first: they point to the entries.
WAITLIST_OFFERS = Eraser(
    "waitlist_offers_deleted",
    WaitlistOffer.id,
    lambda c: WaitlistOffer.entry_id.in_(due_entries(c)),
)
WAITLIST_ENTRIES = Eraser("waitlist_entries_deleted", WaitlistEntry.id, _due)

ERASERS = (WAITLIST_OFFERS, WAITLIST_ENTRIES)
