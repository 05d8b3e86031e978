"""The signaling server's I/O: one `serve` per WebSocket, rooms kept in step through the bus.

The rules are in `signaling.core`. The hub reads frames, bus events and the clocks, hands them
to the core and performs the effects it returns, in order (`_perform`). Each connection has
its own bounded outbox and writer task, so one slow reader never holds up the room; a
watchdog enforces the heartbeat and send deadlines. Whatever a client sends, the worst it can
do is close its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from signaling import protocol
from signaling.bus import Bus
from signaling.core import AUTH_TIMEOUT, Core, HubConfig, ticket_refusal
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
    Share,
    TakeSeat,
    Touch,
    UpdateMedia,
)
from signaling.events import Event
from signaling.gate import Gate
from signaling.protocol import CloseCode, ServerMessage
from signaling.state import Room, Seat

log = logging.getLogger("sprechstunde.signaling")


class Transport(Protocol):
    """One WebSocket, as the hub needs it."""

    async def receive(self) -> str | bytes | None:
        """The next message, or None once the client has gone."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(eq=False)
class _Close:
    code: CloseCode


@dataclass(eq=False)
class Peer:
    """One local connection: its seat, and the socket, outbox and tasks around it."""

    seat: Seat
    transport: Transport
    limit: int
    _outbox: deque[str | _Close] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The task reading this connection, and whether it is waiting for the client right now.
    reader: asyncio.Task[Any] | None = None
    reading: bool = False
    writer: asyncio.Task[None] | None = None
    # Monotonic seconds since when a send is pending: the watchdog's send deadline, which is
    # much cheaper than a timeout around every single send.
    sending_since: float | None = None

    @property
    def id(self) -> str:
        return self.seat.id

    @property
    def closing(self) -> CloseCode | None:
        return self.seat.closing

    def send(self, message: ServerMessage) -> bool:
        """Queue a message; False (and the connection closing) if the reader is too slow."""
        if self.seat.closing is not None:
            return False
        if len(self._outbox) >= self.limit:
            self.close(CloseCode.TOO_SLOW)
            return False
        self._outbox.append(json.dumps(message, separators=(",", ":"), ensure_ascii=False))
        self._ready.set()
        return True

    def close(self, code: CloseCode) -> None:
        """Close after what is queued has gone out."""
        if self.seat.closing is None:
            self.seat.closing = code
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
            await self._close_socket(self.seat.closing or CloseCode.TOO_SLOW, close_timeout)

    def abort(self, code: CloseCode) -> None:
        """Close now, without waiting for what is queued (the client is not reading)."""
        self.seat.closing = self.seat.closing or code
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


