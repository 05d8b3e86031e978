"""What the signaling tests share: bounded reads on the app's WebSocket test client, and the
hub with an in-memory WebSocket and gate (for what a real socket cannot do on demand, such as
a reader that stalls, and for fuzzing at hundreds of cases a second)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from rooms.access import Pass, RoomRole
from rooms.errors import RoomClosed, TicketInvalid
from signaling.hub import Hub
from signaling.redis_bus import RedisBus
from tests.conftest import REDIS_URL

WAIT = 3.0  # seconds: every wait for the server is bounded
# A Redis bus delivers events asynchronously: silence is only silence after a moment.
SETTLE = 0.1 if REDIS_URL else 0.0


# -- through the app ---------------------------------------------------------------------------


def receive(socket: WebSocketTestSession, timeout: float = WAIT) -> dict[str, Any]:
    """The next message within `timeout` (TimeoutError otherwise); WebSocketDisconnect with
    the close code once the server has closed the connection."""

    async def next_message() -> Any:
        with anyio.fail_after(timeout):
            # The session's own receive() waits forever; this is the same stream, bounded.
            return await socket._send_rx.receive()

    message = socket.portal.call(next_message)
    socket._raise_on_close(message)
    return json.loads(message["text"])


def close_code(socket: WebSocketTestSession, timeout: float = WAIT) -> int:
    """The code the server closes with; then the client's side of the closing handshake,
    as a browser does it."""
    with pytest.raises(WebSocketDisconnect) as closed:
        receive(socket, timeout)
    socket.close()
    return closed.value.code


def drain(socket: WebSocketTestSession) -> list[dict[str, Any]]:
    """Everything sent to `socket` before the answer to a ping now, and, with a Redis bus,
    until nothing more comes for a moment."""
    socket.send_json({"type": "ping"})
    messages = []
    while (message := receive(socket))["type"] != "pong":
        messages.append(message)
        assert len(messages) < 100
    if SETTLE:
        with contextlib.suppress(TimeoutError):
            while len(messages) < 100:
                messages.append(receive(socket, SETTLE))
    return messages


# -- the hub with an in-memory WebSocket -------------------------------------------------------


class FakeGate:
    """Like `signaling.gate.Gate`, with the tickets it issued in a dictionary."""

    def __init__(self, max_participants: int = 4) -> None:
        self.max_participants = max_participants
        self.now = datetime(2031, 1, 7, 9, 0, tzinfo=UTC)
        self.ended: set[str] = set()
        self._passes: dict[str, Pass] = {}

    def clock(self) -> datetime:
        return self.now

    def issue(self, room: str, participant: str, role: RoomRole = RoomRole.GUEST) -> str:
        ticket = secrets.token_urlsafe(9)
        expires, closes = self.now + timedelta(minutes=10), self.now + timedelta(hours=1)
        self._passes[ticket] = Pass(room, participant, role, participant, ticket, expires, closes)
        return ticket

    async def verify(self, ticket: str) -> Pass:
        holder = self._passes.get(ticket)
        if holder is None:
            raise TicketInvalid("unknown ticket")
        if holder.room_id in self.ended:
            raise RoomClosed(closes_at=holder.closes_at)
        return holder

    async def end(self, room_id: str) -> None:
        self.ended.add(room_id)

    def ice_servers(self, holder: Pass) -> list[dict[str, Any]]:
        return []


class Wire:
    """One WebSocket in memory. The client answers a close at once, as browsers do, unless it
    has stalled: then neither messages nor a close get through to it any more."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.waiting = False
        self.stalled = False
        self.stalled_close = False
        # A client that never completes the closing handshake.
        self.ignores_close = False
        self.changed = asyncio.Event()

    async def receive(self) -> str | bytes | None:
        self.waiting = True  # the hub is idle, waiting for the client
        try:
            return await self.inbox.get()
        finally:
            self.waiting = False

    async def send(self, text: str) -> None:
        if self.stalled:
            await asyncio.get_running_loop().create_future()  # forever
        self.sent.append(json.loads(text))
        self.changed.set()

    async def close(self, code: int, reason: str) -> None:
        if self.stalled_close:
            await asyncio.get_running_loop().create_future()
        if self.closed is None:
            self.closed = code
            if not self.ignores_close:
                self.inbox.put_nowait(None)
            self.changed.set()


class Client:
    """A participant on a `Wire`, authenticated with `ticket`."""

    def __init__(self, hub: Hub, ticket: str, **auth: Any) -> None:
        self.wire = Wire()
        self.wire.inbox.put_nowait(json.dumps({"type": "auth", "ticket": ticket, **auth}))
        self.task = asyncio.ensure_future(hub.serve(self.wire))
        self.id = ""
        self._read = 0

    def send(self, message: dict[str, Any]) -> None:
        self.wire.inbox.put_nowait(json.dumps(message))

    async def receive(self, timeout: float = WAIT) -> dict[str, Any] | None:
        """The next message; None once the connection is closed and all was read."""
        async with asyncio.timeout(timeout):
            while self._read == len(self.wire.sent):
                if self.wire.closed is not None or self.task.done():
                    return None
                self.wire.changed.clear()
                await self.wire.changed.wait()
        self._read += 1
        message = self.wire.sent[self._read - 1]
        if message["type"] == "welcome":
            self.id = message["id"]
        return message

    async def drain(self) -> list[dict[str, Any]]:
        self.send({"type": "ping"})
        messages = []
        while (message := await self.receive()) != {"type": "pong"}:
            assert message is not None
            messages.append(message)
        return messages

    async def settle(self) -> None:
        """Until the hub has read all that was sent (or closed the connection), and what it
        then sent, here and to the others, has gone out."""
        async with asyncio.timeout(WAIT):
            while not (self.task.done() or (self.wire.inbox.empty() and self.wire.waiting)):
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # the writer tasks, and the tasks the hub spawned

    def unread(self) -> list[dict[str, Any]]:
        messages, self._read = self.wire.sent[self._read :], len(self.wire.sent)
        return messages


async def meeting(hub: Hub, gate: FakeGate, room: str = "room-a") -> tuple[Client, Client]:
    """A host (`staff-1`) and an admitted guest (`guest`) in `room`."""
    host = Client(hub, gate.issue(room, "staff-1", RoomRole.HOST))
    assert (await host.receive())["type"] == "welcome"
    guest = Client(hub, gate.issue(room, "guest"))
    assert (await guest.receive())["state"] == "waiting"
    assert (await host.receive())["type"] == "knock"
    host.send({"type": "admit", "id": "guest"})
    assert (await guest.receive())["type"] == "admitted"
    assert (await host.receive())["type"] == "peer-joined"
    return host, guest


async def finish(*clients: Client) -> None:
    """The clients go; their connections must end cleanly, and soon."""
    for client in clients:
        client.wire.inbox.put_nowait(None)
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(client.task for client in clients))


@contextlib.asynccontextmanager
async def two_processes(gate: FakeGate) -> AsyncIterator[tuple[Hub, Hub, str]]:
    """Two hubs on one Redis, as two server processes, and the key prefix of theirs alone."""
    assert REDIS_URL
    prefix = f"test-{uuid.uuid4().hex}"
    first = Hub(RedisBus(REDIS_URL, prefix=prefix), gate)
    second = Hub(RedisBus(REDIS_URL, prefix=prefix), gate)
    await first.start()
    await second.start()
    try:
        yield first, second, prefix
    finally:
        await first.stop()
        await second.stop()
