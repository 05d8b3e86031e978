"""Who may enter which room, when, and as what: the room tickets.

A page never connects with a magic link or a staff token. It exchanges one of them here for a
room ticket: a JWT for one room, one participant and one role, valid for minutes. The
signaling server only ever sees tickets, and checks them again against the room's window.

Participants have stable ids, so a second connection of the same person replaces the first:
`staff-<id>` for staff, `guest` for the citizen of a booking, `invite-<id>` for the holder of
an invitation.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rooms.errors import RoomClosed, RoomNotOpen, TicketExpired, TicketInvalid, TicketRevoked
from rooms.models import Room, RoomInvite
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session, utcnow, write_session
from scheduler.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
)
from scheduler.models import Booking, BookingStatus, Channel
from scheduler.tokens import Audience, Claims, TokenService


class RoomRole(StrEnum):
    HOST = "host"
    GUEST = "guest"
    EXTRA_GUEST = "extra_guest"


@dataclass(frozen=True, slots=True)
class RoomConfig:
    opens_before: timedelta = timedelta(minutes=15)
    closes_after: timedelta = timedelta(minutes=30)
    adhoc_lifetime: timedelta = timedelta(hours=2)
    ticket_lifetime: timedelta = timedelta(minutes=10)
    max_participants: int = 4


@dataclass(frozen=True, slots=True)
class RoomInfo:
    id: str
    title: str
    booking_reference: str | None
    opens_at: datetime
    closes_at: datetime
    ended: bool


@dataclass(frozen=True, slots=True)
class LinkWindow:
    """What a join link leads to: the name to prefill (the citizen's only for the booking's
    manage link, else empty), and the room's window."""

    name: str
    opens_at: datetime
    closes_at: datetime
    ended: bool

    def closed(self, now: datetime) -> bool:
        return self.ended or now >= self.closes_at


@dataclass(frozen=True, slots=True)
class Pass:
    """A checked room ticket: who enters which room as what."""

    room_id: str
    participant_id: str
    role: RoomRole
    name: str
    ticket_id: str
    expires_at: datetime
    # When the room closes: the signaling server ends connections then.
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class Ticket:
    token: str
    room: RoomInfo
    holder: Pass


@dataclass(frozen=True, slots=True)
class InviteLink:
    id: int
    room_id: str
    role: RoomRole
    label: str
    token: str
    revoked: bool


def _citizen_label(booking: Booking, owner: bool) -> str:
    """The name the host sees for a citizen who typed none: the booking's name only for the
    manage link's holder; for a join link's holder the booking reference (as "#REF", the same
    in every language), which the advisor finds in the agenda and which tells a stranger
    holding the link nothing new."""
    if owner:
        return booking.name
    return f"#{booking.reference or ''}"


def new_room_id() -> str:
    return secrets.token_urlsafe(12)


