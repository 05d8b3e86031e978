"""Video rooms over HTTP: room tickets in exchange for a join link or a staff session, rooms of
bookings, ad-hoc rooms, and the invitations for extra guests.

A page joins a room by asking here for a ticket and sending it as the first message on
`/ws/signaling` (see docs/signaling.md); links and staff tokens never reach the WebSocket.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Body, Path

from rooms.access import InviteLink, RoomInfo, Ticket
from signaling.protocol import CloseCode
from web.deps import Actor, Services, SignalingHub, Token
from web.presenters import local
from web.schemas import (
    AdhocRoomIn,
    AdhocRoomOut,
    InviteIn,
    InviteOut,
    ParticipantOut,
    RoomOut,
    TicketIn,
    TicketOut,
)

router = APIRouter(prefix="/api/v1", tags=["rooms"])
RoomId = Annotated[str, Path(min_length=1, max_length=32)]
Reference = Annotated[str, Path(min_length=1, max_length=16)]


def _room_out(services: Services, room: RoomInfo) -> RoomOut:
    tz = services.scheduler.tz
    return RoomOut(
        id=room.id,
        title=room.title,
        booking_reference=room.booking_reference,
        opens_at=local(room.opens_at, tz),
        closes_at=local(room.closes_at, tz),
        ended=room.ended,
    )


def _invite_out(services: Services, invite: InviteLink) -> InviteOut:
    return InviteOut(
        id=invite.id,
        room_id=invite.room_id,
        role=invite.role.value,
        label=invite.label,
        url=services.links.join_url(invite.token),
        revoked=invite.revoked,
    )


def _ticket_out(services: Services, ticket: Ticket) -> TicketOut:
    base = services.settings.base_url
    scheme = "wss" if base.startswith("https://") else "ws"
    return TicketOut(
        ticket=ticket.token,
        expires_at=local(ticket.holder.expires_at, services.scheduler.tz),
        signaling_url=f"{scheme}://{base.split('://', 1)[1]}/ws/signaling",
        room=_room_out(services, ticket.room),
        participant=ParticipantOut(
            id=ticket.holder.participant_id,
            role=ticket.holder.role.value,
            name=ticket.holder.name,
        ),
    )


@router.post(
    "/room-tickets",
    response_model=TicketOut,
    status_code=201,
    responses={
        401: {"description": "a missing, expired, revoked or forged join link"},
        409: {"description": "the room is not open yet, or closed"},
    },
)
def ticket_for_link(
    token: Token, services: Services, body: Annotated[TicketIn | None, Body()] = None
) -> TicketOut:
    """A guest's ticket, for the join link (`/j/{token}`) as bearer token: the citizen's link
    of a video booking, their manage link, or an invitation."""
    name = body.name if body else None
    return _ticket_out(services, services.rooms.link_ticket(token, name))


@router.post("/rooms/{room_id}/tickets", response_model=TicketOut, status_code=201)
def ticket_for_staff(room_id: RoomId, actor: Actor, services: Services) -> TicketOut:
    """A host's ticket: the booked advisor, a colleague of the same team, or the staff member
    who opened the ad-hoc room."""
    return _ticket_out(services, services.rooms.staff_ticket(actor, room_id))


@router.post("/bookings/{reference}/room", response_model=RoomOut)
def booking_room(reference: Reference, actor: Actor, services: Services) -> RoomOut:
    return _room_out(services, services.rooms.booking_room(actor, reference))


@router.post("/rooms", response_model=AdhocRoomOut, status_code=201)
def open_adhoc_room(
    actor: Actor, services: Services, body: Annotated[AdhocRoomIn | None, Body()] = None
) -> AdhocRoomOut:
    """A room open from now on, with the guest link to send during a hotline call."""
    room, guest = services.rooms.open_adhoc(actor, body.title if body else "")
    return AdhocRoomOut(room=_room_out(services, room), guest=_invite_out(services, guest))


@router.post("/rooms/{room_id}/invites", response_model=InviteOut, status_code=201)
def invite(room_id: RoomId, body: InviteIn, actor: Actor, services: Services) -> InviteOut:
    """A separate, revocable link for an extra guest such as an interpreter or a carer."""
    return _invite_out(services, services.rooms.invite(actor, room_id, body.label))


@router.get("/rooms/{room_id}/invites", response_model=list[InviteOut])
def list_invites(room_id: RoomId, actor: Actor, services: Services) -> list[InviteOut]:
    return [_invite_out(services, i) for i in services.rooms.invites(actor, room_id)]


@router.delete("/rooms/{room_id}/invites/{invite_id}", response_model=InviteOut)
async def revoke_invite(
    room_id: RoomId,
    invite_id: Annotated[int, Path(ge=1, le=2**62)],
    actor: Actor,
    services: Services,
    hub: SignalingHub,
) -> InviteOut:
    """Revoke an invitation; its holder, if in the room, is sent out at once."""
    invite = await anyio.to_thread.run_sync(services.rooms.revoke_invite, actor, room_id, invite_id)
    await hub.expel(room_id, f"invite-{invite.id}", CloseCode.TICKET_REVOKED)
    return _invite_out(services, invite)
