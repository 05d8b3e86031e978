"""Erasing documents, records and bytes: for the retention purge (`documents.retention`) and
for a citizen's erasure. Records go first, in one transaction that adds them to the counts
statistics keep (`documents.tally`); then the bytes. A crash in between leaves a blob without
a record, which `orphan_blobs` lists (ciphertext nobody points to), never a record without its
bytes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from documents.models import BookingDocument, DocumentStatus
from documents.storage import EncryptedStore
from documents.tally import add_to_tallies
from scheduler.db import read_session, write_session
from scheduler.models import Booking

log = logging.getLogger(__name__)


def discard(store: EncryptedStore, blob_id: str) -> None:
    """Delete a blob; a failure is logged, not raised: the blob is then an orphan
    (`orphan_blobs`), which is safe (ciphertext, no record points to it)."""
    try:
        store.delete(blob_id)
    except Exception:
        log.exception("could not delete document blob %s; it is left as an orphan", blob_id)


class DocumentErasure:
    def __init__(self, sessions: sessionmaker[Session], store: EncryptedStore) -> None:
        self._sessions = sessions
        self._store = store

    def erase_for_bookings(self, booking_ids: Iterable[int]) -> int:
        """Delete the documents of these bookings, records and bytes, keeping their counts
        (`documents.tally`); the number of records. Call it outside any transaction: the
        database store writes in its own. Processes erasing at once share out the records."""
        ids = list(booking_ids)
        if not ids:
            return 0
        with write_session(self._sessions) as session:
            found = session.execute(
                select(BookingDocument.id, BookingDocument.blob_id, BookingDocument.status)
                .add_columns(Booking.service_id, Booking.start_at)
                .join(Booking, Booking.id == BookingDocument.booking_id)
                .where(BookingDocument.booking_id.in_(ids))
                .with_for_update(skip_locked=True, of=BookingDocument)
            ).all()
            add_to_tallies(session, ((row[3], row[4], row[2]) for row in found))
            session.execute(
                delete(BookingDocument).where(BookingDocument.id.in_([row[0] for row in found])),
                execution_options={"synchronize_session": False},
            )
        for row in found:
            discard(self._store, row[1])
        return len(found)

    def bookings_due(self, cutoff: datetime, limit: int) -> list[int]:
        """Bookings with documents whose appointment ended, or which were cancelled, before
        `cutoff`: the documents' own retention has passed."""
        with read_session(self._sessions) as session:
            return list(
                session.scalars(
                    select(BookingDocument.booking_id)
                    .join(Booking, Booking.id == BookingDocument.booking_id)
                    .where(_over(cutoff))
                    .distinct()
                    .order_by(BookingDocument.booking_id)
                    .limit(limit)
                )
            )

    def count_due(self, cutoff: datetime) -> int:
        """The documents `bookings_due` would hand to `erase_for_bookings`, all of them."""
        with read_session(self._sessions) as session:
            return (
                session.scalar(
                    select(func.count(BookingDocument.id))
                    .join(Booking, Booking.id == BookingDocument.booking_id)
                    .where(_over(cutoff))
                )
                or 0
            )

    def orphan_blobs(self) -> list[str]:
        """Blob ids in the store without a document that holds them: left by a crash between
        the two steps of a write or a delete (the purge's proof that nothing is left). A blob
        of a hand-in still in progress shows here for that moment too: sweep only blobs seen
        twice, some time apart."""
        with read_session(self._sessions) as session:
            held = set(
                session.scalars(
                    select(BookingDocument.blob_id).where(
                        BookingDocument.status != DocumentStatus.REJECTED
                    )
                )
            )
        return [blob_id for blob_id in self._store.ids() if blob_id not in held]


def _over(cutoff: datetime) -> ColumnElement[bool]:
    return or_(
        Booking.end_at <= cutoff,
        and_(Booking.cancelled_at.is_not(None), Booking.cancelled_at <= cutoff),
    )
