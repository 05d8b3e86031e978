"""The table of the database store: encrypted blobs only (`documents.crypto`), never a file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow

BLOB_ID_LENGTH = 32


class DocumentBlob(Base):
    __tablename__ = "document_blobs"

    id: Mapped[str] = mapped_column(String(BLOB_ID_LENGTH), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
