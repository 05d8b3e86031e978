"""The waiting list's part of the retention purge (scheduler/retention.py): an entry holds a
name, an e-mail address and maybe a phone number; it is deleted, with its offers, once the
retention period has passed since it ended (booked, left or removed). An entry still waiting
stays: the person is still asking for an appointment. A booking made from an offer keeps its
own copy of the data, erased with the booking.

What the statistics need of an entry is folded into counters in the transaction that deletes
it (scheduler/statistics_keep.py); so an entry goes together with all of its offers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, select
from sqlalchemy.orm import Session

from scheduler.retention import Cutoffs, Eraser
from scheduler.statistics_keep import delete_rows, keep_waitlist_entries
from scheduler.waitlist_models import ACTIVE, WaitlistEntry, WaitlistOffer


def _due(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return and_(WaitlistEntry.status.not_in(ACTIVE), WaitlistEntry.updated_at <= cutoffs.personal)


def due_entries(cutoffs: Cutoffs) -> Select[Any]:
    return select(WaitlistEntry.id).where(_due(cutoffs))


def _delete(session: Session, entry_ids: Sequence[int]) -> tuple[int, int]:
    """Fold and delete these entries with all their offers: (offers, entries) gone."""
    kept = keep_waitlist_entries(session, entry_ids)
    offers = delete_rows(session, delete(WaitlistOffer).where(WaitlistOffer.entry_id.in_(kept)))
    return offers, delete_rows(session, delete(WaitlistEntry).where(WaitlistEntry.id.in_(kept)))


def _delete_offered(session: Session, offer_ids: Sequence[Any]) -> int:
    entry_ids = session.scalars(
        select(WaitlistOffer.entry_id).where(WaitlistOffer.id.in_(offer_ids)).distinct()
    ).all()
    return _delete(session, entry_ids)[0]


# The entries with offers first, counted by their offers; then those never offered anything.
WAITLIST_OFFERS = Eraser(
    "waitlist_offers_deleted",
    WaitlistOffer.id,
    lambda c: WaitlistOffer.entry_id.in_(due_entries(c)),
    _delete_offered,
)
WAITLIST_ENTRIES = Eraser(
    "waitlist_entries_deleted",
    WaitlistEntry.id,
    _due,
    lambda session, ids: _delete(session, ids)[1],
)

ERASERS = (WAITLIST_OFFERS, WAITLIST_ENTRIES)
