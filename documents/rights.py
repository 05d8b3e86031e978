"""The documents' part of a citizen's export (scheduler/rights.py): what they handed in, as
listed; the files themselves are theirs to download through the documents endpoints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from documents.models import BookingDocument


def export_documents(session: Session, booking_id: int) -> tuple[str, list[dict[str, Any]]]:
    documents = session.scalars(
        select(BookingDocument)
        .where(BookingDocument.booking_id == booking_id)
        .order_by(BookingDocument.created_at, BookingDocument.id)
    )
    return "documents", [
        {
            "id": document.id,
            "name": document.name,
            "label": document.label,
            "kind": document.kind,
            "size": document.size,
            "pages": document.pages,
            "status": document.status,
            "reason": document.reason,
            "handed_in_at": document.created_at.isoformat(),
            "checked_at": document.checked_at.isoformat() if document.checked_at else None,
        }
        for document in documents
    ]
