"""Requests about a person that come by phone or letter (DSGVO Art. 15 and 17): administrators
find every record of a person by e-mail address and phone number, export them as one file, or
erase them. Each step is audited; an erasure names the counts it was confirmed for, and is
refused if the records changed since, or while something is still under way for the person
(an appointment to come, a callback request waiting for staff): those are cancelled or settled
first, through their own pages, so that nobody is left waiting for an answer that never comes.

An address matches as the cap on open bookings compares them (`cap_key`), a phone number by
its digits without the German country code or trunk prefix (`phone_digits`); the name alone
never selects anyone (too many people share one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from scheduler.accounts import StaffIdentity
from scheduler.addresses import cap_key
from scheduler.callbacks_models import PENDING, CallbackAttempt, CallbackRequest
from scheduler.db import forget_freed, read_session, write_session
from scheduler.errors import Conflict, InvalidRequest
from scheduler.models import AuditEntry, Booking, BookingStatus, Role
from scheduler.retention import Retention
from scheduler.rights import Exporter, booking_export, callback_export, waitlist_export
from scheduler.search import phone_digits
from scheduler.services import Scheduler
from scheduler.statistics_keep import keep_callbacks, keep_waitlist_entries
from scheduler.waitlist import Waitlist
from scheduler.waitlist_models import WaitlistEntry, WaitlistOffer

# Deletes what another package holds for these addresses (the outbox's mails about callback
# requests and places on the waiting list, which name no booking); how many records.
AddressEraser = Callable[[Session, set[str]], int]
MIN_PHONE_DIGITS = 6  # fewer would match strangers' numbers by their ends


class PersonUnspecified(InvalidRequest):
    code = "person_unspecified"


class RecordsChanged(Conflict):
    code = "records_changed"


class PersonBusy(Conflict):
    code = "person_busy"


@dataclass(frozen=True, slots=True)
class Person:
    email: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        email, phone = (self.email or "").strip(), (self.phone or "").strip()
        if not email and len(phone_digits(phone)) < MIN_PHONE_DIGITS:
            raise PersonUnspecified(field="email", minimum=MIN_PHONE_DIGITS)


@dataclass(frozen=True, slots=True)
class Records:
    bookings: tuple[int, ...]
    callbacks: tuple[int, ...]
    waitlist: tuple[int, ...]

    def counts(self) -> dict[str, int]:
        return {
            "bookings": len(self.bookings),
            "callbacks": len(self.callbacks),
            "waitlist": len(self.waitlist),
        }


class People:
    def __init__(
        self,
        scheduler: Scheduler,
        retention: Retention,
        waitlist: Waitlist,
        exporters: Sequence[Exporter] = (),
        address_erasers: Sequence[tuple[str, AddressEraser]] = (),
    ) -> None:
        self._scheduler = scheduler
        self._retention = retention
        self._waitlist = waitlist
        self._exporters = tuple(exporters)
        self._address_erasers = tuple(address_erasers)

    def find(self, actor: StaffIdentity, person: Person) -> dict[str, Any]:
        """Every record of the person, as the export has them; audited as a search."""
        return self._gather(actor, person, "person_search")

    def export(self, actor: StaffIdentity, person: Person) -> dict[str, Any]:
        """The same, for the file handed to the person; audited as an export, on each of
        their bookings too (so the booking's access log shows it)."""
        return self._gather(actor, person, "person_export")

    def erase(
        self, actor: StaffIdentity, person: Person, confirmed: dict[str, int]
    ) -> dict[str, int]:
        """Erase every record of the person; `confirmed` are the counts the administrator
        saw and confirmed. The counts of what was erased."""
        actor.require(Role.ADMIN)
        now = self._scheduler.clock()
        with read_session(self._scheduler.sessions) as session:
            records = _records(session, person)
            if records.counts() != confirmed:
                raise RecordsChanged(field="confirmed", found=records.counts())
            if _busy(session, records, now):
                raise PersonBusy(field="person")
            addresses = _addresses(session, records)
        for entry_id in records.waitlist:
            self._waitlist.remove(actor, entry_id)  # an open offer goes back first
        counts = self._retention.erase_bookings(records.bookings)
        with write_session(self._scheduler.sessions) as session:
            counts |= _delete(session, records)
            for name, erase in self._address_erasers:
                counts[name] = erase(session, addresses)
            session.add_all(
                AuditEntry(at=now, actor_id=actor.id, action="erased_on_request", booking_id=id_)
                for id_ in records.bookings
            )
            session.add(
                AuditEntry(at=now, actor_id=actor.id, action="person_erased", detail=_tally(counts))
            )
        forget_freed(self._scheduler.sessions)
        return counts

    def _gather(self, actor: StaffIdentity, person: Person, action: str) -> dict[str, Any]:
        actor.require(Role.ADMIN)
        now = self._scheduler.clock()
        with write_session(self._scheduler.sessions) as session:
            records = _records(session, person)
            bookings = []
            for booking_id in records.bookings:
                booking = session.get_one(Booking, booking_id)
                found = booking_export(session, booking)
                for exporter in self._exporters:
                    name, section = exporter(session, booking_id)
                    found[name] = section
                bookings.append(found)
            gathered = {
                "exported_at": now.isoformat(),
                "counts": records.counts(),
                "bookings": bookings,
                "callbacks": [
                    callback_export(session.get_one(CallbackRequest, id_))
                    for id_ in records.callbacks
                ],
                "waitlist": [
                    waitlist_export(session.get_one(WaitlistEntry, id_)) for id_ in records.waitlist
                ],
            }
            # Never the address or the number searched for: only what was found.
            session.add(
                AuditEntry(
                    at=now, actor_id=actor.id, action=action, detail=_tally(records.counts())
                )
            )
            if action == "person_export":
                session.add_all(
                    AuditEntry(at=now, actor_id=actor.id, action=action, booking_id=id_)
                    for id_ in records.bookings
                )
        return gathered


def bookings_of(session: Session, person: Person) -> tuple[int, ...]:
    """Ids of the person's bookings, matched as `find` matches them (the audit viewer's
    filter by person, scheduler/audit_view.py)."""
    return _records(session, person).bookings


def _records(session: Session, person: Person) -> Records:
    email = cap_key(person.email) if person.email and person.email.strip() else None
    digits = phone_digits(person.phone or "")
    if len(digits) < MIN_PHONE_DIGITS:
        digits = ""
    # What narrows the rows down in the database; the digits decide in Python.
    bookings = _matching(session, Booking, email, digits, Booking.search_key.contains(digits))
    callbacks = _matching(
        session, CallbackRequest, email, digits, CallbackRequest.phone_key.endswith(digits)
    )
    waitlist = _matching(session, WaitlistEntry, email, digits, WaitlistEntry.phone.is_not(None))
    return Records(tuple(bookings), tuple(callbacks), tuple(waitlist))


def _matching(
    session: Session, model: Any, email: str | None, digits: str, narrow: Any
) -> list[int]:
    """Ids of the rows of `model` whose address is `email` or whose phone number, compared
    by its digits, is `digits`."""
    conditions = []
    if email:
        conditions.append(model.email_key == email)
    if digits:
        conditions.append(narrow)
    rows: Any = session.execute(
        select(model.id, model.email_key, model.phone).where(or_(*conditions)).order_by(model.id)
    )
    return [
        row_id
        for row_id, key, phone in rows
        if (email and key == email) or (digits and phone and phone_digits(phone) == digits)
    ]


def _addresses(session: Session, records: Records) -> set[str]:
    """The person's e-mail addresses as they were typed, lower-cased: what mails went to."""
    found: set[str] = set()
    for model, ids in (
        (Booking, records.bookings),
        (CallbackRequest, records.callbacks),
        (WaitlistEntry, records.waitlist),
    ):
        found.update(
            email.strip().lower()
            for email in session.scalars(select(model.email).where(model.id.in_(ids)))
            if email
        )
    return found


def _busy(session: Session, records: Records, now: Any) -> bool:
    ahead = session.scalar(
        select(Booking.id)
        .where(
            Booking.id.in_(records.bookings),
            Booking.status == BookingStatus.CONFIRMED,
            Booking.end_at > now,
        )
        .limit(1)
    )
    waiting = session.scalar(
        select(CallbackRequest.id)
        .where(CallbackRequest.id.in_(records.callbacks), CallbackRequest.status.in_(PENDING))
        .limit(1)
    )
    return ahead is not None or waiting is not None


def _delete(session: Session, records: Records) -> dict[str, int]:
    def gone(statement: Any) -> int:
        result = session.execute(statement, execution_options={"synchronize_session": False})
        return int(result.rowcount)  # type: ignore[attr-defined]  # a DML Result is a CursorResult

    # What the statistics need of them is folded into their counters first, in this very
    # transaction (scheduler/statistics_keep.py): the figures stay as they were.
    entries = keep_waitlist_entries(session, records.waitlist)
    callbacks = keep_callbacks(session, records.callbacks)
    offers = gone(delete(WaitlistOffer).where(WaitlistOffer.entry_id.in_(entries)))
    entries_gone = gone(delete(WaitlistEntry).where(WaitlistEntry.id.in_(entries)))
    attempts = gone(delete(CallbackAttempt).where(CallbackAttempt.callback_id.in_(callbacks)))
    requests = gone(delete(CallbackRequest).where(CallbackRequest.id.in_(callbacks)))
    return {
        "waitlist_offers_deleted": offers,
        "waitlist_entries_deleted": entries_gone,
        "callback_attempts_deleted": attempts,
        "callback_requests_deleted": requests,
    }


def _tally(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}={count}" for name, count in counts.items())
