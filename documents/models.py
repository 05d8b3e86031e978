"""The tables of the documents: the database store's encrypted blobs (`documents.crypto`, never a
file) and the documents handed in for a booking (`documents.desk`)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

import scheduler.models  # noqa: F401 - the tables our foreign keys name
from scheduler.db import Base, UTCDateTime, utcnow

BLOB_ID_LENGTH = 32
LABEL_MAX_CHARS = 100


class DocumentBlob(Base):
    __tablename__ = "document_blobs"

    id: Mapped[str] = mapped_column(String(BLOB_ID_LENGTH), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class DocumentStatus(enum.StrEnum):
    PENDING = "pending"  # stored, waiting for clamd's verdict: nobody may open it yet
    CLEAN = "clean"
    REJECTED = "rejected"  # infected (its blob deleted at once); `reason` says why


class BookingDocument(Base):
    """A document a citizen handed in for a booking (documents/desk.py). The bytes are the
    blob `blob_id` of the encrypted store; a rejected document keeps its record (the citizen
    sees why) but not its blob."""

    __tablename__ = "booking_documents"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'clean', 'rejected')", name="status_known"),
        # The scan worker's queue: the pending documents, oldest first.
        Index("ix_booking_documents_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    blob_id: Mapped[str] = mapped_column(String(BLOB_ID_LENGTH), unique=True)
    # The cleaned display name (`documents.checks.clean_name`), never a path.
    name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(LABEL_MAX_CHARS), default="")
    kind: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(Integer)  # of the checked file, not of the ciphertext
    pages: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(40))
    # The name of what clamd found: for staff and the audit, never shown to the citizen.
    signature: Mapped[str | None] = mapped_column(String(200))
    scan_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
