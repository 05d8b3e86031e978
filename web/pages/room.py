"""Pages: the video room for citizens, extra guests and staff hosts, and the connection test.

A join link (`/j/{token}`) is checked without side effects, moved into the link cookie, and the
browser goes on to `/raum`. The page's script then exchanges the cookie for a room ticket
(`POST /raum/ticket`, or `POST /staff/raeume/{id}/ticket` for hosts) and speaks the signaling
protocol of docs/signaling.md. The ticket endpoints answer JSON, errors included, because only
scripts call them.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from rooms.access import Ticket
from scheduler.accounts import StaffIdentity
from scheduler.errors import InvalidRequest, SchedulerError, TokenInvalid
from web.connection_test_access import holds_booking_link
from web.deps import Renderer, Services, container, pages
from web.errors import local_times, message, status_of
from web.pages.security import check_csrf, link_token, set_link_cookie
from web.pages.session import StaffPage, optional_staff
from web.schemas import InviteIn, TicketIn

router = APIRouter(include_in_schema=False)

LinkToken = Annotated[str, Path(min_length=1, max_length=4096)]
RoomId = Annotated[str, Path(min_length=1, max_length=32)]
Reference = Annotated[str, Path(min_length=1, max_length=16)]
SIGNALING_PATH = "/ws/signaling"
Body = TypeVar("Body", TicketIn, InviteIn)


def _config(request: Request, **extra: Any) -> dict[str, Any]:
    """What the room script needs to know, as the page's JSON data block."""
    return {
        "signalingPath": SIGNALING_PATH,
        "iceTransportPolicy": container(request).settings.ice_transport_policy,
        "language": pages(request).language(request),
        **extra,
    }


def _json_error(request: Request, exc: SchedulerError) -> JSONResponse:
    params, times = local_times(request, exc.params)
    body = {"code": exc.code, "detail": message(request, exc.code, **params), **times}
    return JSONResponse(body, status_code=status_of(exc))


def _ticket_json(request: Request, ticket: Ticket) -> JSONResponse:
    tz = container(request).scheduler.tz
    body = {
        "ticket": ticket.token,
        "expires_at": ticket.holder.expires_at.astimezone(tz).isoformat(),
        "room": {
            "id": ticket.room.id,
            "title": ticket.room.title,
            "closes_at": ticket.room.closes_at.astimezone(tz).isoformat(),
        },
        "participant": {
            "id": ticket.holder.participant_id,
            "role": ticket.holder.role.value,
            "name": ticket.holder.name,
        },
    }
    return JSONResponse(body, status_code=201)


async def _json_body(request: Request, model: type[Body]) -> Body:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise InvalidRequest(str(exc), code="validation_error") from None


# -- citizens and extra guests ---------------------------------------------------------------


@router.get("/j/{token}")
def join_link(token: LinkToken, renderer: Renderer, services: Services) -> Response:
    """Check the link (read only), keep it in the link cookie, go on to the room page."""
    services.rooms.link_window(token)
    response = RedirectResponse("/raum", status_code=303)
    set_link_cookie(response, token, secure=renderer.secure)
    return response


@router.get("/raum")
def guest_room(request: Request, renderer: Renderer, services: Services) -> Response:
    token = link_token(request)
    if token is None:
        raise TokenInvalid("no join link in this browser")
    link = services.rooms.link_window(token)
    now = services.scheduler.clock()
    return renderer.render(
        request,
        "room/room.html",
        host=False,
        closed=link.closed(now),
        opens_at=link.opens_at if now < link.opens_at else None,
        name=link.name,
        invites=[],
        config=_config(
            request,
            role="guest",
            ticketUrl="/raum/ticket",
            documentsUrl="/raum/unterlagen",
            uploadUrl="/raum/unterlagen",
        ),
    )


