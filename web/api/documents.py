"""The citizens' documents API (public contract v1.1): with the booking's magic-link token as
`Authorization: Bearer`, hand in a file, list what was handed in, take one back until the
appointment begins. The checks, the scan and the storage are the documents package's
(docs/documents.md); refusals are answered by web/errors.py (413, 415, 422, 409)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile
from pydantic import BaseModel

from documents.desk import DocumentInfo
from web.deps import Services, Token
from web.document_uploads import hand_in

router = APIRouter(prefix="/api/v1", tags=["documents"])
# Ids beyond a PostgreSQL integer are unknown ids, not a database error.
DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class DocumentOut(BaseModel):
    id: int
    name: str  # the cleaned file name, never a path
    label: str
    status: str  # "pending" (being checked), "clean" or "rejected"
    size: int
    kind: str  # "pdf", "jpeg" or "png", decided by the content
    pages: int
    reason: str | None  # why it was rejected: "infected", "missing" or "corrupt"
    requirement_id: int | None  # which of the documents the service names it is
    created_at: datetime
    checked: bool  # the advisor has looked at it

    @classmethod
    def of(cls, info: DocumentInfo) -> DocumentOut:
        return cls(
            id=info.id,
            name=info.name,
            label=info.label,
            status=info.status,
            size=info.size,
            kind=info.kind,
            pages=info.pages,
            reason=info.reason,
            requirement_id=info.requirement_id,
            created_at=info.created_at,
            checked=info.checked_at is not None,
        )


@router.post(
    "/booking/documents",
    status_code=202,
    response_model=DocumentOut,
    summary="Hand in a document for the appointment",
    description="A PDF, JPEG, PNG or HEIC photo, decided by its content. It is stored and "
    "answered as `pending`; the virus scan makes it `clean` (or `rejected`) shortly after. "
    "Until the appointment ends.",
    responses={
        409: {"description": "Booking cancelled or over, too many files, quota exceeded"},
        413: {"description": "The file is too large"},
        415: {"description": "Not a PDF, JPEG, PNG or HEIC photo"},
        422: {"description": "Refused by the content checks (e.g. a PDF with scripts)"},
    },
)
def hand_in_document(
    token: Token,
    services: Services,
    file: Annotated[UploadFile, File(description="The document")],
    label: Annotated[str, Form(max_length=1000)] = "",
    requirement_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> DocumentOut:
    booking = services.scheduler.booking_for_token(token)
    try:
        return DocumentOut.of(hand_in(services, booking.id, file, label, requirement_id))
    finally:
        file.file.close()


@router.get(
    "/booking/documents",
    response_model=list[DocumentOut],
    summary="The documents handed in for the appointment",
)
def list_documents(token: Token, services: Services) -> list[DocumentOut]:
    booking = services.scheduler.booking_for_token(token)
    return [DocumentOut.of(info) for info in services.documents.documents(booking.id)]


@router.delete(
    "/booking/documents/{document_id}",
    status_code=204,
    response_class=Response,
    summary="Take a document back",
    description="Until the appointment begins (409 afterwards).",
)
def delete_document(document_id: DocumentId, token: Token, services: Services) -> Response:
    booking = services.scheduler.booking_for_token(token)
    services.documents.delete(booking.id, document_id)
    services.page_images.forget(document_id)
    return Response(status_code=204)
