"""Pages: the staff's view of a booking's documents (documents/staff.py): a viewer that shows
one page at a time as an image rendered on our server, the download, and "mark as checked".
The booking's advisor and administrators only; every view and download is audited there.
The list is part of the booking's page (web/pages/staff_bookings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from documents.desk import DocumentInfo
from documents.requirements import Requirements
from documents.staff import DOCUMENT_ROLES, DocumentCounts
from scheduler.accounts import StaffIdentity
from scheduler.views import BookingInfo
from web.deps import Services, container, pages
from web.document_files import MEDIA_TYPES, PRIVATE, download_name
from web.document_images import WIDTHS
from web.pages.documents_section import file_size
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import MAX_ID, render, see_other

router = APIRouter(include_in_schema=False)

Reference = Annotated[str, Path(min_length=1, max_length=16)]
DocumentId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, Path(ge=1, le=10_000)]


@dataclass(frozen=True, slots=True)
class StaffDocument:
    """A line of the booking page's documents section."""

    info: DocumentInfo
    size: str
    signature: str | None  # what clamd found in a rejected one


@dataclass(frozen=True, slots=True)
class DocumentsPart:
    counts: DocumentCounts
    # None for a role that sees only how many there are (the hotline).
    documents: list[StaffDocument] | None
    missing: list[str]  # the named documents still missing, in the page's language


def documents_of(request: Request, staff: StaffIdentity, booking: BookingInfo) -> DocumentsPart:
    """The documents section of a booking's page, as far as `staff` may see it."""
    services = container(request)
    language = pages(request).language(request)
    counts = services.staff_documents.counts([booking.id]).get(booking.id, DocumentCounts())
    missing = [
        named.display_name(language)
        for named in Requirements(services.sessions).missing(booking.id)
    ]
    if staff.role not in DOCUMENT_ROLES:
        return DocumentsPart(counts, None, missing)
    found = services.staff_documents.findings(staff, booking.reference)
    documents = [
        StaffDocument(f.document, file_size(f.document.size, language), f.signature) for f in found
    ]
    return DocumentsPart(counts, documents, missing)


def viewer_url(reference: str, document_id: int, page: int = 1) -> str:
    return f"/staff/buchungen/{reference}/unterlagen/{document_id}?seite={page}"


@router.get("/staff/buchungen/{reference}/unterlagen/{document_id}")
def viewer(
    request: Request,
    reference: Reference,
    document_id: DocumentId,
    staff: StaffPage,
    services: Services,
    seite: Annotated[int, Query(ge=1, le=10_000)] = 1,
    geprueft: bool = False,
) -> HTMLResponse:
    info = services.staff_documents.view(staff, reference, document_id)
    page = min(seite, info.pages)
    return render(
        request,
        staff,
        "staff/document_view.html",
        section="/staff/agenda",
        reference=reference.upper(),
        document=info,
        page=page,
        widths=WIDTHS,
        marked=geprueft,
        size=file_size(info.size, pages(request).language(request)),
    )


@router.get("/staff/buchungen/{reference}/unterlagen/{document_id}/seiten/{page}.png")
def page_image(
    reference: Reference,
    document_id: DocumentId,
    page: PageNumber,
    staff: StaffPage,
    services: Services,
    breite: Annotated[int, Query(ge=100, le=WIDTHS[-1])] = 1200,
) -> Response:
    services.staff_documents.view(staff, reference, document_id)
    booking_id = services.staff_documents.booking_id(staff, reference)
    image = services.page_images.page(booking_id, document_id, page, breite)
    return Response(image, media_type="image/png", headers=PRIVATE)


@router.get("/staff/buchungen/{reference}/unterlagen/{document_id}/datei")
def download(
    reference: Reference, document_id: DocumentId, staff: StaffPage, services: Services
) -> Response:
    info, data = services.staff_documents.download(staff, reference, document_id)
    headers = PRIVATE | {"Content-Disposition": download_name(info)}
    return Response(data, media_type=MEDIA_TYPES[info.kind], headers=headers)


@router.post(
    "/staff/buchungen/{reference}/unterlagen/{document_id}/geprueft",
    dependencies=[Depends(verified_form)],
)
def mark_checked(
    reference: Reference, document_id: DocumentId, staff: StaffPage, services: Services
) -> RedirectResponse:
    services.staff_documents.mark_checked(staff, reference, document_id)
    return see_other(viewer_url(reference.upper(), document_id) + "&geprueft=1")