class Hub:
    def __init__(
        self,
        bus: Bus,
        gate: Gate,
        config: HubConfig | None = None,
        wall_clock: Callable[[], float] = time.time,
        observe: Callable[[int, int], None] | None = None,
    ) -> None:
        self.bus = bus
        self.gate = gate
        self._core = Core(config or HubConfig())
        self._wall_clock = wall_clock
        # Told the open connections and the rooms with one of them here at each change (the
        # app's metrics): counted where they change, each process its own.
        self._observe = observe
        self._rooms: dict[str, Room] = {}
        self._conns: dict[str, Peer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # room -> the participants whose relays this process receives
        self._subscribed: dict[str, frozenset[str]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._subscription_lock = asyncio.Lock()

    @property
    def config(self) -> HubConfig:
        return self._core.config

    @config.setter
    def config(self, config: HubConfig) -> None:
        self._core.config = config

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.bus.on_reconnect(self._recover)
        await self.bus.start()

    async def _recover(self) -> None:
        """The bus had lost its subscriptions (Redis restarted, or the link to it broke): what
        the rooms said meanwhile is lost, and after a restart so is their state. Each admitted
        participant's resume key goes back into the bus, then every local connection is closed
        with 1013: the clients reconnect at once and the rooms are seated anew from what they
        say, guests let in before straight back inside. Media goes on meanwhile: it never
        passes through here."""
        peers = list(self._conns.values())
        log.warning("signaling: the bus reconnected; %d connections reconnect too", len(peers))
        for peer in peers:
            if peer.seat.resume is not None:
                try:
                    await self.bus.restore(peer.seat.room, peer.seat.id, peer.seat.resume)
                except Exception:
                    log.exception("signaling: resume key of %s not restored", peer.seat.conn)
        for peer in peers:
            peer.close(CloseCode.TRY_AGAIN_LATER)

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

    @property
    def rooms(self) -> int:
        """Rooms with a connection on this process."""
        return len(self._rooms)

    def _changed(self) -> None:
        if self._observe is not None:
            self._observe(len(self._conns), len(self._rooms))

    async def expel(self, room: str, member_id: str, code: CloseCode) -> None:
        """Send a guest out of a room, on whichever process it is connected."""
        await self._expel(room, member_id, code, None)

    # -- one connection --------------------------------------------------------------------

    async def serve(self, transport: Transport) -> None:
        peer = await self._authenticate(transport)
        if peer is None:
            return
        seat = peer.seat
        self._conns[seat.conn] = peer
        self._changed()
        writer = peer.writer = asyncio.create_task(peer.write(self.config.send_timeout))
        self._watch()
        closer = self._spawn(self._close_with_room(peer))
        peer.reader = asyncio.current_task()
        try:
            members = await self.bus.members(seat.room)
            await self._perform(seat.room, self._core.enter(seat, members, self._wall_clock()))
            await self._read(peer)
        except Exception:
            # The bus (Redis) failed under this connection: the client may try again.
            log.exception("signaling connection %s in room %s failed", seat.conn, seat.room)
            peer.close(CloseCode.TRY_AGAIN_LATER)
        finally:
            closer.cancel()
            await self._depart(peer)
            peer.close(seat.closing or CloseCode.NORMAL)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer, self.config.send_timeout)

    async def _authenticate(self, transport: Transport) -> Peer | None:
        try:
            first = await asyncio.wait_for(transport.receive(), self.config.auth_timeout)
        except TimeoutError:
            await _refuse(transport, AUTH_TIMEOUT)
            return None
        if first is None:
            return None
        auth = self._core.authenticate(first)
        if isinstance(auth, Refusal):
            await _refuse(transport, auth)
            return None
        try:
            holder = await self.gate.verify(auth.ticket)
        except Exception as exc:
            refusal = ticket_refusal(exc)
            if refusal is None:
                raise
            await _refuse(transport, refusal)
            return None
        seat = self._core.arrive(
            holder,
            auth,
            uuid.uuid4().hex,
            revoked=await self.bus.is_revoked(holder.room_id, holder.ticket_id),
            resume=await self.bus.resume_key(holder.room_id, holder.participant_id),
            now=time.monotonic(),
        )
        if isinstance(seat, Refusal):
            await _refuse(transport, seat)
            return None
        return Peer(seat, transport, self.config.outbox_size)

    async def _read(self, peer: Peer) -> None:
        seat = peer.seat
        while seat.closing is None:
            peer.reading = True
            try:
                text = await peer.transport.receive()
            except asyncio.CancelledError:
                if seat.closing is None or peer.reader is None:
                    raise
                peer.reader.uncancel()  # stopped by `_close_socket`, not by the server
                return
            finally:
                peer.reading = False
            if text is None:
                return
            now = time.monotonic()
            # Buffered messages are received without suspending: let the writers (this
            # connection's own included) and the other connections run between two of them.
            await asyncio.sleep(0)
            message = self._core.receive(seat, text, now)
            if isinstance(message, list):
                await self._perform(seat.room, message)
                continue
            # A connection replaced here, whose successor has gone already, has no room left.
            room = self._rooms.get(seat.room) or Room(seat.room)
            try:
                # `_perform` unrolled: one coroutine less for every message.
                for effect in self._core.handle(room, seat, message, now, self._wall_clock()):
                    if not self._act(effect):
                        await self._call(seat.room, effect)
            except Exception:
                log.exception("signaling: %s in room %s failed", message.type, seat.room)
                peer.send(protocol.error("unavailable", "Not done; please try again."))

    async def _depart(self, peer: Peer) -> None:
        seat = peer.seat
        self._conns.pop(seat.conn, None)
        room = self._rooms.get(seat.room)
        if room is not None and room.vacate(seat):
            if room.empty:
                del self._rooms[seat.room]
            self._spawn(self._sync_subscription(seat.room))
        self._changed()
        with contextlib.suppress(Exception):
            removed = await self.bus.leave(seat.room, seat.id, seat.conn)
            await self._perform(seat.room, self._core.departed(seat, removed))

    async def _close_with_room(self, peer: Peer) -> None:
        delay = (peer.seat.holder.closes_at - self.gate.clock()).total_seconds()
        await asyncio.sleep(max(delay, 0.0))
        for effect in self._core.room_closed(peer.seat):
            self._act(effect)

    # -- effects ---------------------------------------------------------------------------

    async def _perform(self, room: str, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if not self._act(effect):
                await self._call(room, effect)

    def _act(self, effect: Effect) -> bool:
        """Perform a `Send` or `Close` at once (the outbox takes it); False for the others."""
        if isinstance(effect, Send):
            peer = self._conns.get(effect.conn)
            if peer is not None:
                peer.send(effect.message)
            return True
        if isinstance(effect, Close):
            peer = self._conns.get(effect.conn)
            if peer is not None:
                peer.close(effect.code)
            return True
        return False

    async def _call(self, room: str, effect: Effect) -> None:
        """Perform an effect on the bus or the gate, and what the core makes of the answer."""
        core, bus = self._core, self.bus
        match effect:
            case Publish(event):
                await bus.publish(room, event)
            case Join(member, stale_before):
                limit = self.gate.max_participants
                seating = await bus.join(room, member, limit, stale_before)
                seat = self._conns[member.conn].seat
                await self._perform(room, core.joined(seat, seating))
            case TakeSeat(conn):
                seat = self._conns[conn].seat
                local = self._rooms.get(room)
                if local is None:
                    local = self._rooms[room] = Room(room)
                local.take(seat)
                self._changed()
                await self._sync_subscription(room)
            case Greet(conn) | LetIn(conn):
                peer = self._conns.get(conn)
                if peer is None:
                    return  # gone meanwhile: nobody to greet, nothing to announce
                members = await bus.members(room)
                ice_servers = self.gate.ice_servers(peer.seat.holder)
                shared = await bus.shared(room)
                meet = core.welcome if isinstance(effect, Greet) else core.let_in
                await self._perform(room, meet(peer.seat, members, ice_servers, shared))
            case Admit(member_id, host):
                resume = secrets.token_urlsafe(24)
                result = await bus.admit(room, member_id, self.gate.max_participants, resume)
                await self._perform(room, core.admission(host, member_id, result, resume))
            case Expel(member_id, code, host):
                await self._expel(room, member_id, code, host)
            case UpdateMedia(member_id, conn, media):
                await bus.update(room, member_id, conn, media=media)
            case Touch(member_id, conn, seen):
                # In the background: the message must not wait for a round trip to Redis.
                self._spawn(self._touch(room, member_id, conn, seen))
            case Forget(member_id):
                await bus.forget(room, member_id)
            case Revoke(ticket, until):
                await bus.revoke(room, ticket, until)
            case Share(view):
                await bus.share(room, view)
            case EndRoom():
                await self.gate.end(room)

    async def _expel(self, room: str, member_id: str, code: CloseCode, by: str | None) -> None:
        members = await self.bus.members(room)
        effects = self._core.expel(members, member_id, code, self._wall_clock(), by)
        await self._perform(room, effects)

    async def _touch(self, room: str, member_id: str, conn: str, seen: float) -> None:
        try:
            await self.bus.update(room, member_id, conn, seen=seen)
        except Exception:  # the next sign of life tries again
            log.warning("signaling: could not refresh %s in room %s", member_id, room)

    # -- the rooms' channels ---------------------------------------------------------------

    async def _sync_subscription(self, room: str) -> None:
        """Subscribed to a room's events exactly while it has local connections, and to the
        relays for exactly the participants connected here. One lock, so a late unsubscribe
        can never overtake the subscribe of a new connection, and no connection goes on
        before the subscription is in place."""
        async with self._subscription_lock:
            local = self._rooms.get(room)
            wanted = frozenset(seat.id for seat in local.all_seats()) if local else None
            if wanted == self._subscribed.get(room):
                return
            if wanted is None:
                del self._subscribed[room]
                await self.bus.unsubscribe(room)
            else:
                await self.bus.subscribe(room, lambda event: self._deliver(room, event), wanted)
                self._subscribed[room] = wanted

    def _deliver(self, room: str, event: Event) -> None:
        local = self._rooms.get(room)
        if local is None:
            return
        # Called by the bus, which waits for nobody: what needs a round trip goes on by itself.
        later = [effect for effect in self._core.deliver(local, event) if not self._act(effect)]
        if later:
            self._spawn(self._perform(room, later))

    # -- deadlines -------------------------------------------------------------------------

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
                else:
                    for effect in self._core.expired(peer.seat, now):
                        self._act(effect)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def _refuse(transport: Transport, refusal: Refusal) -> None:
    with contextlib.suppress(Exception):
        await transport.close(refusal.code, refusal.reason)
