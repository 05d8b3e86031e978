"""A signaling client for programs: the probe's peers and the end-to-end tests.

It speaks the protocol of `signaling.hub` over the `websockets` library: the ticket goes in the
first message (never in the URL, which ends up in logs), the server's `welcome` comes back,
and from then on the client sends a `ping` every `heartbeat_seconds` of the welcome (the hub
closes a silent connection with 4008) and swallows the `pong`s, so that iterating over the
client yields only the messages that mean something to a peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from signaling.protocol import CloseCode

# websockets 15 and later take a proxy from the environment unless told otherwise; a probe of
# a deployment (and every test, which must stay on 127.0.0.1) connects directly.
_DIRECT: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect.__init__).parameters else {}
)
Message = dict[str, Any]


class SignalingError(Exception):
    """The signaling connection failed or was closed by the server."""


class SignalingClosed(SignalingError):
    """The server closed the connection; `code` is one of `CloseCode` or a WebSocket code."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"signaling closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason


class SignalingClient:
    """One authenticated signaling connection. Use `SignalingClient.connect`."""

    def __init__(self, websocket: ClientConnection, welcome: Message) -> None:
        self._websocket = websocket
        self.welcome = welcome
        self._heartbeat: asyncio.Task[None] | None = None
        # The key of the last `welcome` or `admitted` that gave one: pass it to `connect` to
        # come back inside without the host.
        self.resume: str | None = welcome.get("resume")

    @classmethod
    async def connect(
        cls,
        url: str,
        ticket: str,
        *,
        can_rollback: bool = False,
        resume: str | None = None,
        timeout: float = 10.0,
    ) -> SignalingClient:
        """Connect, authenticate and wait for the welcome, all within `timeout` seconds.

        `can_rollback=False` (aiortc cannot roll back a local offer) makes the server give this
        peer the impolite role towards everyone. `resume`: the resume key of an earlier
        connection that was let in, so that this one comes back inside without the host.
        """
        async with asyncio.timeout(timeout):
            websocket = await connect(url, open_timeout=None, max_size=2**20, **_DIRECT)
            try:
                auth = {"type": "auth", "v": 1, "ticket": ticket, "can_rollback": can_rollback}
                if resume is not None:
                    auth["resume"] = resume
                await websocket.send(json.dumps(auth))
                welcome = await _receive(websocket)
            except BaseException:
                await _abort(websocket)
                raise
        if welcome.get("type") != "welcome":
            await _abort(websocket)
            raise SignalingError(f"expected a welcome, got {welcome.get('type')!r}")
        client = cls(websocket, welcome)
        client._heartbeat = asyncio.create_task(client._beat(float(welcome["heartbeat_seconds"])))
        return client

    @property
    def id(self) -> str:
        return str(self.welcome["id"])

    @property
    def close_code(self) -> int | None:
        return self._websocket.close_code

    async def send(self, message: Message) -> None:
        try:
            await self._websocket.send(json.dumps(message, separators=(",", ":")))
        except ConnectionClosed as exc:
            raise _closed(self._websocket) from exc

    async def receive(self) -> Message:
        """The next message other than a pong; `SignalingClosed` once the server has closed."""
        while True:
            message = await _receive(self._websocket)
            if message.get("type") == "admitted":
                self.resume = message.get("resume", self.resume)
            if message.get("type") != "pong":
                return message

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.receive()
            except SignalingClosed:
                return

    async def close(self, *, leave: bool = True, timeout: float = 2.0) -> None:
        """Say `leave` (the server then closes with 1000) and close; never raises."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                if leave:
                    with contextlib.suppress(ConnectionClosed):
                        await self._websocket.send('{"type":"leave"}')
                await self._websocket.close(CloseCode.NORMAL)
        await _abort(self._websocket)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _beat(self, interval: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                await self._websocket.send('{"type":"ping"}')


async def _receive(websocket: ClientConnection) -> Message:
    try:
        text = await websocket.recv()
    except ConnectionClosed as exc:
        raise _closed(websocket) from exc
    message = json.loads(text)
    if not isinstance(message, dict):
        raise SignalingError("the server sent something other than a JSON object")
    return message


def _closed(websocket: ClientConnection) -> SignalingClosed:
    return SignalingClosed(websocket.close_code, websocket.close_reason or "")


async def _abort(websocket: ClientConnection) -> None:
    # Closing can wait for the server's closing handshake; the transport goes regardless.
    websocket.transport.abort()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.wait_closed(), 1.0)