class RoomAccess:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: TokenService,
        config: RoomConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self.config = config or RoomConfig()
        self._clock = clock

    # -- tickets ---------------------------------------------------------------------------

    def link_ticket(self, link_token: str, name: str | None = None) -> Ticket:
        """A ticket for whoever holds a join link: the citizen of a booking (whose join or
        manage link it is), or the holder of an invitation."""
        try:
            claims, owner = self._booking_claims(link_token)
        except TokenInvalid:
            return self.invite_ticket(link_token, name)
        return self._citizen_ticket(claims, owner, name)

    def _citizen_ticket(self, claims: Claims, owner: bool, name: str | None) -> Ticket:
        with write_session(self._sessions) as session:
            booking = self._booking(session, claims.subject, claims.version)
            if booking.channel != Channel.VIDEO:
                raise NotFound("no video room for this booking", code="no_video_room")
            room = self._room_of(session, booking)
            info = self._info(room, booking)
            display = (name or "").strip() or _citizen_label(booking, owner)
        return self._issue(info, "guest", RoomRole.GUEST, display)

    def invite_ticket(self, invite_token: str, name: str | None = None) -> Ticket:
        with read_session(self._sessions) as session:
            invite, room = self._invite(session, invite_token)
            info = self._info(room, self._room_booking(session, room))
            display = (name or "").strip() or invite.label
        return self._issue(info, f"invite-{invite.id}", RoomRole(invite.role), display)

    def link_window(self, link_token: str) -> LinkWindow:
        """What a join link (or manage link, or invitation) leads to, read without making the
        room or issuing a ticket: mail scanners open links before people do."""
        try:
            claims, owner = self._booking_claims(link_token)
        except TokenInvalid:
            with read_session(self._sessions) as session:
                invite, room = self._invite(session, link_token)
                info = self._window(room, self._room_booking(session, room))
                return LinkWindow(invite.label, info.opens_at, info.closes_at, info.ended)
        with read_session(self._sessions) as session:
            booking = self._booking(session, claims.subject, claims.version)
            if booking.channel != Channel.VIDEO:
                raise NotFound("no video room for this booking", code="no_video_room")
            made = session.scalar(select(Room).where(Room.booking_id == booking.id))
            return LinkWindow(
                name=booking.name if owner else "",
                opens_at=booking.start_at - self.config.opens_before,
                closes_at=booking.end_at + self.config.closes_after,
                ended=booking.status == BookingStatus.CANCELLED
                or (made is not None and made.ended_at is not None),
            )

    def staff_ticket(self, actor: StaffIdentity, room_id: str) -> Ticket:
        with read_session(self._sessions) as session:
            room = self._visible_room(session, actor, room_id)
            info = self._info(room, self._room_booking(session, room))
        return self._issue(info, f"staff-{actor.id}", RoomRole.HOST, actor.name)

    def verify(self, ticket: str) -> Pass:
        """The holder of a room ticket, if the ticket is genuine and the room is open now;
        else `TicketInvalid`, `TicketExpired`, `TicketRevoked`, `RoomNotOpen` or `RoomClosed`."""
        try:
            claims = self._tokens.decode(ticket, Audience.ROOM)
        except TokenExpired as exc:
            raise TicketExpired(exc.detail) from exc
        except TokenRevoked as exc:
            raise TicketRevoked(exc.detail) from exc
        except TokenError as exc:
            raise TicketInvalid(exc.detail) from exc
        extra = claims.extra
        participant, role, name, ticket_id = (
            extra.get("pid"),
            extra.get("role"),
            extra.get("name"),
            extra.get("jti"),
        )
        if not all(isinstance(v, str) for v in (participant, role, name, ticket_id)):
            raise TicketInvalid("malformed ticket")
        if role not in RoomRole.__members__.values():
            raise TicketInvalid("unknown role")
        with read_session(self._sessions) as session:
            room = session.get(Room, claims.subject)
            if room is None:
                raise TicketInvalid("unknown room")
            info = self._info(room, self._room_booking(session, room))
            if str(participant).startswith("invite-"):
                # The hub revokes only the ticket in use; one fetched before stays signed.
                invite = session.get(RoomInvite, int(str(participant).removeprefix("invite-")))
                if invite is None or invite.revoked_at is not None:
                    raise TicketRevoked("invitation revoked")
        return Pass(
            room_id=claims.subject,
            participant_id=str(participant),
            role=RoomRole(str(role)),
            name=str(name),
            ticket_id=str(ticket_id),
            expires_at=claims.expires_at,
            closes_at=info.closes_at,
        )

    # -- staff -----------------------------------------------------------------------------

    def booking_room(self, actor: StaffIdentity, reference: str) -> RoomInfo:
        """The room of a video booking, made on first use, for its advisor or their team."""
        with write_session(self._sessions) as session:
            booking = session.scalar(select(Booking).where(Booking.reference == reference.upper()))
            # Like the desk: a booking outside one's team is not there at all.
            if booking is None or not self._may_host_booking(actor, booking):
                raise NotFound("unknown booking")
            if booking.channel != Channel.VIDEO:
                raise NotFound("no video room for this booking", code="no_video_room")
            room = self._room_of(session, booking)
            return self._window(room, booking)

    def open_adhoc(self, actor: StaffIdentity, title: str = "") -> tuple[RoomInfo, InviteLink]:
        """A room open from now on, and the guest link to send to the caller."""
        now = self._clock()
        with write_session(self._sessions) as session:
            room = Room(
                id=new_room_id(),
                title=title.strip(),
                team_id=actor.team_id,
                created_by_id=actor.id,
                created_at=now,
                opens_at=now,
                closes_at=now + self.config.adhoc_lifetime,
            )
            session.add(room)
            invite = self._add_invite(session, actor, room, RoomRole.GUEST, "")
            return self._window(room, None), self._link(invite, room)

    def invite(self, actor: StaffIdentity, room_id: str, label: str) -> InviteLink:
        """A revocable link for an extra guest, such as an interpreter."""
        with write_session(self._sessions) as session:
            room = self._visible_room(session, actor, room_id)
            self._refuse_closed(self._window(room, self._room_booking(session, room)))
            invite = self._add_invite(session, actor, room, RoomRole.EXTRA_GUEST, label.strip())
            return self._link(invite, room)

    def invites(self, actor: StaffIdentity, room_id: str) -> list[InviteLink]:
        with read_session(self._sessions) as session:
            room = self._visible_room(session, actor, room_id)
            rows = session.scalars(
                select(RoomInvite).where(RoomInvite.room_id == room.id).order_by(RoomInvite.id)
            )
            return [self._link(invite, room) for invite in rows]

    def revoke_invite(self, actor: StaffIdentity, room_id: str, invite_id: int) -> InviteLink:
        with write_session(self._sessions) as session:
            room = self._visible_room(session, actor, room_id)
            invite = session.get(RoomInvite, invite_id)
            if invite is None or invite.room_id != room.id:
                raise NotFound("unknown invitation")
            if invite.revoked_at is None:
                invite.revoked_at = self._clock()
            return self._link(invite, room)

    def end(self, room_id: str) -> None:
        """Close a room for good: no ticket is issued or accepted for it any more."""
        with write_session(self._sessions) as session:
            room = session.get(Room, room_id)
            if room is not None and room.ended_at is None:
                room.ended_at = self._clock()

    # -- internals -------------------------------------------------------------------------

    def _issue(self, room: RoomInfo, participant: str, role: RoomRole, name: str) -> Ticket:
        now = self._clock().replace(microsecond=0)  # as the token will say
        lifetime = min(self.config.ticket_lifetime, room.closes_at - now)
        ticket_id = secrets.token_urlsafe(9)
        token = self._tokens.issue(
            Audience.ROOM,
            room.id,
            1,
            now,
            lifetime,
            extra={"pid": participant, "role": role.value, "name": name[:100], "jti": ticket_id},
        )
        holder = Pass(
            room.id, participant, role, name[:100], ticket_id, now + lifetime, room.closes_at
        )
        return Ticket(token=token, room=room, holder=holder)

    def _booking_claims(self, link_token: str) -> tuple[Claims, bool]:
        """The claims of a booking's join or manage link, and whether it is the manage link:
        only that one (kept by the citizen's own browser since booking) shows the citizen's
        name; join links travel in invitations and calendars, to whoever they are passed on."""
        try:
            return self._tokens.decode(link_token, Audience.JOIN), False
        except TokenInvalid:
            # The manage page's Join button holds the manage link, not the join link.
            try:
                return self._tokens.decode(link_token, Audience.MANAGE), True
            except TokenInvalid:
                raise TokenInvalid("not a link of a booking") from None

    def _invite(self, session: Session, invite_token: str) -> tuple[RoomInvite, Room]:
        claims = self._tokens.decode(invite_token, Audience.INVITE)
        if not (claims.subject.isascii() and claims.subject.isdigit()):
            raise TokenInvalid("malformed invitation")
        invite_id = int(claims.subject)
        invite = session.get(RoomInvite, invite_id) if invite_id < 2**62 else None
        if invite is None:
            raise TokenInvalid("unknown invitation")
        if invite.revoked_at is not None:
            raise TokenRevoked("invitation revoked")
        room = session.get(Room, invite.room_id)
        assert room is not None  # cascades with its invitations
        return invite, room

    def _booking(self, session: Session, reference: str, version: int) -> Booking:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        if booking is None:
            raise TokenInvalid("unknown booking")
        if booking.token_version != version:
            raise TokenRevoked()
        return booking

    def _room_of(self, session: Session, booking: Booking) -> Room:
        room = session.scalar(select(Room).where(Room.booking_id == booking.id))
        if room is not None:
            return room
        room = Room(
            id=new_room_id(),
            booking_id=booking.id,
            title=booking.service.name,
            team_id=booking.service.team_id or booking.advisor.team_id,
            created_at=self._clock(),
        )
        try:
            with session.begin_nested():
                session.add(room)
        except IntegrityError:
            # Made at the same moment by another request (PostgreSQL; SQLite serialises).
            room = session.scalars(select(Room).where(Room.booking_id == booking.id)).one()
        return room

    def _room_booking(self, session: Session, room: Room) -> Booking | None:
        return None if room.booking_id is None else session.get(Booking, room.booking_id)

    def _window(self, room: Room, booking: Booking | None) -> RoomInfo:
        if booking is not None:
            opens = booking.start_at - self.config.opens_before
            closes = booking.end_at + self.config.closes_after
        else:
            assert room.opens_at is not None
            assert room.closes_at is not None
            opens, closes = room.opens_at, room.closes_at
        return RoomInfo(
            id=room.id,
            title=room.title,
            booking_reference=booking.reference if booking is not None else None,
            opens_at=opens,
            closes_at=closes,
            ended=room.ended_at is not None
            or (booking is not None and booking.status == BookingStatus.CANCELLED),
        )

    def _info(self, room: Room, booking: Booking | None) -> RoomInfo:
        """The room's window, refusing a room that is not open now."""
        info = self._refuse_closed(self._window(room, booking))
        if self._clock() < info.opens_at:
            raise RoomNotOpen(opens_at=info.opens_at)
        return info

    def _refuse_closed(self, info: RoomInfo) -> RoomInfo:
        if info.ended or self._clock() >= info.closes_at:
            raise RoomClosed(closes_at=info.closes_at)
        return info

    def _visible_room(self, session: Session, actor: StaffIdentity, room_id: str) -> Room:
        room = session.get(Room, room_id)
        if room is None:
            raise NotFound("unknown room")
        booking = self._room_booking(session, room)
        allowed = (
            self._may_host_booking(actor, booking)
            if booking is not None
            else actor.id == room.created_by_id
            or (actor.team_id is not None and actor.team_id == room.team_id)
        )
        if not allowed:
            raise PermissionDenied(role=actor.role.value)
        return room

    def _may_host_booking(self, actor: StaffIdentity, booking: Booking) -> bool:
        """The booked advisor, or a colleague of the same team taking over."""
        if actor.id == booking.advisor_id:
            return True
        teams = {booking.service.team_id, booking.advisor.team_id} - {None}
        return actor.team_id is not None and actor.team_id in teams

    def _add_invite(
        self, session: Session, actor: StaffIdentity, room: Room, role: RoomRole, label: str
    ) -> RoomInvite:
        if len(label) > 100:
            raise InvalidRequest("label too long", field="label", code="label_too_long")
        invite = RoomInvite(
            room_id=room.id,
            role=role.value,
            label=label,
            created_by_id=actor.id,
            created_at=self._clock(),
        )
        session.add(invite)
        session.flush()
        return invite

    def _link(self, invite: RoomInvite, room: Room) -> InviteLink:
        # Valid as long as any ad-hoc room could be; the room's own window decides entry.
        token = self._tokens.issue(
            Audience.INVITE,
            str(invite.id),
            1,
            invite.created_at,
            timedelta(days=30),
        )
        return InviteLink(
            id=invite.id,
            room_id=room.id,
            role=RoomRole(invite.role),
            label=invite.label,
            token=token,
            revoked=invite.revoked_at is not None,
        )
