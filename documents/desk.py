"""The documents of a booking (issue 14): what a citizen hands in, the scan, what may be opened,
deleted and erased. No HTTP here; the web layer calls these and maps the errors
(`documents.errors`, `documents.checks.Refused`).

The life of a document:

    hand_in ──> pending ──scan: OK──────> clean     (citizen and advisor may open it)
                   │  └──scan: FOUND───> rejected  (reason "infected"; the blob deleted at once)
                   └──clamd unavailable: stays pending, `scan_attempts` counted (fail closed)

Nothing is ever opened before clamd's explicit OK; without a scanner configured nothing
becomes clean. The citizen deletes documents until the appointment begins; the retention purge
erases them, their own retention after the appointment (`documents.retention`).

Order of writes, so that nothing half-stored remains: the checked bytes are stored encrypted
first, under a fresh blob id; then the record is written in one transaction, in which the
booking's state and its quota are checked again under a lock (PostgreSQL: the booking's row
`FOR UPDATE`; SQLite: `write_session` holds the one writer lock). If that transaction fails,
the blob is deleted. Deleting goes the other way round (record, then blob): a crash in between
leaves a blob without a record, which `erasure.orphan_blobs` lists, never a record without
its bytes.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from documents.checks import Refused, check
from documents.crypto import DocumentCorrupt, DocumentError
from documents.erasure import DocumentErasure, discard
from documents.errors import (
    BookingNotConfirmed,
    DocumentNotAvailable,
    DocumentNotFound,
    LabelTooLong,
    QuotaExceeded,
    RequirementUnknown,
    TooManyFiles,
)
from documents.models import LABEL_MAX_CHARS, BookingDocument, DocumentStatus, ServiceDocument
from documents.scanner import Scanner, ScannerUnavailable
from documents.storage import BlobNotFound, EncryptedStore, new_blob_id
from scheduler.db import read_session, utcnow, write_session
from scheduler.errors import BookingCancelled, BookingInPast, NotFound
from scheduler.models import Booking, BookingStatus

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# Reasons of a rejected document, for the message catalogue.
INFECTED = "infected"
MISSING = "missing"  # its bytes were lost (a failed write whose commit did go through)
CORRUPT = "corrupt"  # its bytes no longer decrypt: changed on disk or in the database


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_file_bytes: int = 20 * MiB
    max_files: int = 20  # records of a booking, rejected ones included (they are listed too)
    max_total_bytes: int = 100 * MiB  # of the stored (checked) files, rejected ones not counted


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document as the citizen and the advisor see it; never the signature clamd found."""

    id: int
    booking_id: int
    name: str
    label: str
    kind: str
    status: str
    size: int
    pages: int
    reason: str | None
    created_at: datetime
    scanned_at: datetime | None
    checked_by_id: int | None
    checked_at: datetime | None
    requirement_id: int | None

    @classmethod
    def of(cls, document: BookingDocument) -> DocumentInfo:
        return cls(
            id=document.id,
            booking_id=document.booking_id,
            name=document.name,
            label=document.label,
            kind=document.kind,
            status=document.status,
            size=document.size,
            pages=document.pages,
            reason=document.reason,
            created_at=document.created_at,
            scanned_at=document.scanned_at,
            checked_by_id=document.checked_by_id,
            checked_at=document.checked_at,
            requirement_id=document.requirement_id,
        )


@dataclass(frozen=True, slots=True)
class ScanFinding:
    """What staff and the audit may know of a scan: the signature and the attempts."""

    document: DocumentInfo
    signature: str | None
    scan_attempts: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    examined: int = 0  # pending documents looked at
    clean: int = 0
    rejected: int = 0
    unavailable: bool = False  # no scanner configured, or clamd gave no verdict: round stopped
    more: bool = False  # a full batch was done: more may be waiting


