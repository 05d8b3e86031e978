"""The signaling server: one `serve` per WebSocket, rooms kept in step through the bus.

A connection authenticates with a room ticket, is welcomed (waiting or inside), and then
relays offers, answers and candidates to one named peer, media states, chat and drafts
(real-time text) to the room, and, as host, admits, denies, removes and ends. Each
connection has its own bounded outbox and writer task, so one slow reader never holds up the
room; its input has a size cap, a rate limit and a heartbeat deadline. Whatever a client
sends, the worst it can do is close its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rooms.access import Pass, RoomRole
from rooms.errors import RoomClosed, RoomNotOpen
from scheduler.errors import TokenError, TokenExpired, TokenRevoked
from signaling import protocol
from signaling.bus import Admission, Bus, Event, Member, Presence
from signaling.gate import Gate
from signaling.protocol import CloseCode, InvalidMessage

log = logging.getLogger("sprechstunde.signaling")


class Transport(Protocol):
    """One WebSocket, as the hub needs it."""

    async def receive(self) -> str | bytes | None:
        """The next message, or None once the client has gone."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


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


class _TokenBucket:
    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate, self._burst = rate, burst
        self._tokens, self._stamp = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(eq=False)
class _Close:
    code: CloseCode


@dataclass(eq=False)
class Peer:
    """One local connection of a participant."""

    holder: Pass
    conn: str
    transport: Transport
    can_rollback: bool
    state: Presence
    limit: int
    media: dict[str, bool] = field(default_factory=dict)
    _outbox: deque[str | _Close] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    closing: CloseCode | None = None
    # The task reading this connection, and whether it is waiting for the client right now.
    reader: asyncio.Task[Any] | None = None
    reading: bool = False
    writer: asyncio.Task[None] | None = None
    # Monotonic seconds: the last message from the client, and since when a send is pending.
    # The hub's watchdog enforces the heartbeat and send deadlines from these, which is much
    # cheaper than a timeout around every single receive and send.
    last_heard: float = field(default_factory=time.monotonic)
    sending_since: float | None = None

    @property
    def id(self) -> str:
        return self.holder.participant_id

    @property
    def room(self) -> str:
        return self.holder.room_id

    @property
    def is_host(self) -> bool:
        return self.holder.role is RoomRole.HOST

    @property
    def inside(self) -> bool:
        return self.state is Presence.INSIDE and self.closing is None

    def send(self, message: dict[str, Any] | str) -> bool:
        """Queue a message; False (and the connection closing) if the reader is too slow."""
        if self.closing is not None:
            return False
        if len(self._outbox) >= self.limit:
            self.close(CloseCode.TOO_SLOW)
            return False
        self._outbox.append(message if isinstance(message, str) else _dumps(message))
        self._ready.set()
        return True

    def close(self, code: CloseCode) -> None:
        """Close after what is queued has gone out."""
        if self.closing is None:
            self.closing = code
            self._outbox.append(_Close(code))
            self._ready.set()

    async def write(self, close_timeout: float) -> None:
        """Drain the outbox into the socket until the connection closes."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._outbox:
                    item = self._outbox.popleft()
                    if isinstance(item, _Close):
                        await self._close_socket(item.code, close_timeout)
                        return
                    self.sending_since = time.monotonic()
                    try:
                        await self.transport.send(item)
                    except Exception:  # the socket is gone; the reader notices too
                        return
                    self.sending_since = None
        except asyncio.CancelledError:
            # Stopped by the watchdog: a send did not finish in time.
            await self._close_socket(self.closing or CloseCode.TOO_SLOW, close_timeout)

    def abort(self, code: CloseCode) -> None:
        """Close now, without waiting for what is queued (the client is not reading)."""
        self.closing = self.closing or code
        self.sending_since = None  # once: a second cancel would cut the closing short
        if self.writer is not None:
            self.writer.cancel()

    async def _close_socket(self, code: CloseCode, timeout: float) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.transport.close(code, code.reason), timeout)
        # Closed by the server: the room learns of the departure now, not when (or if) the
        # client completes the closing handshake.
        if self.reading and self.reader is not None:
            self.reader.cancel()


def _too_big(frame: str | bytes, limit: int) -> bool:
    """Over `limit` bytes, as `max_message_bytes` tells the client: a text frame as UTF-8."""
    if isinstance(frame, bytes) or 4 * len(frame) <= limit:
        # A character is at most 4 bytes: most frames need no encoding to be measured.
        return len(frame) > limit
    return len(frame.encode("utf-8", "surrogatepass")) > limit


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _polite(me_can_rollback: bool, other_can_rollback: bool, me_is_newcomer: bool) -> bool:
    """Exactly one side of a pair is polite (MDN's perfect negotiation): never a peer that
    cannot roll back (aiortc); otherwise the one that was there first."""
    if not me_can_rollback:
        return False
    if not other_can_rollback:
        return True
    return not me_is_newcomer


_TICKET_CLOSES: list[tuple[type[Exception], CloseCode]] = [
    (TokenExpired, CloseCode.TICKET_EXPIRED),
    (TokenRevoked, CloseCode.TICKET_REVOKED),
    (TokenError, CloseCode.TICKET_INVALID),
    (RoomNotOpen, CloseCode.ROOM_NOT_OPEN),
    (RoomClosed, CloseCode.ROOM_CLOSED),
]


class Hub:
    def __init__(
        self,
        bus: Bus,
        gate: Gate,
        config: HubConfig | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.gate = gate
        self.config = config or HubConfig()
        self._wall_clock = wall_clock
        self._rooms: dict[str, dict[str, Peer]] = {}
        self._conns: dict[str, Peer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribed: set[str] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._subscription_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        """Close every local connection (clients reconnect, maybe to another process)."""
        for peer in list(self._conns.values()):
            peer.close(CloseCode.SHUTTING_DOWN)
        for _ in range(50):
            if not self._conns:
                break
            await asyncio.sleep(0.02)
        for task in list(self._tasks):
            task.cancel()
        await self.bus.close()

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- one connection --------------------------------------------------------------------

    async def serve(self, transport: Transport) -> None:
        peer = await self._authenticate(transport)
        if peer is None:
            return
        writer = peer.writer = asyncio.create_task(peer.write(self.config.send_timeout))
        self._watch()
        closer = self._spawn(self._close_with_room(peer))
        peer.reader = asyncio.current_task()
        try:
            await self._enter(peer)
            await self._read(peer)
        except Exception:
            # The bus (Redis) failed under this connection: the client may try again.
            log.exception("signaling connection %s in room %s failed", peer.conn, peer.room)
            peer.close(CloseCode.TRY_AGAIN_LATER)
        finally:
            closer.cancel()
            await self._depart(peer)
            peer.close(peer.closing or CloseCode.NORMAL)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer, self.config.send_timeout)

    async def _authenticate(self, transport: Transport) -> Peer | None:
        try:
            first = await asyncio.wait_for(transport.receive(), self.config.auth_timeout)
        except TimeoutError:
            await _refuse(transport, CloseCode.PROTOCOL_ERROR, "auth_timeout")
            return None
        if first is None:
            return None
        if _too_big(first, self.config.max_message_bytes):
            await _refuse(transport, CloseCode.MESSAGE_TOO_BIG)
            return None
        try:
            auth = protocol.parse(first)
        except InvalidMessage:
            auth = None
        if not isinstance(auth, protocol.Auth):
            await _refuse(transport, CloseCode.PROTOCOL_ERROR, "expected_auth")
            return None
        try:
            holder = await self.gate.verify(auth.ticket)
        except Exception as exc:
            for kind, code in _TICKET_CLOSES:
                if isinstance(exc, kind):
                    await _refuse(transport, code)
                    return None
            raise
        if await self.bus.is_revoked(holder.room_id, holder.ticket_id):
            await _refuse(transport, CloseCode.TICKET_REVOKED)
            return None
        admitted = holder.role is RoomRole.HOST or await self.bus.is_admitted(
            holder.room_id, holder.participant_id
        )
        return Peer(
            holder=holder,
            conn=uuid.uuid4().hex,
            transport=transport,
            can_rollback=auth.can_rollback,
            state=Presence.INSIDE if admitted else Presence.WAITING,
            limit=self.config.outbox_size,
        )

    async def _enter(self, peer: Peer) -> None:
        room = peer.room
        members = await self.bus.members(room)
        waiting = [m for m in members if m.state is Presence.WAITING and m.id != peer.id]
        if peer.state is Presence.WAITING and len(waiting) >= self.config.max_waiting:
            peer.close(CloseCode.ROOM_FULL)
            return
        member = Member(
            id=peer.id,
            name=peer.holder.name,
            role=peer.holder.role.value,
            state=peer.state,
            conn=peer.conn,
            ticket=peer.holder.ticket_id,
            can_rollback=peer.can_rollback,
            seen=self._wall_clock(),
        )
        stale_before = self._wall_clock() - 3 * self.config.heartbeat_timeout
        accepted, previous = await self.bus.join(
            room, member, self.gate.max_participants, stale_before
        )
        if not accepted:
            peer.close(CloseCode.ROOM_FULL)
            return
        await self._register(peer)
        if previous is not None and previous.conn != peer.conn:
            await self.bus.publish(
                room, {"cmd": "kick", "to": peer.id, "conn": previous.conn, "code": 4006}
            )
        others = [m for m in await self.bus.members(room) if m.id != peer.id]
        peer.send(self._welcome(peer, others))
        if peer.state is Presence.INSIDE:
            await self._announce(peer)
        else:
            knock = {"type": "knock", "participant": member.public()}
            await self.bus.publish(room, {"to_role": "host", "msg": knock})

    def _welcome(self, peer: Peer, others: list[Member]) -> dict[str, Any]:
        welcome: dict[str, Any] = {
            "type": "welcome",
            "v": protocol.VERSION,
            "id": peer.id,
            "role": peer.holder.role.value,
            "name": peer.holder.name,
            "state": peer.state.value,
            "room": {"id": peer.room, "closes_at": peer.holder.closes_at.isoformat()},
            "heartbeat_seconds": self.config.heartbeat_interval,
            "max_message_bytes": self.config.max_message_bytes,
            "ice_servers": self.gate.ice_servers(peer.holder) if peer.inside else [],
            "participants": self._participants(peer, others) if peer.inside else [],
        }
        if peer.is_host:
            welcome["waiting"] = [m.public() for m in others if m.state is Presence.WAITING]
        return welcome

    def _participants(self, peer: Peer, others: list[Member]) -> list[dict[str, Any]]:
        return [
            {**m.public(), "polite": _polite(peer.can_rollback, m.can_rollback, True)}
            for m in others
            if m.state is Presence.INSIDE
        ]

    async def _announce(self, peer: Peer) -> None:
        member = {"id": peer.id, "name": peer.holder.name, "role": peer.holder.role.value}
        await self.bus.publish(
            peer.room,
            {
                "cmd": "joined",
                "except": peer.id,
                "peer": {**member, "media": peer.media},
                "can_rollback": peer.can_rollback,
            },
        )

    async def _read(self, peer: Peer) -> None:
        bucket = _TokenBucket(self.config.rate, self.config.burst)
        strikes = 0
        last_touch = time.monotonic()
        while peer.closing is None:
            peer.reading = True
            try:
                text = await peer.transport.receive()
            except asyncio.CancelledError:
                if peer.closing is None or peer.reader is None:
                    raise
                peer.reader.uncancel()  # stopped by `_close_socket`, not by the server
                return
            finally:
                peer.reading = False
            if text is None:
                return
            peer.last_heard = time.monotonic()
            # Buffered messages are received without suspending: let the writers (this
            # connection's own included) and the other connections run between two of them.
            await asyncio.sleep(0)
            if _too_big(text, self.config.max_message_bytes):
                peer.close(CloseCode.MESSAGE_TOO_BIG)
                return
            if not bucket.take():
                strikes += 1
                if strikes > self.config.max_strikes:
                    peer.close(CloseCode.RATE_LIMITED)
                    return
                if strikes == 1 or strikes % 20 == 0:
                    peer.send(protocol.error("rate_limited", "Too many messages; slow down."))
                continue
            try:
                message = protocol.parse(text)
            except InvalidMessage as exc:
                peer.send(protocol.error("invalid_message", exc.detail))
                continue
            # Often enough that a member of a crashed process goes stale after three
            # heartbeat timeouts, and no more often: with Redis each refresh is a round trip.
            if time.monotonic() - last_touch > self.config.heartbeat_timeout:
                last_touch = time.monotonic()
                # In the background: the message must not wait for a round trip to Redis.
                self._spawn(self._touch(peer))
            try:
                await self._handle(peer, message)
            except Exception:
                log.exception("signaling: %s in room %s failed", message.type, peer.room)
                peer.send(protocol.error("unavailable", "Not done; please try again."))

    async def _handle(self, peer: Peer, message: protocol.ClientMessage) -> None:
        room = peer.room
        match message:
            case protocol.Ping():
                peer.send({"type": "pong"})
            case protocol.Offer() | protocol.Answer() | protocol.Candidate():
                if not peer.inside:
                    peer.send(protocol.error("not_admitted", "Wait until you are let in."))
                elif message.to == peer.id:
                    peer.send(protocol.error("unknown_peer", "You cannot signal yourself."))
                else:
                    relayed = message.model_dump(exclude={"to"})
                    relayed["from"] = peer.id
                    target = self._rooms[room].get(message.to)
                    if target is not None:
                        # Connected here, so this is its current connection: no need to go
                        # through the bus (with Redis, a round trip per candidate).
                        if target.inside:
                            target.send(relayed)
                    else:
                        await self.bus.publish(room, {"to": message.to, "relay": relayed})
            case protocol.Media():
                if peer.inside:
                    peer.media = message.model_dump(exclude={"type"})
                    await self.bus.update(room, peer.id, peer.conn, media=peer.media)
                    media = {"type": "media", "from": peer.id, **peer.media}
                    await self.bus.publish(room, {"except": peer.id, "msg": media})
            case protocol.Chat() | protocol.Typing():
                if not peer.inside:
                    peer.send(protocol.error("not_admitted", "Wait until you are let in."))
                else:
                    text = {
                        "type": message.type,
                        "from": peer.id,
                        "name": peer.holder.name,
                        "text": message.text,
                    }
                    if isinstance(message, protocol.Chat):
                        # A sent message comes back to its sender too, as its confirmation.
                        text["at"] = datetime.now(UTC).isoformat(timespec="seconds")
                        await self.bus.publish(room, {"msg": text})
                    else:  # a draft, as it is typed: only for the others
                        await self.bus.publish(room, {"except": peer.id, "msg": text})
            case protocol.Leave():
                peer.close(CloseCode.NORMAL)
            case protocol.Auth():
                peer.send(protocol.error("already_authenticated", "Already authenticated."))
            case _ if not peer.is_host:
                peer.send(protocol.error("forbidden", "Only the host may do this."))
            case protocol.Admit():
                await self._admit(peer, message.id)
            case protocol.Deny() | protocol.Remove():
                code = CloseCode.DENIED if isinstance(message, protocol.Deny) else CloseCode.REMOVED
                await self._expel(peer, message.id, code)
            case protocol.End():
                await self.gate.end(room)
                await self.bus.publish(room, {"cmd": "end"})

    async def _admit(self, host: Peer, member_id: str) -> None:
        outcome = await self.bus.admit(host.room, member_id, self.gate.max_participants)
        if outcome is Admission.ADMITTED:
            await self.bus.publish(host.room, {"cmd": "admitted", "to": member_id})
        elif outcome is Admission.FULL:
            host.send(protocol.error("room_full", "The room is full.", id=member_id))
        else:
            host.send(protocol.error("unknown_peer", "Nobody with this id is here.", id=member_id))

    async def _expel(self, host: Peer, member_id: str, code: CloseCode) -> None:
        if member_id == host.id or not await self.expel(host.room, member_id, code):
            host.send(protocol.error("unknown_peer", "Nobody with this id can be removed."))

    async def expel(self, room: str, member_id: str, code: CloseCode) -> bool:
        """Send a guest out of a room, on whichever process it is connected."""
        target = next((m for m in await self.bus.members(room) if m.id == member_id), None)
        await self.bus.forget(room, member_id)
        if target is None or target.role == RoomRole.HOST:
            return False
        # The ticket dies with the expulsion: a new one means waiting to be let in again.
        await self.bus.revoke(room, target.ticket, self._wall_clock() + 24 * 3600)
        await self.bus.publish(
            room, {"cmd": "kick", "to": member_id, "conn": target.conn, "code": int(code)}
        )
        return True

    async def _depart(self, peer: Peer) -> None:
        self._unregister(peer)
        with contextlib.suppress(Exception):
            removed = await self.bus.leave(peer.room, peer.id, peer.conn)
            if removed is None:
                return  # replaced by a newer connection, which announced itself
            if removed.state is Presence.INSIDE:
                left = {"type": "peer-left", "id": peer.id}
                await self.bus.publish(peer.room, {"except": peer.id, "msg": left})
            else:
                gone = {"type": "waiting-left", "id": peer.id}
                await self.bus.publish(peer.room, {"to_role": "host", "msg": gone})

    async def _close_with_room(self, peer: Peer) -> None:
        delay = (peer.holder.closes_at - self.gate.clock()).total_seconds()
        await asyncio.sleep(max(delay, 0.0))
        peer.send({"type": "ended", "reason": "room_closed"})
        peer.close(CloseCode.ROOM_CLOSED)

    # -- delivery of bus events to the local connections -----------------------------------

    async def _register(self, peer: Peer) -> None:
        self._rooms.setdefault(peer.room, {})[peer.id] = peer
        self._conns[peer.conn] = peer
        await self._sync_subscription(peer.room)

    def _unregister(self, peer: Peer) -> None:
        self._conns.pop(peer.conn, None)
        local = self._rooms.get(peer.room)
        if local is not None and local.get(peer.id) is peer:
            del local[peer.id]
            if not local:
                del self._rooms[peer.room]
                self._spawn(self._sync_subscription(peer.room))

    async def _sync_subscription(self, room: str) -> None:
        """Subscribed to a room's events exactly while it has local connections. One lock,
        so a late unsubscribe can never overtake the subscribe of a new connection, and no
        connection goes on before the subscription is in place."""
        async with self._subscription_lock:
            wanted = room in self._rooms
            if wanted and room not in self._subscribed:
                await self.bus.subscribe(room, lambda event: self._deliver(room, event))
                self._subscribed.add(room)
            elif not wanted and room in self._subscribed:
                self._subscribed.discard(room)
                await self.bus.unsubscribe(room)

    def _deliver(self, room: str, event: Event) -> None:
        local = self._rooms.get(room)
        if not local:
            return
        if "relay" in event:
            target = local.get(event["to"])
            if target is not None and target.inside:
                target.send(event["relay"])
            return
        command = event.get("cmd")
        if command is not None:
            self._command(room, local, command, event)
            return
        text = _dumps(event["msg"])
        to, excluded, role = event.get("to"), event.get("except"), event.get("to_role")
        for peer in list(local.values()):
            if (to is not None and peer.id != to) or peer.id == excluded:
                continue
            if role == "host" and not peer.is_host:
                continue
            if role is None and not peer.inside:
                continue
            peer.send(text)

    def _command(self, room: str, local: dict[str, Peer], command: str, event: Event) -> None:
        if command == "joined":
            newcomer = event["peer"]
            for peer in list(local.values()):
                if peer.id != event["except"] and peer.inside:
                    polite = _polite(peer.can_rollback, event["can_rollback"], False)
                    peer.send({"type": "peer-joined", "peer": newcomer, "polite": polite})
        elif command == "kick":
            target = self._conns.get(event["conn"])
            if target is not None:
                target.close(CloseCode(event["code"]))
        elif command == "admitted":
            target = local.get(event["to"])
            # Only a waiting peer: admitting one inside again (a second host, a double click,
            # a host admitting itself) would announce it anew and restart every call with it.
            if target is not None and target.state is Presence.WAITING and target.closing is None:
                target.state = Presence.INSIDE
                self._spawn(self._welcome_in(target))
        elif command == "end":
            for peer in list(local.values()):
                peer.send({"type": "ended", "reason": "ended_by_host"})
                peer.close(CloseCode.ENDED)

    async def _welcome_in(self, peer: Peer) -> None:
        others = [m for m in await self.bus.members(peer.room) if m.id != peer.id]
        peer.send(
            {
                "type": "admitted",
                "participants": self._participants(peer, others),
                "ice_servers": self.gate.ice_servers(peer.holder),
            }
        )
        await self._announce(peer)

    async def _touch(self, peer: Peer) -> None:
        try:
            await self.bus.update(peer.room, peer.id, peer.conn, seen=self._wall_clock())
        except Exception:  # the next sign of life tries again
            log.warning("signaling: could not refresh %s in room %s", peer.id, peer.room)

    def _watch(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = self._spawn(self._watchdog_loop())

    async def _watchdog_loop(self) -> None:
        """Close connections that went silent or stopped reading, a few times a second."""
        while True:
            config = self.config
            await asyncio.sleep(min(1.0, config.heartbeat_timeout / 4, config.send_timeout / 4))
            now = time.monotonic()
            for peer in list(self._conns.values()):
                if (
                    peer.sending_since is not None
                    and now - peer.sending_since > config.send_timeout
                ):
                    peer.abort(CloseCode.TOO_SLOW)
                elif now - peer.last_heard > config.heartbeat_timeout:
                    peer.close(CloseCode.HEARTBEAT_TIMEOUT)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def _refuse(transport: Transport, code: CloseCode, reason: str | None = None) -> None:
    with contextlib.suppress(Exception):
        await transport.close(code, reason or code.reason)
