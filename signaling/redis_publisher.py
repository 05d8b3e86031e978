"""Publishing on Redis with one connection that many messages share on the way.

redis-py sends a command on a connection taken from its pool and returns it once the answer
has been read. For a relayed candidate that was half of what a process spent on the
message: taking and giving back the connection and waiting for it on the pool's lock.
Here every `PUBLISH` is written at once to one connection of its own, behind those still
on their way (Redis answers in order), and one reader hands each answer to its publisher.
Whatever was written while the previous write drained goes out together.

If that connection breaks, the publishes waiting for an answer go again through the
regular client, which reconnects and retries as every other command does; so may one
message reach Redis twice, as with redis-py's own retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)


class ConnectionBroke(Exception):
    """The shared connection failed before this publish was answered."""


class Publisher:
    def __init__(self, client: Redis) -> None:
        self._client = client
        self._outgoing: list[tuple[str, bytes, asyncio.Future[int]]] = []
        self._pending: deque[asyncio.Future[int]] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._conn: AbstractConnection | None = None

    async def publish(self, channel: str, data: bytes) -> int:
        """Publish `data` on `channel`; how many subscriptions Redis handed it to."""
        answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._outgoing.append((channel, data, answered))
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="redis-publisher")
        try:
            return await answered
        except ConnectionBroke:
            return int(await self._client.publish(channel, data))

    async def close(self) -> None:
        for task in (self._writer, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._writer = self._reader = None
        await self._broken(ConnectionBroke("the publisher closed"))

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            # One turn of the loop: the publishes of the other connections' messages read in
            # the same turn go out in the same write, one system call for all of them.
            await asyncio.sleep(0)
            self._wake.clear()
            batch, self._outgoing = self._outgoing, []
            try:
                conn = await self._connected()
                # Answers come in the order of the commands: queued before the write, so the
                # reader finds them whenever the answer arrives.
                self._pending.extend(answered for _, _, answered in batch)
                commands = [("PUBLISH", channel, data) for channel, data, _ in batch]
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            except Exception as exc:
                for _, _, answered in batch:
                    if not answered.done():
                        answered.set_exception(ConnectionBroke(str(exc)))
                await self._broken(exc)

    async def _connected(self) -> AbstractConnection:
        if self._conn is None:
            pool = self._client.connection_pool
            # The reader waits for answers while nothing is on its way: no read timeout.
            conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
            await conn.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            self._conn = conn
            self._reader = asyncio.create_task(self._read(conn), name="redis-publisher-reader")
        return self._conn

    async def _read(self, conn: AbstractConnection) -> None:
        while True:
            try:
                receivers = await conn.read_response()
                error = None
            except ResponseError as exc:
                receivers, error = 0, exc
            except Exception as exc:
                if self._conn is conn:
                    self._reader = None
                    await self._broken(exc)
                return
            answered = self._pending.popleft()
            if answered.done():
                continue  # its publisher was cancelled
            if error is None:
                answered.set_result(int(receivers))
            else:
                answered.set_exception(error)

    async def _broken(self, exc: Exception) -> None:
        conn, self._conn = self._conn, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        pending, self._pending = self._pending, deque()
        for answered in pending:
            if not answered.done():
                answered.set_exception(ConnectionBroke(str(exc)))
        if conn is not None:
            log.warning("Redis bus: publishing connection lost (%s); reconnecting", exc)
            await conn.disconnect(nowait=True)
