"""The rules of the signaling server, without I/O (Sans-I/O, like python-websockets' protocol
layer): state, an input and the time in; the effects to perform out.

The state (`signaling.state`) is a `Seat` per connection (who, waiting or inside, its rate
limit and heartbeat) and a `Room` of the seats connected to this process. What all processes
share (the members, the admissions, the withdrawn tickets) lives in the bus and comes in as
answers to the effects that asked for it.

Inputs, each a method of `Core`:

    authenticate, arrive        the first frame; the checked ticket and the participant's resume key
    enter, joined, welcome      the room's members; the bus's answer to joining them
    receive, handle             a frame of the connection; the message it held
    admission, expel            the bus's answer to an admission; the members, for an expulsion
    deliver, let_in             an event from the room's channel; the members, once let in
    departed                    the member the bus removed as the connection ended
    expired, room_closed        the time

Times are arguments: `now` in monotonic seconds (rate limits, heartbeats), `wall` in POSIX
seconds where a time leaves the process (chat times, member staleness, revocations).

The outputs are lists of effects (`signaling.effects`), which `signaling.hub.Hub` performs in
order; a connection without a seat yet is refused with a `Refusal`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from rooms.access import Pass, RoomRole
from rooms.errors import RoomClosed, RoomNotOpen, TicketExpired, TicketInvalid, TicketRevoked
from signaling import protocol
from signaling.bus import Admission, AdmissionResult, Member, Presence, Seating
from signaling.effects import (
    Admit,
    Close,
    Effect,
    EndRoom,
    Expel,
    Forget,
    Greet,
    Join,
    LetIn,
    Publish,
    Refusal,
    Revoke,
    Send,
    TakeSeat,
    Touch,
    UpdateMedia,
)
from signaling.events import Admitted, Broadcast, Ended, Event, Joined, Kick, Relayed
from signaling.negotiation import participants, polite
from signaling.protocol import CloseCode, InvalidMessage, ServerMessage
from signaling.relay import relay, share, text
from signaling.state import Room, Seat, TokenBucket


@dataclass(frozen=True, slots=True)
class HubConfig:
    max_message_bytes: int = 64 * 1024
    # Messages per second and burst per connection; ICE candidates come in bursts.
    rate: float = 50.0
    burst: float = 200.0
    # Rate-limited messages tolerated before the connection is closed.
    max_strikes: int = 100
    auth_timeout: float = 10.0
    # The client pings every `heartbeat_interval`; silence for `heartbeat_timeout` ends it.
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 30.0
    outbox_size: int = 256
    send_timeout: float = 10.0
    max_waiting: int = 8


# An expelled participant's ticket is refused for a day: longer than any ticket lives.
REVOCATION_SECONDS = 24 * 3600

# The domain errors of checking a ticket, as close codes; the first class that matches wins.
TICKET_CLOSES: tuple[tuple[type[Exception], CloseCode], ...] = (
    (TicketExpired, CloseCode.TICKET_EXPIRED),
    (TicketRevoked, CloseCode.TICKET_REVOKED),
    (TicketInvalid, CloseCode.TICKET_INVALID),
    (RoomNotOpen, CloseCode.ROOM_NOT_OPEN),
    (RoomClosed, CloseCode.ROOM_CLOSED),
)


def refusal(code: CloseCode) -> Refusal:
    return Refusal(code, code.reason)


AUTH_TIMEOUT = Refusal(CloseCode.PROTOCOL_ERROR, "auth_timeout")


def ticket_refusal(error: Exception) -> Refusal | None:
    """The refusal for an error of checking a ticket; None for an error of another kind."""
    for kind, code in TICKET_CLOSES:
        if isinstance(error, kind):
            return refusal(code)
    return None


def _error(conn: str, code: str, message: str, **extra: object) -> list[Effect]:
    return [Send(conn, protocol.error(code, message, **extra))]


def _public(seat: Seat) -> ServerMessage:
    public: ServerMessage = {
        "id": seat.id,
        "name": seat.holder.name,
        "role": seat.holder.role.value,
        "media": seat.media,
    }
    if seat.replacing:
        public["reconnect"] = True
    return public


def _joined(seat: Seat) -> Publish:
    holder = seat.holder
    return Publish(Joined(seat.id, holder.name, holder.role.value, seat.can_rollback, seat.media))


class Core:
    """The rules; the core keeps only its configuration, the state comes in with each call."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config

    # -- arriving ----------------------------------------------------------------------------

    def authenticate(self, frame: str | bytes) -> protocol.Auth | Refusal:
        """The first frame: an `auth`, or the refusal of the connection."""
        if protocol.too_big(frame, self.config.max_message_bytes):
            return refusal(CloseCode.MESSAGE_TOO_BIG)
        try:
            auth = protocol.parse(frame)
        except InvalidMessage:
            auth = None
        if not isinstance(auth, protocol.Auth):
            return Refusal(CloseCode.PROTOCOL_ERROR, "expected_auth")
        return auth

    def arrive(
        self,
        holder: Pass,
        auth: protocol.Auth,
        conn: str,
        *,
        revoked: bool,
        resume: str | None,
        now: float,
    ) -> Seat | Refusal:
        """The seat of a checked ticket; `revoked` and the participant's `resume` key as the
        bus remembers them. A guest comes back inside only by showing the resume key it was
        given when let in: a ticket alone (from a join link, which travels) means waiting."""
        if revoked:
            return refusal(CloseCode.TICKET_REVOKED)
        resumed = (
            resume is not None
            and auth.resume is not None
            and hmac.compare_digest(auth.resume.encode(), resume.encode())
        )
        inside = holder.role is RoomRole.HOST or resumed
        config = self.config
        return Seat(
            holder=holder,
            conn=conn,
            can_rollback=auth.can_rollback,
            presence=Presence.INSIDE if inside else Presence.WAITING,
            bucket=TokenBucket(config.rate, config.burst, config.burst, now),
            last_heard=now,
            last_touch=now,
            resume=resume if resumed else None,
        )

    def enter(self, seat: Seat, members: list[Member], wall: float) -> list[Effect]:
        """A new seat's first step into the room: turned away if too many wait already, else
        joined to the room's members."""
        if seat.presence is Presence.WAITING:
            waiting = sum(1 for m in members if m.state is Presence.WAITING and m.id != seat.id)
            if waiting >= self.config.max_waiting:
                return [Close(seat.conn, CloseCode.ROOM_FULL)]
        member = Member(
            id=seat.id,
            name=seat.holder.name,
            role=seat.holder.role.value,
            state=seat.presence,
            conn=seat.conn,
            ticket=seat.holder.ticket_id,
            can_rollback=seat.can_rollback,
            seen=wall,
        )
        # Members of a process that died without a goodbye drop out after three heartbeats.
        return [Join(member, stale_before=wall - 3 * self.config.heartbeat_timeout)]

    def joined(self, seat: Seat, seating: Seating) -> list[Effect]:
        """The bus's answer to `Join`: refused (the room is full), or in, maybe replacing the
        participant's previous connection, or waiting beside its connection inside."""
        if not seating.accepted:
            return [Close(seat.conn, CloseCode.ROOM_FULL)]
        seat.replacing = seating.beside
        effects: list[Effect] = [TakeSeat(seat.conn)]
        previous = seating.replaced
        if previous is not None and previous.conn != seat.conn:
            effects.append(Publish(Kick(seat.id, previous.conn, CloseCode.REPLACED)))
        effects.append(Greet(seat.conn))
        return effects

    def welcome(
        self,
        seat: Seat,
        members: list[Member],
        ice_servers: list[ServerMessage],
        shared: ServerMessage | None = None,
    ) -> list[Effect]:
        """The seat learns where it is, and those inside the room's shared document view;
        the room learns of it (hosts hear a knock)."""
        holder = seat.holder
        others = [m for m in members if m.id != seat.id]
        welcome: ServerMessage = {
            "type": "welcome",
            "v": protocol.VERSION,
            "id": seat.id,
            "role": holder.role.value,
            "name": holder.name,
            "state": seat.presence.value,
            "room": {"id": seat.room, "closes_at": holder.closes_at.isoformat()},
            "heartbeat_seconds": self.config.heartbeat_interval,
            "max_message_bytes": self.config.max_message_bytes,
            # Waiting guests learn nothing of the room, nor of its TURN servers.
            "ice_servers": ice_servers if seat.inside else [],
            "participants": participants(seat.can_rollback, others) if seat.inside else [],
        }
        if seat.resume is not None:
            welcome["resume"] = seat.resume
        if shared is not None and seat.inside:
            welcome["document"] = shared
        if seat.is_host:
            welcome["waiting"] = [m.public() for m in others if m.state is Presence.WAITING]
        if seat.presence is Presence.INSIDE:
            return [Send(seat.conn, welcome), _joined(seat)]
        knock = {"type": "knock", "participant": _public(seat)}
        return [Send(seat.conn, welcome), Publish(Broadcast(knock, hosts=True))]

    # -- reading -----------------------------------------------------------------------------

    def receive(
        self, seat: Seat, frame: str | bytes, now: float
    ) -> protocol.ClientMessage | list[Effect]:
        """A frame from the client: the message it holds, or what to do instead (a close, an
        error, or nothing for a frame dropped by the rate limit)."""
        seat.last_heard = now
        config = self.config
        if protocol.too_big(frame, config.max_message_bytes):
            return [Close(seat.conn, CloseCode.MESSAGE_TOO_BIG)]
        if not seat.bucket.take(now):
            seat.strikes += 1
            if seat.strikes > config.max_strikes:
                return [Close(seat.conn, CloseCode.RATE_LIMITED)]
            if seat.strikes == 1 or seat.strikes % 20 == 0:
                return _error(seat.conn, "rate_limited", "Too many messages; slow down.")
            return []
        try:
            return protocol.parse(frame)
        except InvalidMessage as exc:
            return _error(seat.conn, "invalid_message", exc.detail)

    def handle(
        self, room: Room, seat: Seat, message: protocol.ClientMessage, now: float, wall: float
    ) -> list[Effect]:
        """A client message of `seat`, one of `room`'s seats here."""
        effects = self._answer(room, seat, message, wall)
        # Often enough that a member of a crashed process goes stale after three heartbeat
        # timeouts, and no more often: with Redis each refresh is a round trip.
        if now - seat.last_touch <= self.config.heartbeat_timeout:
            return effects
        seat.last_touch = now
        return [Touch(seat.id, seat.conn, wall), *effects]

    def _answer(
        self, room: Room, seat: Seat, message: protocol.ClientMessage, wall: float
    ) -> list[Effect]:
        conn = seat.conn
        match message:
            case protocol.Ping():
                return [Send(conn, {"type": "pong"})]
            case (
                protocol.Offer() | protocol.Answer() | protocol.Candidate() | protocol.MediaFailed()
            ):
                return relay(room, seat, message)
            case protocol.Media():
                if not seat.inside:
                    return []
                seat.media = message.model_dump(exclude={"type"})
                media = {"type": "media", "from": seat.id, **seat.media}
                return [
                    UpdateMedia(seat.id, conn, seat.media),
                    Publish(Broadcast(media, skip=seat.id)),
                ]
            case protocol.Chat() | protocol.Typing():
                return text(seat, message, wall)
            case protocol.Doc():
                return share(seat, message)
            case protocol.Leave():
                return [Close(conn, CloseCode.NORMAL)]
            case protocol.Auth():
                return _error(conn, "already_authenticated", "Already authenticated.")
            case _ if not seat.is_host:
                return _error(conn, "forbidden", "Only the host may do this.")
            case protocol.Admit():
                return [Admit(message.id, conn)]
            case protocol.Deny() | protocol.Remove():
                if message.id == seat.id:
                    return _error(conn, "unknown_peer", "Nobody with this id can be removed.")
                denied = isinstance(message, protocol.Deny)
                return [Expel(message.id, CloseCode.DENIED if denied else CloseCode.REMOVED, conn)]
            case protocol.End():
                return [EndRoom(), Publish(Ended())]

    def admission(
        self, host: str, member_id: str, result: AdmissionResult, resume: str
    ) -> list[Effect]:
        """The bus's answer to the host `host`'s `Admit`, which gave the participant the
        resume key `resume`. A replacement let in takes over: its predecessor is closed only
        now."""
        outcome = result.outcome
        if outcome is Admission.ADMITTED:
            if result.conn is None:
                return []  # inside already: a second host, or a double click
            effects: list[Effect] = [Publish(Admitted(member_id, result.conn, resume))]
            if result.replaced is not None:
                effects.append(Publish(Kick(member_id, result.replaced, CloseCode.REPLACED)))
            return effects
        if outcome is Admission.FULL:
            return _error(host, "room_full", "The room is full.", id=member_id)
        return _error(host, "unknown_peer", "Nobody with this id is here.", id=member_id)

    def expel(
        self, members: list[Member], member_id: str, code: CloseCode, wall: float, by: str | None
    ) -> list[Effect]:
        """Send a guest out, on whichever process it is connected. `by`: the connection of the
        host who asked, told if there is nobody to send out; None when the room's staff did
        it without being in the room (revoking an invitation: every connection goes).

        A participant may have a replacement waiting beside its connection inside: a host's
        `deny` is for the one waiting, `remove` for the one inside."""
        candidates = [m for m in members if m.id == member_id and m.role != RoomRole.HOST]
        if by is not None and len(candidates) > 1:
            waiting = code is CloseCode.DENIED
            candidates = [m for m in candidates if (m.state is Presence.WAITING) is waiting]
        if not candidates:
            # Even with nobody connected under the id: an admission must not outlast the
            # host's decision.
            effects: list[Effect] = [Forget(member_id)]
            if by is not None:
                effects += _error(by, "unknown_peer", "Nobody with this id can be removed.")
            return effects
        # Denying a replacement leaves the participant inside, and its admission, alone.
        effects = [] if all(m.replacing for m in candidates) else [Forget(member_id)]
        # The ticket dies with the expulsion: a new one means waiting to be let in again.
        for target in candidates:
            effects += [
                Revoke(target.ticket, wall + REVOCATION_SECONDS),
                Publish(Kick(member_id, target.conn, code)),
            ]
        return effects

    # -- the room's channel ------------------------------------------------------------------

    def deliver(self, room: Room, event: Event) -> list[Effect]:
        """An event of the room's channel, for the seats of `room` here."""
        match event:
            case Relayed(to, message):
                target = room.seats.get(to)
                if target is None or not target.inside:
                    return []
                return [Send(target.conn, message)]
            case Broadcast(message, hosts, skip):
                return [
                    Send(seat.conn, message)
                    for seat in room.seats.values()
                    if seat.id != skip and (seat.is_host if hosts else seat.inside)
                ]
            case Joined():
                peer = event.peer()
                return [
                    Send(
                        seat.conn,
                        {
                            "type": "peer-joined",
                            "peer": peer,
                            "polite": polite(seat.can_rollback, event.can_rollback, False),
                        },
                    )
                    for seat in room.seats.values()
                    if seat.id != event.id and seat.inside
                ]
            case Kick(_, conn, code):
                return [Close(conn, code)]
            case Admitted(member_id, conn, resume):
                target = next(
                    (
                        seat
                        for seat in (room.replacements.get(member_id), room.seats.get(member_id))
                        if seat is not None and seat.conn == conn
                    ),
                    None,
                )
                # Only a waiting seat: admitting one inside again would announce it anew and
                # restart every call with it.
                if (
                    target is None
                    or target.presence is not Presence.WAITING
                    or target.closing is not None
                ):
                    return []
                room.promote(target)
                target.presence = Presence.INSIDE
                target.resume = resume
                return [LetIn(target.conn)]
            case Ended():
                effects: list[Effect] = []
                for seat in room.all_seats():
                    effects += [
                        Send(seat.conn, {"type": "ended", "reason": "ended_by_host"}),
                        Close(seat.conn, CloseCode.ENDED),
                    ]
                return effects

    def let_in(
        self,
        seat: Seat,
        members: list[Member],
        ice_servers: list[ServerMessage],
        shared: ServerMessage | None = None,
    ) -> list[Effect]:
        """A seat just admitted meets those inside, and they meet it; it sees the shared
        document view."""
        others = [m for m in members if m.id != seat.id]
        admitted: ServerMessage = {
            "type": "admitted",
            "participants": participants(seat.can_rollback, others),
            "ice_servers": ice_servers,
        }
        if seat.resume is not None:
            admitted["resume"] = seat.resume
        if shared is not None:
            admitted["document"] = shared
        return [Send(seat.conn, admitted), _joined(seat)]

    # -- leaving, and the time ---------------------------------------------------------------

    def departed(self, seat: Seat, removed: Member | None) -> list[Effect]:
        """The connection has ended; `removed`: the member the bus removed with it."""
        if removed is None:
            return []  # replaced by a newer connection, which announced itself
        if removed.state is Presence.INSIDE:
            left = {"type": "peer-left", "id": seat.id}
            return [Publish(Broadcast(left, skip=seat.id))]
        gone = {"type": "waiting-left", "id": seat.id}
        return [Publish(Broadcast(gone, hosts=True))]

    def expired(self, seat: Seat, now: float) -> list[Effect]:
        """The heartbeat deadline: the client has been silent for too long."""
        if now - seat.last_heard > self.config.heartbeat_timeout:
            return [Close(seat.conn, CloseCode.HEARTBEAT_TIMEOUT)]
        return []

    def room_closed(self, seat: Seat) -> list[Effect]:
        """The room's window has ended."""
        return [
            Send(seat.conn, {"type": "ended", "reason": "room_closed"}),
            Close(seat.conn, CloseCode.ROOM_CLOSED),
        ]
