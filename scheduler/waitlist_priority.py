"""The waiting list's part in an absence or a closure day (scheduler/displacement.py), in the
transaction that writes it; its commit wakes the offer loop (`NUDGE`).

First in line: a citizen whose appointment the office cancelled is put at the head of the
service's waiting list, so that the offer loop holds the next free time that suits them for
them alone before anyone else gets one. The apology mail tells them so and links to their place.

An open offer is a held booking: when the absence moves it to a colleague, the offer follows;
when nobody can take it, the offer ends and its person waits again at their place, for the
next time that suits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.addresses import cap_key
from scheduler.models import Booking
from scheduler.waitlist_models import (
    ACTIVE,
    EntryStatus,
    OfferStatus,
    WaitlistEntry,
    WaitlistOffer,
)
from scheduler.waitlist_views import NUDGE


def put_first(session: Session, booking: Booking, now: datetime) -> WaitlistEntry | None:
    """The person's entry on the list of the booking's service, with priority: a new one for
    the booking's channel, any weekday and day part, or theirs if they wait there already.
    None without an e-mail address (an offer reaches people only by e-mail)."""
    if not booking.email:
        return None
    key = cap_key(booking.email)
    entry = session.scalar(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.service_id == booking.service_id,
            WaitlistEntry.email_key == key,
            WaitlistEntry.status.in_(ACTIVE),
        )
        .with_for_update()
    )
    if entry is None:
        entry = WaitlistEntry(
            service_id=booking.service_id,
            name=booking.name,
            email=booking.email,
            email_key=key,
            channel=booking.channel,
            phone=booking.phone,
            weekdays=[],
            day_parts=[],
            language=booking.language,
            status=EntryStatus.WAITING,
            token_version=1,
            created_at=now,
        )
        session.add(entry)
    entry.priority = True
    entry.updated_at = now
    session.flush()
    session.info[NUDGE] = True
    return entry


def place_of(session: Session, service_id: int, email: str) -> WaitlistEntry | None:
    """The person's active entry with priority on the service's list, if any (for the mail)."""
    return session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.service_id == service_id,
            WaitlistEntry.email_key == cap_key(email),
            WaitlistEntry.status.in_(ACTIVE),
            WaitlistEntry.priority.is_(True),
        )
    )


def offer_displaced(
    session: Session, booking_id: int, to_advisor_id: int | None, now: datetime
) -> None:
    """The open offer backed by the held booking `booking_id`, if any, follows the booking to
    `to_advisor_id`, or (None: the booking is deleted) ends, its person waiting again."""
    offer = session.scalar(
        select(WaitlistOffer)
        .where(WaitlistOffer.booking_id == booking_id, WaitlistOffer.status == OfferStatus.OPEN)
        .with_for_update()
    )
    if offer is None:
        return
    if to_advisor_id is not None:
        offer.advisor_id = to_advisor_id
        return
    offer.status, offer.decided_at, offer.booking_id = OfferStatus.EXPIRED, now, None
    entry = session.get(WaitlistEntry, offer.entry_id, with_for_update=True)
    if entry is not None and entry.status == EntryStatus.OFFERED:
        entry.status, entry.updated_at = EntryStatus.WAITING, now
    session.info[NUDGE] = True
