"""The tables of the documents: the database store's encrypted blobs (`documents.crypto`, never a
file), the documents a service names, the documents handed in for a booking (`documents.desk`)
and the counts that outlive them (`document_tallies`)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String
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


class ServiceDocument(Base):
    """A document a service usually needs ("last notice", "proof of income"): the manage page
    and the reminder list those of a booking still missing, and the citizen picks one as the
    label of an upload. German `name`; `name_en` None or "" shows the German one."""

    __tablename__ = "service_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(LABEL_MAX_CHARS))
    name_en: Mapped[str | None] = mapped_column(String(LABEL_MAX_CHARS))


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
    # Which of the service's named documents this is, if the citizen said so.
    requirement_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_documents.id", ondelete="SET NULL")
    )
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


class DocumentTally(Base):
    """What statistics keep of erased documents: how many, per service, week of the
    appointment (its Monday, UTC) and final status. Nothing about a person."""

    __tablename__ = "document_tallies"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
