"""The documents panel of a booking's video room: the booking's documents as JSON, their pages
as PNG images rendered here, and the citizen's hand-in from inside the room.

Who may: the citizen of the booking, as the room page knows them (the join or manage link in
the link cookie), and the staff who may see the booking's documents (its advisor and admins,
`documents.staff.StaffDocuments`), from the host's room page. Interpreters and other extra
guests may not: an invitation lets someone into the call, not into the citizen's papers. And
only while the room is open, as for a room ticket (`rooms.access`): outside its window, the
documents are on the manage page and the staff's booking page.

Every answer is JSON or an image, errors included, because only the panel's script calls
these endpoints. A staff member's page image is audited (`StaffDocuments.view`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from documents.checks import Refused
from documents.desk import DocumentInfo
from rooms.access import RoomRole, Ticket
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session
from scheduler.errors import NotFound, PermissionDenied, SchedulerError, TokenInvalid
from scheduler.models import Booking
from web.deps import Services, container
from web.document_uploads import hand_in
from web.errors import REFUSAL_STATUS, local_times, message, status_of
from web.pages.security import check_csrf, link_token
from web.pages.session import optional_staff

router = APIRouter(include_in_schema=False)

RoomId = Annotated[str, Path(min_length=1, max_length=32)]
DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PageNumber = Annotated[int, Path(ge=1, le=10_000)]
# The panel's width in device pixels; `PageImages` snaps it to a few cached sizes.
Width = Annotated[int, Query(alias="breite", ge=100, le=4000)]
# `X-Content-Type-Options: nosniff` comes with every answer (web/app.py).
IMAGE_HEADERS = {"Cache-Control": "no-store"}


def _error(request: Request, exc: SchedulerError | Refused) -> JSONResponse:
    if isinstance(exc, Refused):
        status = REFUSAL_STATUS.get(exc.code, 422)
        return JSONResponse({"code": exc.code, "detail": message(request, exc.code)}, status)
    params, times = local_times(request, exc.params)
    body = {"code": exc.code, "detail": message(request, exc.code, **params), **times}
    return JSONResponse(body, status_code=status_of(exc), headers=IMAGE_HEADERS)


def _public(info: DocumentInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "label": info.label,
        "name": info.name,
        "status": info.status,
        "pages": info.pages,
        "kind": info.kind,
    }


def _booking_of(request: Request, ticket: Ticket) -> int:
    """The booking of the room a ticket is for; ad-hoc rooms have no documents."""
    reference = ticket.room.booking_reference
    if reference is None:
        raise NotFound("no documents in a room without a booking")
    with read_session(container(request).sessions) as session:
        booking_id = session.scalar(select(Booking.id).where(Booking.reference == reference))
    if booking_id is None:
        raise NotFound("unknown booking")
    return int(booking_id)


def _citizen_booking(request: Request, services: Services) -> int:
    """The booking of the citizen whose link is in this browser, while its room is open."""
    token = link_token(request)
    if token is None:
        raise TokenInvalid("no join link in this browser")
    ticket = services.rooms.link_ticket(token)
    if ticket.holder.role is not RoomRole.GUEST:
        raise PermissionDenied("only the citizen of the booking sees its documents")
    return _booking_of(request, ticket)


def _staff_booking(
    request: Request, services: Services, room_id: str
) -> tuple[StaffIdentity, str, int]:
    """The staff member, the booking's reference and id, if the room is open and its
    booking's documents are theirs to see."""
    staff = optional_staff(request)
    if staff is None:
        raise TokenInvalid("not logged in")
    reference = services.rooms.staff_ticket(staff, room_id).room.booking_reference
    if reference is None:
        raise NotFound("no documents in a room without a booking")
    return staff, reference, container(request).staff_documents.booking_id(staff, reference)


def _png(image: bytes) -> Response:
    return Response(image, media_type="image/png", headers=IMAGE_HEADERS)


# -- the citizen -----------------------------------------------------------------------------


@router.get("/raum/unterlagen")
def citizen_documents(request: Request, services: Services) -> Response:
    try:
        booking_id = _citizen_booking(request, services)
        found = container(request).documents.documents(booking_id)
    except SchedulerError as exc:
        return _error(request, exc)
    return JSONResponse({"documents": [_public(info) for info in found]}, headers=IMAGE_HEADERS)


@router.get("/raum/unterlagen/{document_id}/seiten/{page}.png")
def citizen_page(
    request: Request, services: Services, document_id: DocumentId, page: PageNumber, width: Width
) -> Response:
    try:
        booking_id = _citizen_booking(request, services)
        image = container(request).page_images.page(booking_id, document_id, page, width)
    except SchedulerError as exc:
        return _error(request, exc)
    return _png(image)


@router.post("/raum/unterlagen")
def citizen_hand_in(
    request: Request,
    services: Services,
    file: Annotated[UploadFile, File()],
    label: Annotated[str, Form()] = "",
) -> Response:
    """A missing document, photographed or chosen in the room; pending until scanned (the
    panel polls the list)."""
    try:
        check_csrf(request)
        booking_id = _citizen_booking(request, services)
        info = hand_in(container(request), booking_id, file, label)
    except (SchedulerError, Refused) as exc:
        return _error(request, exc)
    return JSONResponse({"document": _public(info)}, status_code=201)


# -- staff -----------------------------------------------------------------------------------


@router.get("/staff/raeume/{room_id}/unterlagen")
def staff_room_documents(request: Request, services: Services, room_id: RoomId) -> Response:
    try:
        _, _, booking_id = _staff_booking(request, services, room_id)
        found = container(request).documents.documents(booking_id)
    except SchedulerError as exc:
        return _error(request, exc)
    return JSONResponse({"documents": [_public(info) for info in found]}, headers=IMAGE_HEADERS)


@router.get("/staff/raeume/{room_id}/unterlagen/{document_id}/seiten/{page}.png")
def staff_room_page(
    request: Request,
    services: Services,
    room_id: RoomId,
    document_id: DocumentId,
    page: PageNumber,
    width: Width,
) -> Response:
    try:
        staff, reference, booking_id = _staff_booking(request, services, room_id)
        # Audited, once per half hour and document: turning pages writes no entry each.
        container(request).staff_documents.view(staff, reference, document_id)
        image = container(request).page_images.page(booking_id, document_id, page, width)
    except SchedulerError as exc:
        return _error(request, exc)
    return _png(image)