@router.post("/raum/ticket")
async def guest_ticket(request: Request, services: Services) -> JSONResponse:
    """A ticket for the link in the cookie; 409 `room_not_open` with `opens_at` before the
    room's window, so the page can say when and try again then."""
    try:
        check_csrf(request)
        token = link_token(request)
        if token is None:
            raise TokenInvalid("no join link in this browser")
        body = await _json_body(request, TicketIn)
        ticket = await anyio.to_thread.run_sync(
            services.rooms.link_ticket, token, body.name or None
        )
    except SchedulerError as exc:
        return _json_error(request, exc)
    return _ticket_json(request, ticket)


# -- staff hosts -----------------------------------------------------------------------------


def _invite_url(request: Request, token: str) -> str:
    return container(request).links.join_url(token)


@router.get("/staff/raeume/{room_id}")
def host_room(
    request: Request, room_id: RoomId, staff: StaffPage, renderer: Renderer, services: Services
) -> Response:
    # Reading the invitations checks that this room is the staff member's (403/404 otherwise).
    invites = services.rooms.invites(staff, room_id)
    return renderer.render(
        request,
        "room/room.html",
        host=True,
        closed=False,
        opens_at=None,
        name=staff.name,
        invites=[
            {"label": i.label, "url": _invite_url(request, i.token)}
            for i in invites
            if i.role.value == "extra_guest" and not i.revoked
        ],
        config=_config(
            request,
            role="host",
            ticketUrl=f"/staff/raeume/{room_id}/ticket",
            inviteUrl=f"/staff/raeume/{room_id}/einladungen",
            documentsUrl=f"/staff/raeume/{room_id}/unterlagen",
        ),
    )


def _staff_or_401(request: Request) -> StaffIdentity:
    staff = optional_staff(request)
    if staff is None:
        raise TokenInvalid("not logged in")
    return staff


@router.post("/staff/raeume/{room_id}/ticket")
async def host_ticket(request: Request, room_id: RoomId, services: Services) -> JSONResponse:
    try:
        check_csrf(request)
        staff = _staff_or_401(request)
        ticket = await anyio.to_thread.run_sync(services.rooms.staff_ticket, staff, room_id)
    except SchedulerError as exc:
        return _json_error(request, exc)
    return _ticket_json(request, ticket)


@router.post("/staff/raeume/{room_id}/einladungen")
async def invite(request: Request, room_id: RoomId, services: Services) -> Response:
    """A link for an interpreter or another extra guest: JSON for the page's script, or a
    plain form post that returns to the room page, which lists the links."""
    rooms = services.rooms
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            check_csrf(request)
            staff = _staff_or_401(request)
            body = await _json_body(request, InviteIn)
            link = await anyio.to_thread.run_sync(rooms.invite, staff, room_id, body.label)
        except SchedulerError as exc:
            return _json_error(request, exc)
        url = _invite_url(request, link.token)
        return JSONResponse({"id": link.id, "label": link.label, "url": url}, status_code=201)
    form = await request.form()
    check_csrf(request, form)
    staff = _staff_or_401(request)
    label = form.get("label")
    if not isinstance(label, str):
        label = ""
    await anyio.to_thread.run_sync(rooms.invite, staff, room_id, label)
    return RedirectResponse(f"/staff/raeume/{room_id}#invites", status_code=303)


@router.get("/staff/termine/{reference}/raum")
def booking_room(reference: Reference, staff: StaffPage, services: Services) -> Response:
    """The room of a booking, made on first use (the agenda's Join button links here)."""
    room = services.rooms.booking_room(staff, reference)
    return RedirectResponse(f"/staff/raeume/{room.id}", status_code=303)


# -- the connection test ---------------------------------------------------------------------


@router.get("/verbindungstest")
def connection_test(request: Request, renderer: Renderer, services: Services) -> Response:
    # Without a booking link the test needs a proof of work: the page brings the widget.
    return renderer.render(
        request,
        "room/connection_test.html",
        altcha=not holds_booking_link(request),
        config={
            "offerUrl": "/api/v1/connection-test",
            "hotline": services.settings.hotline_phone,
        },
    )
