"""A citizen's rights over their booking through its magic link (DSGVO Art. 15 and 17): what
we hold about them, and erasing it once the appointment is over or cancelled.

The export gathers the booking itself, the staff's notes about it, who of the staff opened it
and when (the roles, not the names), and what the person's e-mail address holds elsewhere
here (other bookings, callback requests, places on the waiting list), plus what the other
packages hold about the booking (`Exporter`s: documents, e-mails), since this package imports
none of ours. The erasure is the retention purge's, brought forward for this one booking
(`Retention.erase_bookings`): the same fields are blanked and the same records deleted; the
figures statistics need stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.callbacks_models import CallbackRequest
from scheduler.db import read_session, write_session
from scheduler.errors import Conflict
from scheduler.models import AuditEntry, Booking, BookingStatus, Staff
from scheduler.retention import Retention
from scheduler.services import Scheduler
from scheduler.waitlist_models import WaitlistEntry

# A section of the export: its name and what it holds, from a read-only session.
Exporter = Callable[[Session, int], tuple[str, Any]]
ERASED_ON_REQUEST = "erased_on_request"


class BookingNotOver(Conflict):
    code = "booking_not_over"


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Rights:
    def __init__(
        self, scheduler: Scheduler, retention: Retention, exporters: Sequence[Exporter] = ()
    ) -> None:
        self._scheduler = scheduler
        self._retention = retention
        self._exporters = tuple(exporters)

    def export(self, token: str) -> dict[str, Any]:
        """Everything held about the person of the booking this manage token names."""
        info = self._scheduler.booking_for_token(token)
        with read_session(self._scheduler.sessions) as session:
            booking = session.get_one(Booking, info.id)
            found: dict[str, Any] = {
                "exported_at": self._scheduler.clock().isoformat(),
                **booking_export(session, booking),
                **_elsewhere(session, booking),
            }
            for exporter in self._exporters:
                name, section = exporter(session, booking.id)
                found[name] = section
        return found

    def erase(self, token: str) -> dict[str, int]:
        """Erase the booking's personal data now; `BookingNotOver` before its appointment has
        ended or while it stands. The manage link stops working with it."""
        info = self._scheduler.booking_for_token(token)
        now = self._scheduler.clock()
        if info.status in (BookingStatus.CONFIRMED, BookingStatus.HELD) and info.end > now:
            raise BookingNotOver(field="booking", end=info.end)
        counts = self._retention.erase_bookings([info.id])
        with write_session(self._scheduler.sessions) as session:
            # That it happened, with no one's data: the booking is anonymous now.
            session.add(AuditEntry(at=now, action=ERASED_ON_REQUEST, booking_id=info.id))
        return counts


def booking_export(session: Session, booking: Booking) -> dict[str, Any]:
    """A booking as its person may see it: its fields, the staff's notes on it and who of
    the staff opened or changed it when (roles, not names)."""
    return {
        "booking": _booking(booking),
        "staff_notes": [
            {"at": note.get("at"), "text": note.get("text")} for note in booking.staff_notes or []
        ],
        "access_log": _access_log(session, booking.id),
    }


def callback_export(request: CallbackRequest) -> dict[str, Any]:
    return {
        "reference": request.reference,
        "status": request.status,
        "name": request.name,
        "phone": request.phone,
        "email": request.email,
        "language": request.language,
        "note": request.note,
        "windows": request.windows,
        "created_at": _moment(request.created_at),
    }


def waitlist_export(entry: WaitlistEntry) -> dict[str, Any]:
    return {
        "status": entry.status,
        "name": entry.name,
        "email": entry.email,
        "phone": entry.phone,
        "channel": entry.channel,
        "weekdays": entry.weekdays,
        "day_parts": entry.day_parts,
        "language": entry.language,
        "created_at": _moment(entry.created_at),
    }


def _booking(booking: Booking) -> dict[str, Any]:
    return {
        "reference": booking.reference,
        "status": booking.status,
        "service": booking.service.name,
        "advisor": booking.advisor.name,
        "channel": booking.channel,
        "start": _moment(booking.start_at),
        "end": _moment(booking.end_at),
        "name": booking.name,
        "email": booking.email,
        "phone": booking.phone,
        "language": booking.language,
        "notes": booking.notes,
        "interpreter_language": booking.interpreter_language,
        "sign_language": booking.sign_language,
        "wheelchair_access": booking.wheelchair_access,
        "booked_by_staff": booking.created_by_id is not None,
        "created_at": _moment(booking.created_at),
        "cancelled_at": _moment(booking.cancelled_at),
    }


def _access_log(session: Session, booking_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEntry.at, AuditEntry.action, Staff.role)
        .outerjoin(Staff, Staff.id == AuditEntry.actor_id)
        .where(AuditEntry.booking_id == booking_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return [{"at": _moment(at), "action": action, "role": role} for at, action, role in rows]


def _elsewhere(session: Session, booking: Booking) -> dict[str, list[dict[str, Any]]]:
    """What the same e-mail address holds beside this booking."""
    if not booking.email_key:
        return {"other_bookings": [], "callbacks": [], "waitlist": []}
    key = booking.email_key
    others = session.scalars(
        select(Booking)
        .where(Booking.email_key == key, Booking.id != booking.id)
        .order_by(Booking.start_at)
    )
    callbacks = session.scalars(
        select(CallbackRequest)
        .where(CallbackRequest.email_key == key)
        .order_by(CallbackRequest.created_at)
    )
    places = session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.email_key == key).order_by(WaitlistEntry.id)
    )
    return {
        "other_bookings": [_booking(other) for other in others],
        "callbacks": [callback_export(request) for request in callbacks],
        "waitlist": [waitlist_export(entry) for entry in places],
    }
