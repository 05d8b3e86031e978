"""The staff's view of bookings. Every read and every change is written to the audit log, in
the transaction of the read or the change: there is no change without its entry.

Advisors see their own appointments; hotline staff and administrators see all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.accounts import StaffIdentity
from scheduler.db import read_session, write_session
from scheduler.errors import (
    BookingCancelled,
    BookingInPast,
    BookingNotStarted,
    InvalidRequest,
    NotesTooLong,
    NotFound,
)
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.idempotency import Idempotency
from scheduler.models import AuditEntry, Booking, BookingStatus, Role
from scheduler.requests import BookingRequest, Placed
from scheduler.search import Query, find
from scheduler.services import Audit, Scheduler
from scheduler.views import BookingInfo

STAFF_ROLES = (Role.ADMIN, Role.ADVISOR, Role.HOTLINE)
NOTE_MAX_LENGTH = 1000
MAX_NOTES = 50


@dataclass(frozen=True, slots=True)
class StaffNote:
    at: datetime
    author_id: int
    author: str
    text: str

    @classmethod
    def of(cls, stored: dict[str, object]) -> StaffNote:
        return cls(
            at=datetime.fromisoformat(str(stored["at"])),
            author_id=int(str(stored["author_id"])),
            author=str(stored["author"]),
            text=str(stored["text"]),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "author_id": self.author_id,
            "author": self.author,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class SearchResult:
    bookings: list[BookingInfo]
    more: bool  # more hits than shown: the search should be more precise


class Desk:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._sessions = scheduler.sessions

    def bookings(
        self, actor: StaffIdentity, first: date, last: date, advisor_id: int | None = None
    ) -> list[BookingInfo]:
        actor.require(*STAFF_ROLES)
        if actor.role == Role.ADVISOR:
            advisor_id = actor.id
        tz = self._scheduler.tz
        lo = datetime.combine(first, time(), tz).astimezone(UTC)
        hi = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
        query = (
            select(Booking)
            .where(
                Booking.start_at >= lo, Booking.start_at < hi, Booking.status != BookingStatus.HELD
            )
            .order_by(Booking.start_at, Booking.id)
        )
        if advisor_id is not None:
            query = query.where(Booking.advisor_id == advisor_id)
        with write_session(self._sessions) as session:
            bookings = list(session.scalars(query))
            for booking in bookings:
                self._audit(session, actor, "read", booking.id, "list")
            return [BookingInfo.of(b) for b in bookings]

    def upcoming(self, advisor_id: int, days: int = 90) -> list[BookingInfo]:
        """An advisor's confirmed appointments from yesterday on, for their calendar feed.

        Not audited per booking: the feed carries no personal data of the citizens."""
        now = self._scheduler.clock()
        query = (
            select(Booking)
            .where(
                Booking.advisor_id == advisor_id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.start_at >= now - timedelta(days=1),
                Booking.start_at < now + timedelta(days=days),
            )
            .order_by(Booking.start_at)
        )
        with read_session(self._sessions) as session:
            return [BookingInfo.of(b) for b in session.scalars(query)]

    def booking(self, actor: StaffIdentity, reference: str) -> BookingInfo:
        actor.require(*STAFF_ROLES)
        with write_session(self._sessions) as session:
            booking = self._visible(session, actor, reference)
            self._audit(session, actor, "read", booking.id)
            return BookingInfo.of(booking)

    def book(
        self, actor: StaffIdentity, request: BookingRequest, idempotency: Idempotency | None = None
    ) -> Placed:
        """A booking made by hotline staff or an administrator on a citizen's behalf; with
        `idempotency` at most once: the same request again gets the booking it made
        (`replayed`), not a second one with another advisor free at that time."""
        actor.require(Role.ADMIN, Role.HOTLINE)
        placed = self._scheduler.book(
            replace(request, created_by_id=actor.id),
            idempotency=idempotency,
            respond=lambda info: {"reference": info.reference},
            audit=self._audit_as(actor, "create"),
        )
        # The staff's view names the advisor, which the booking's own answer leaves out.
        with read_session(self._sessions) as session:
            if placed.booking is None:
                assert placed.response is not None
                made = self._visible(session, actor, placed.response["reference"])
                return replace(placed, booking=self._scheduler.booking_info(session, made.id))
            booking = self._scheduler.booking_info(session, placed.booking.id)
        return replace(placed, booking=booking)

    def cancel(self, actor: StaffIdentity, reference: str) -> BookingInfo:
        reference = reference.upper()  # as `_visible` reads it
        self.booking_check(actor, reference)
        return self._scheduler.cancel(
            reference, actor_id=actor.id, audit=self._audit_as(actor, "cancel")
        )

    def reschedule(self, actor: StaffIdentity, reference: str, start: datetime) -> BookingInfo:
        reference = reference.upper()  # as `_visible` reads it
        self.booking_check(actor, reference)
        return self._scheduler.reschedule(
            reference, start, actor_id=actor.id, audit=self._audit_as(actor, "reschedule")
        )

    def reissue_link(self, actor: StaffIdentity, reference: str) -> BookingInfo:
        """A new magic link; every link issued before stops working."""
        actor.require(*STAFF_ROLES)
        with write_session(self._sessions) as session:
            booking = self._visible(session, actor, reference)
            booking.token_version += 1
            self._audit(session, actor, "reissue_link", booking.id)
            info = BookingInfo.of(booking)
            self._scheduler.events.emit(
                session,
                BookingEvent(
                    BookingEventKind.LINK_REISSUED, info, self._scheduler.clock(), actor_id=actor.id
                ),
            )
            return info

    def set_outcome(
        self, actor: StaffIdentity, reference: str, outcome: BookingStatus
    ) -> BookingInfo:
        actor.require(*STAFF_ROLES)
        with write_session(self._sessions) as session:
            booking = self._visible(session, actor, reference)
            if booking.status == BookingStatus.CANCELLED:
                # Its time may be booked again: reviving it would collide (raw IntegrityError).
                raise BookingCancelled()
            if booking.start_at > self._scheduler.clock():
                raise BookingNotStarted()
            booking.status = outcome.value
            self._audit(session, actor, f"outcome:{outcome.value}", booking.id)
            session.flush()
            return BookingInfo.of(booking)

    def search(self, actor: StaffIdentity, text: str) -> SearchResult:
        """Bookings by reference, name, e-mail or phone (`scheduler.search`), as far as the
        actor may see them. The search itself is audited with what was asked, and each hit
        as read: the list shows their personal data."""
        actor.require(*STAFF_ROLES)
        query = Query.parse(text)
        advisor_id = actor.id if actor.role == Role.ADVISOR else None
        with write_session(self._sessions) as session:
            found = find(session, query, self._scheduler.clock(), advisor_id)
            detail = json.dumps({"q": query.text, "hits": len(found.bookings)}, ensure_ascii=False)
            self._audit(session, actor, "search", None, detail)
            for booking in found.bookings:
                self._audit(session, actor, "read", booking.id, "search")
            return SearchResult([BookingInfo.of(b) for b in found.bookings], found.more)

    def notes(self, actor: StaffIdentity, reference: str) -> list[StaffNote]:
        """The staff's notes on a booking, oldest first; read with the booking (`booking`),
        whose opening is audited."""
        actor.require(*STAFF_ROLES)
        with read_session(self._sessions) as session:
            booking = self._visible(session, actor, reference)
            return [StaffNote.of(note) for note in booking.staff_notes or []]

    def add_note(self, actor: StaffIdentity, reference: str, text: str) -> StaffNote:
        """A note for the staff only: never in the citizen's mails, invites or answers."""
        actor.require(*STAFF_ROLES)
        text = text.strip()
        if not text:
            raise InvalidRequest("empty note", field="note", code="note_empty")
        if len(text) > NOTE_MAX_LENGTH:
            raise NotesTooLong(field="note", maximum=NOTE_MAX_LENGTH)
        with write_session(self._sessions) as session:
            booking = self._visible(session, actor, reference, lock=True)
            notes = list(booking.staff_notes or [])
            if len(notes) >= MAX_NOTES:
                raise InvalidRequest("too many notes", field="note", code="too_many_notes")
            note = StaffNote(self._scheduler.clock(), actor.id, actor.name, text)
            booking.staff_notes = [*notes, note.as_json()]
            self._audit(session, actor, "note", booking.id)
            return note

    def resend_confirmation(self, actor: StaffIdentity, reference: str) -> BookingInfo:
        """The confirmation once more, with the booking's current links, through the outbox."""
        actor.require(*STAFF_ROLES)
        with write_session(self._sessions) as session:
            booking = self._visible(session, actor, reference)
            now = self._scheduler.clock()
            if booking.status == BookingStatus.CANCELLED:
                raise BookingCancelled()
            if booking.status != BookingStatus.CONFIRMED or booking.start_at <= now:
                raise BookingInPast()
            if not booking.email:
                raise InvalidRequest("no address", field="reference", code="no_email_address")
            info = BookingInfo.of(booking)
            self._audit(session, actor, "resend_confirmation", booking.id)
            self._scheduler.events.emit(
                session,
                BookingEvent(BookingEventKind.CONFIRMATION_RESENT, info, now, actor_id=actor.id),
            )
            return info

    def audit_trail(self, actor: StaffIdentity, reference: str) -> list[AuditEntry]:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            booking = self._visible(session, actor, reference)
            return list(
                session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.booking_id == booking.id)
                    .order_by(AuditEntry.id)
                )
            )

    def booking_check(self, actor: StaffIdentity, reference: str) -> None:
        actor.require(*STAFF_ROLES)
        with write_session(self._sessions) as session:
            self._visible(session, actor, reference)

    def _visible(
        self, session: Session, actor: StaffIdentity, reference: str, lock: bool = False
    ) -> Booking:
        query = select(Booking).where(Booking.reference == reference.upper())
        booking = session.scalar(query.with_for_update(of=Booking) if lock else query)
        if booking is None or (actor.role == Role.ADVISOR and booking.advisor_id != actor.id):
            # An advisor learns nothing about other advisors' bookings, not even that they exist.
            raise NotFound("unknown booking", field="reference")
        return booking

    def _audit_as(self, actor: StaffIdentity, action: str) -> Audit:
        """The audit entry of a change, written in the change's own transaction: a change
        whose entry cannot be written is not made."""

        def audit(session: Session, booking: BookingInfo) -> None:
            self._audit(session, actor, action, booking.id)

        return audit

    def _audit(
        self,
        session: Session,
        actor: StaffIdentity,
        action: str,
        booking_id: int | None,
        detail: str = "",
    ) -> None:
        session.add(
            AuditEntry(
                at=self._scheduler.clock(),
                actor_id=actor.id,
                action=action,
                booking_id=booking_id,
                detail=detail,
            )
        )