def clean_label(label: str) -> str:
    """The citizen's label without control or format characters, whitespace folded;
    `LabelTooLong` beyond `LABEL_MAX_CHARS`."""
    chars = []
    for char in unicodedata.normalize("NFC", label):
        category = unicodedata.category(char)
        if category.startswith("Z") or char in "\t\n\r\v\f\x85":
            chars.append(" ")
        elif category[0] != "C":
            chars.append(char)
    text = " ".join("".join(chars).split())
    if len(text) > LABEL_MAX_CHARS:
        raise LabelTooLong(field="label", maximum=LABEL_MAX_CHARS)
    return text


class DocumentDesk:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: EncryptedStore,
        scanner: Scanner | None,
        limits: DocumentLimits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._scanner = scanner
        self.limits = limits or DocumentLimits()
        self._clock = clock
        self.erasure = DocumentErasure(sessions, store)

    # The citizen ---------------------------------------------------------------------------

    def hand_in(
        self,
        booking_id: int,
        data: bytes,
        declared_name: str,
        label: str = "",
        requirement_id: int | None = None,
    ) -> DocumentInfo:
        """Check, store encrypted and record a document as pending; or raise (`Refused`, the
        booking's state, the quota, a requirement not of its service) and leave nothing
        behind. `requirement_id`: which of the service's named documents it is."""
        label = clean_label(label)
        if len(data) > self.limits.max_file_bytes:
            raise Refused("too_large_file")
        # Refuse early what the booking does not allow, before the work of checking the file.
        with read_session(self._sessions) as session:
            self._admit(session, booking_id, 0, lock=False, requirement_id=requirement_id)
        checked = check(data, declared_name, max_bytes=self.limits.max_file_bytes)
        if len(checked.data) > self.limits.max_file_bytes:  # a re-encoded image may grow
            raise Refused("too_large_file")
        blob_id = new_blob_id()
        self._store.put(blob_id, checked.data)
        try:
            with write_session(self._sessions) as session:
                self._admit(
                    session, booking_id, len(checked.data), lock=True, requirement_id=requirement_id
                )
                document = BookingDocument(
                    booking_id=booking_id,
                    blob_id=blob_id,
                    name=checked.display_name,
                    label=label,
                    requirement_id=requirement_id,
                    kind=checked.kind,
                    size=len(checked.data),
                    pages=checked.pages,
                    status=DocumentStatus.PENDING,
                    scan_attempts=0,
                    created_at=self._clock(),
                )
                session.add(document)
                session.flush()
                info = DocumentInfo.of(document)
        except BaseException:
            self._discard(blob_id)
            raise
        return info

    def documents(self, booking_id: int) -> list[DocumentInfo]:
        """The booking's documents, oldest first, rejected ones with their reason."""
        with read_session(self._sessions) as session:
            found = session.scalars(
                select(BookingDocument)
                .where(BookingDocument.booking_id == booking_id)
                .order_by(BookingDocument.created_at, BookingDocument.id)
            )
            return [DocumentInfo.of(document) for document in found]

    def clean(self, booking_id: int, document_id: int) -> DocumentInfo:
        """A document that may be opened; `DocumentNotAvailable` while pending or rejected."""
        with read_session(self._sessions) as session:
            info = DocumentInfo.of(self._document(session, booking_id, document_id))
        if info.status != DocumentStatus.CLEAN:
            raise DocumentNotAvailable(field="document", status=info.status)
        return info

    def content(self, booking_id: int, document_id: int) -> tuple[DocumentInfo, bytes]:
        """A clean document and its (checked) bytes; `DocumentNotAvailable` for any other."""
        with read_session(self._sessions) as session:
            document = self._document(session, booking_id, document_id)
            info = DocumentInfo.of(document)
            blob_id = document.blob_id
        if info.status != DocumentStatus.CLEAN:
            raise DocumentNotAvailable(field="document", status=info.status)
        try:
            return info, self._store.get(blob_id)
        except BlobNotFound:  # deleted since, by the citizen or the purge
            raise DocumentNotFound(field="document") from None

    def delete(self, booking_id: int, document_id: int) -> None:
        """The citizen takes a document back, until the appointment begins: record and bytes."""
        with write_session(self._sessions) as session:
            booking = self._booking(session, booking_id, lock=True)
            if booking.status in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW) or (
                booking.start_at <= self._clock()
            ):
                raise BookingInPast("documents can no longer be deleted", field="document")
            document = self._document(session, booking_id, document_id)
            blob_id = document.blob_id
            session.delete(document)
        self._discard(blob_id)

    # Staff ---------------------------------------------------------------------------------

    def mark_checked(self, staff_id: int, booking_id: int, document_id: int) -> DocumentInfo:
        """The advisor has looked at the (clean) document; marking again keeps the first."""
        with write_session(self._sessions) as session:
            document = self._document(session, booking_id, document_id)
            if document.status != DocumentStatus.CLEAN:
                raise DocumentNotAvailable(field="document", status=document.status)
            if document.checked_at is None:
                document.checked_by_id = staff_id
                document.checked_at = self._clock()
            session.flush()
            return DocumentInfo.of(document)

    def findings(self, booking_id: int) -> list[ScanFinding]:
        """For staff and the audit: every document with what clamd found and how often the
        scan was tried."""
        with read_session(self._sessions) as session:
            found = session.scalars(
                select(BookingDocument)
                .where(BookingDocument.booking_id == booking_id)
                .order_by(BookingDocument.created_at, BookingDocument.id)
            )
            return [ScanFinding(DocumentInfo.of(d), d.signature, d.scan_attempts) for d in found]

    # The scan worker -----------------------------------------------------------------------

    def scan_pending(self, limit: int = 50) -> ScanResult:
        """Scan up to `limit` pending documents, oldest first. Fail closed: without a scanner,
        or when clamd gives no verdict, documents stay pending (the round stops there and the
        worker tries again later). Several workers may run at once: a verdict is written only
        while the document is still pending, so one that was deleted meanwhile stays gone."""
        with read_session(self._sessions) as session:
            queue = session.execute(
                select(BookingDocument.id, BookingDocument.blob_id)
                .where(BookingDocument.status == DocumentStatus.PENDING)
                .order_by(BookingDocument.created_at, BookingDocument.id)
                .limit(limit)
            ).all()
        if self._scanner is None:
            if queue:
                log.warning("%s documents wait, but no virus scanner is configured", len(queue))
            return ScanResult(unavailable=bool(queue))
        clean = rejected = examined = 0
        for document_id, blob_id in queue:
            examined += 1
            try:
                data = self._store.get(blob_id)
            except BlobNotFound:
                rejected += self._reject(document_id, blob_id, MISSING, None)
                continue
            except DocumentCorrupt:
                log.exception("document %s does not decrypt", document_id)
                rejected += self._reject(document_id, blob_id, CORRUPT, None)
                continue
            except DocumentError:  # a key not configured: the operator's to fix, keep it
                log.exception("document %s cannot be read; it stays pending", document_id)
                self._count_attempt(document_id)
                continue
            try:
                verdict = self._scanner.scan(data)
            except ScannerUnavailable as error:
                log.warning("virus scanner unavailable, documents stay pending: %s", error)
                self._count_attempt(document_id)
                return ScanResult(examined, clean, rejected, unavailable=True)
            if verdict.is_clean:
                clean += self._settle(document_id, status=DocumentStatus.CLEAN)
            else:
                log.warning("document %s rejected: %s", document_id, verdict.signature)
                rejected += self._reject(document_id, blob_id, INFECTED, verdict.signature)
        return ScanResult(examined, clean, rejected, more=len(queue) == limit)

    # The operator ---------------------------------------------------------------------------

    def rewrap_all(self) -> int:
        """After a key rotation: every document's data key wrapped with the current key; how
        many were rewritten (`EncryptedStore.rewrap_all`)."""
        return self._store.rewrap_all()

    def sweep_store(self) -> int:
        """Remove temporary files of writes a killed process left (the daily purge)."""
        return self._store.sweep()

    # Inside --------------------------------------------------------------------------------

    def _admit(
        self,
        session: Session,
        booking_id: int,
        size: int,
        *,
        lock: bool,
        requirement_id: int | None = None,
    ) -> None:
        """Refuse a hand-in the booking does not allow now: its state, its quota, a named
        document of another service."""
        booking = self._booking(session, booking_id, lock=lock)
        if requirement_id is not None:
            named = session.get(ServiceDocument, requirement_id)
            if named is None or named.service_id != booking.service_id:
                raise RequirementUnknown(field="requirement")
        if booking.status == BookingStatus.HELD:
            raise BookingNotConfirmed(field="booking")
        if booking.status == BookingStatus.CANCELLED:
            raise BookingCancelled(field="booking")
        # During the appointment too: a missing paper is photographed in the video call.
        if booking.status != BookingStatus.CONFIRMED or booking.end_at <= self._clock():
            raise BookingInPast("the appointment is over", field="booking")
        count, total = session.execute(
            select(
                func.count(BookingDocument.id),
                func.coalesce(
                    func.sum(BookingDocument.size).filter(
                        BookingDocument.status != DocumentStatus.REJECTED
                    ),
                    0,
                ),
            ).where(BookingDocument.booking_id == booking_id)
        ).one()
        if count >= self.limits.max_files:
            raise TooManyFiles(field="file", maximum=self.limits.max_files)
        if total + size > self.limits.max_total_bytes:
            raise QuotaExceeded(field="file", maximum=self.limits.max_total_bytes)

    @staticmethod
    def _booking(
        session: Session, booking_id: int, *, lock: bool
    ) -> Row[str, datetime, datetime, int]:
        query = select(Booking.status, Booking.start_at, Booking.end_at, Booking.service_id).where(
            Booking.id == booking_id
        )
        if lock:
            # PostgreSQL: hand-ins and deletes of one booking take turns, so that the quota
            # counted is the quota kept. SQLite ignores it: its writer lock is held already.
            query = query.with_for_update()
        booking = session.execute(query).one_or_none()
        if booking is None:
            raise NotFound("unknown booking", field="booking")
        return booking

    @staticmethod
    def _document(session: Session, booking_id: int, document_id: int) -> BookingDocument:
        document = session.get(BookingDocument, document_id)
        if document is None or document.booking_id != booking_id:
            raise DocumentNotFound(field="document")
        return document

    def _settle(self, document_id: int, **values: object) -> int:
        """Write a verdict if the document is still pending; 1 if it was, else 0."""
        statement = (
            update(BookingDocument)
            .where(
                BookingDocument.id == document_id,
                BookingDocument.status == DocumentStatus.PENDING,
            )
            .values(
                scan_attempts=BookingDocument.scan_attempts + 1,
                scanned_at=self._clock(),
                **values,
            )
        )
        with write_session(self._sessions) as session:
            result = session.connection().execute(statement)
            return 1 if result.rowcount == 1 else 0

    def _reject(self, document_id: int, blob_id: str, reason: str, signature: str | None) -> int:
        settled = self._settle(
            document_id, status=DocumentStatus.REJECTED, reason=reason, signature=signature
        )
        if settled:
            self._discard(blob_id)  # nobody may ever open it; the record says why
        return settled

    def _count_attempt(self, document_id: int) -> None:
        statement = (
            update(BookingDocument)
            .where(
                BookingDocument.id == document_id,
                BookingDocument.status == DocumentStatus.PENDING,
            )
            .values(scan_attempts=BookingDocument.scan_attempts + 1)
        )
        with write_session(self._sessions) as session:
            session.connection().execute(statement)

    def _discard(self, blob_id: str) -> None:
        discard(self._store, blob_id)
