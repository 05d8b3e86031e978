"""The staff's side of a booking's documents: who may see them, and the audit of every view,
download and check (DSGVO Art. 5(2), 32), in the audit log the booking engine keeps.

The booking's advisor and administrators see documents; the hotline does not (it books and
calls back, it does not assess papers) and learns only how many there are. A view is audited
once per person and document within `VIEW_WINDOW`, so that turning the pages of one document
in a viewer or the video room does not write an entry per page, and a page fetched without
opening the document first is audited all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from documents.desk import DocumentDesk, DocumentInfo, ScanFinding
from documents.models import BookingDocument, DocumentStatus
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session, utcnow, write_session
from scheduler.errors import NotFound
from scheduler.models import AuditEntry, Booking, Role

VIEW_WINDOW = timedelta(minutes=30)
VIEW = "document_view"
DOWNLOAD = "document_download"
CHECKED = "document_checked"
DOCUMENT_ROLES = (Role.ADMIN, Role.ADVISOR)


@dataclass(frozen=True, slots=True)
class DocumentCounts:
    """How many documents a booking has, for the agenda: no names, so every role may see it."""

    total: int = 0
    pending: int = 0  # still being checked for viruses
    unchecked: int = 0  # clean, and no advisor has marked them as looked at


class StaffDocuments:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desk: DocumentDesk,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._desk = desk
        self._clock = clock

    def booking_id(self, actor: StaffIdentity, reference: str) -> int:
        """The id of a booking whose documents `actor` may see; `NotFound` for a booking of
        another advisor (as for the booking itself), `PermissionDenied` for the hotline."""
        actor.require(*DOCUMENT_ROLES)
        with read_session(self._sessions) as session:
            found = session.execute(
                select(Booking.id, Booking.advisor_id).where(Booking.reference == reference.upper())
            ).one_or_none()
        if found is None or (actor.role == Role.ADVISOR and found.advisor_id != actor.id):
            raise NotFound("unknown booking", field="reference")
        return int(found.id)

    def counts(self, booking_ids: Sequence[int]) -> dict[int, DocumentCounts]:
        """The counts of these bookings' documents (bookings without any are left out); the
        caller shows only bookings the person may see."""
        if not booking_ids:
            return {}
        pending = BookingDocument.status == DocumentStatus.PENDING
        unchecked = (BookingDocument.status == DocumentStatus.CLEAN) & (
            BookingDocument.checked_at.is_(None)
        )
        with read_session(self._sessions) as session:
            rows = session.execute(
                select(
                    BookingDocument.booking_id,
                    func.count(),
                    func.count().filter(pending),
                    func.count().filter(unchecked),
                )
                .where(BookingDocument.booking_id.in_(booking_ids))
                .group_by(BookingDocument.booking_id)
            )
            return {row[0]: DocumentCounts(row[1], row[2], row[3]) for row in rows}

    def findings(self, actor: StaffIdentity, reference: str) -> list[ScanFinding]:
        """The list of a booking's documents with what the scan found: a part of the booking's
        page, whose read is audited there."""
        return self._desk.findings(self.booking_id(actor, reference))

    def view(self, actor: StaffIdentity, reference: str, document_id: int) -> DocumentInfo:
        """A clean document `actor` is about to look at (a page of it); audited."""
        booking_id = self.booking_id(actor, reference)
        info = self._desk.clean(booking_id, document_id)
        self._audit(actor, VIEW, booking_id, document_id, once_within=VIEW_WINDOW)
        return info

    def download(
        self, actor: StaffIdentity, reference: str, document_id: int
    ) -> tuple[DocumentInfo, bytes]:
        booking_id = self.booking_id(actor, reference)
        info, data = self._desk.content(booking_id, document_id)
        self._audit(actor, DOWNLOAD, booking_id, document_id)
        return info, data

    def mark_checked(self, actor: StaffIdentity, reference: str, document_id: int) -> DocumentInfo:
        booking_id = self.booking_id(actor, reference)
        info = self._desk.mark_checked(actor.id, booking_id, document_id)
        self._audit(actor, CHECKED, booking_id, document_id)
        return info

    def _audit(
        self,
        actor: StaffIdentity,
        action: str,
        booking_id: int,
        document_id: int,
        once_within: timedelta | None = None,
    ) -> None:
        now = self._clock()
        detail = f"document {document_id}"
        with write_session(self._sessions) as session:
            if once_within is not None and session.scalar(
                select(AuditEntry.id)
                .where(
                    AuditEntry.actor_id == actor.id,
                    AuditEntry.action == action,
                    AuditEntry.booking_id == booking_id,
                    AuditEntry.detail == detail,
                    AuditEntry.at > now - once_within,
                )
                .limit(1)
            ):
                return
            session.add(
                AuditEntry(
                    at=now, actor_id=actor.id, action=action, booking_id=booking_id, detail=detail
                )
            )
