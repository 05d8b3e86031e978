"""The staff's documents API: a booking's documents with what the scan found, the file, and
"checked" (documents/staff.py: the booking's advisor and administrators; every download and
check audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from documents.desk import ScanFinding
from web.deps import Actor, Services
from web.document_files import MEDIA_TYPES, PRIVATE, download_name

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
Reference = Annotated[str, Path(min_length=1, max_length=16)]
DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class StaffDocumentOut(BaseModel):
    id: int
    name: str
    label: str
    status: str
    size: int
    kind: str
    pages: int
    reason: str | None
    signature: str | None  # what clamd found in a rejected document
    scan_attempts: int
    requirement_id: int | None
    created_at: datetime
    checked_at: datetime | None
    checked_by_id: int | None

    @classmethod
    def of(cls, finding: ScanFinding) -> StaffDocumentOut:
        info = finding.document
        return cls(
            id=info.id,
            name=info.name,
            label=info.label,
            status=info.status,
            size=info.size,
            kind=info.kind,
            pages=info.pages,
            reason=info.reason,
            signature=finding.signature,
            scan_attempts=finding.scan_attempts,
            requirement_id=info.requirement_id,
            created_at=info.created_at,
            checked_at=info.checked_at,
            checked_by_id=info.checked_by_id,
        )


@router.get(
    "/bookings/{reference}/documents",
    response_model=list[StaffDocumentOut],
    summary="A booking's documents",
)
def list_documents(
    reference: Reference, actor: Actor, services: Services
) -> list[StaffDocumentOut]:
    return [StaffDocumentOut.of(f) for f in services.staff_documents.findings(actor, reference)]


@router.get(
    "/bookings/{reference}/documents/{document_id}/file",
    response_class=Response,
    summary="Download a clean document (audited)",
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
)
def download(
    reference: Reference, document_id: DocumentId, actor: Actor, services: Services
) -> Response:
    info, data = services.staff_documents.download(actor, reference, document_id)
    headers = PRIVATE | {"Content-Disposition": download_name(info)}
    return Response(data, media_type=MEDIA_TYPES[info.kind], headers=headers)


@router.post(
    "/bookings/{reference}/documents/{document_id}/checked",
    response_model=StaffDocumentOut,
    summary="Mark a document as checked (audited)",
)
def mark_checked(
    reference: Reference, document_id: DocumentId, actor: Actor, services: Services
) -> StaffDocumentOut:
    staff_documents = services.staff_documents
    staff_documents.mark_checked(actor, reference, document_id)
    finding = next(
        f for f in staff_documents.findings(actor, reference) if f.document.id == document_id
    )
    return StaffDocumentOut.of(finding)
