"""What a join link leads to, read without changing anything.

Mail scanners open links before people do, so `/j/{token}` and the room page must not make the
booking's room or issue a ticket: they only read. `RoomAccess.link_ticket` (called when the page
actually joins) makes the room on first use. The rules here mirror its checks: a join or manage
link of a video booking at its current version, or an invitation that was not revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from rooms.models import Room, RoomInvite
from scheduler.db import read_session
from scheduler.errors import NotFound, TokenInvalid, TokenRevoked
from scheduler.models import Booking, BookingStatus, Channel
from scheduler.tokens import Audience
from web.container import Container


@dataclass(frozen=True, slots=True)
class LinkInfo:
    # The name the host sees unless the holder changes it.
    name: str
    opens_at: datetime
    closes_at: datetime
    ended: bool

    def closed(self, now: datetime) -> bool:
        return self.ended or now >= self.closes_at


def check_link(container: Container, token: str) -> LinkInfo:
    """The room behind a join link; raises TokenInvalid/TokenExpired/TokenRevoked or NotFound."""
    tokens = container.tokens
    for audience in (Audience.JOIN, Audience.MANAGE):
        try:
            claims = tokens.decode(token, audience)
        except TokenInvalid:
            continue
        return _booking_link(container, claims.subject, claims.version)
    claims = tokens.decode(token, Audience.INVITE)
    if not (claims.subject.isascii() and claims.subject.isdigit()):
        raise TokenInvalid("malformed invitation")
    return _invite_link(container, int(claims.subject))


def _booking_link(container: Container, reference: str, version: int) -> LinkInfo:
    config = container.rooms.config
    with read_session(container.sessions) as session:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        if booking is None:
            raise TokenInvalid("unknown booking")
        if booking.token_version != version:
            raise TokenRevoked()
        if booking.channel != Channel.VIDEO:
            raise NotFound("no video room for this booking", code="no_video_room")
        room = session.scalar(select(Room).where(Room.booking_id == booking.id))
        return LinkInfo(
            name=booking.name,
            opens_at=booking.start_at - config.opens_before,
            closes_at=booking.end_at + config.closes_after,
            ended=booking.status == BookingStatus.CANCELLED
            or (room is not None and room.ended_at is not None),
        )


def _invite_link(container: Container, invite_id: int) -> LinkInfo:
    with read_session(container.sessions) as session:
        invite = session.get(RoomInvite, invite_id) if invite_id < 2**62 else None
        if invite is None:
            raise TokenInvalid("unknown invitation")
        if invite.revoked_at is not None:
            raise TokenRevoked("invitation revoked")
        room = session.get(Room, invite.room_id)
        if room is None:
            raise TokenInvalid("unknown room")
        if room.booking_id is not None:
            booking = session.get(Booking, room.booking_id)
            if booking is None:
                raise TokenInvalid("unknown booking")
            config = container.rooms.config
            opens = booking.start_at - config.opens_before
            closes = booking.end_at + config.closes_after
            ended = booking.status == BookingStatus.CANCELLED
        else:
            if room.opens_at is None or room.closes_at is None:
                raise TokenInvalid("room without a window")
            opens, closes, ended = room.opens_at, room.closes_at, False
        return LinkInfo(
            name=invite.label,
            opens_at=opens,
            closes_at=closes,
            ended=ended or room.ended_at is not None,
        )
