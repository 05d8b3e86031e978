"""The Redis bus's publisher (`signaling.redis_publisher`) against a Redis server of the
test's own: publishes share one connection, each returns once Redis has it, and a broken
connection or a cancelled publisher loses nobody's message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError

from signaling.redis_publisher import Publisher

pytestmark = pytest.mark.anyio
CHANNEL = "test:publisher"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def clients(own_redis: Any) -> AsyncIterator[tuple[Redis, Publisher, Any]]:
    """A client, its publisher, and a subscription to CHANNEL that is in place."""
    client = Redis.from_url(own_redis.url)
    listener = Redis.from_url(own_redis.url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(CHANNEL)
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
    publisher = Publisher(client)
    yield client, publisher, pubsub
    await publisher.close()
    await pubsub.aclose()
    await listener.aclose()
    await client.aclose()


async def _received(pubsub: Any, count: int) -> list[bytes]:
    got: list[bytes] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            message = await pubsub.get_message(timeout=1)
            if message is not None and message["type"] == "message":
                got.append(message["data"])
    assert await pubsub.get_message(timeout=0.2) is None  # and nothing twice
    return got


async def _publishing_connections(admin: Redis) -> list[dict[str, Any]]:
    return [c for c in await admin.client_list() if c["cmd"] == "publish"]


async def test_concurrent_publishes_share_one_connection_and_keep_each_senders_order(clients):
    client, publisher, pubsub = clients

    async def sender(n: int) -> None:
        for i in range(50):
            await publisher.publish(CHANNEL, f"{n}:{i}".encode())

    await asyncio.gather(*(sender(n) for n in range(20)))
    assert await publisher.publish(CHANNEL, b"counted") == 1  # Redis's answer: one listener
    assert await publisher.publish("test:nobody", b"lost") == 0

    assert len(await _publishing_connections(client)) == 1
    got = [m.decode().split(":") for m in (await _received(pubsub, 1001))[:-1]]
    for n in range(20):
        assert [int(i) for s, i in got if s == str(n)] == list(range(50))


async def _pause(admin: Redis) -> None:
    """PUBLISH waits in Redis (CLIENT PAUSE WRITE holds it too) until `CLIENT UNPAUSE`."""
    await admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE")


async def test_a_publish_whose_connection_breaks_goes_again_through_the_pool(clients):
    client, publisher, pubsub = clients
    await publisher.publish(CHANNEL, b"first")
    (shared,) = await _publishing_connections(client)
    await _pause(client)
    waiting = asyncio.create_task(publisher.publish(CHANNEL, b"second"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # written, not answered
    await client.execute_command("CLIENT", "KILL", "ID", shared["id"])
    await client.execute_command("CLIENT", "UNPAUSE")
    async with asyncio.timeout(10):
        await waiting

    assert await _received(pubsub, 2) == [b"first", b"second"]
    await publisher.publish(CHANNEL, b"third")  # on a new shared connection
    assert [c["id"] for c in await _publishing_connections(client)] != [shared["id"]]
    assert await _received(pubsub, 1) == [b"third"]


async def test_a_cancelled_publish_leaves_the_others_and_the_connection_alone(clients):
    client, publisher, pubsub = clients
    await publisher.publish(CHANNEL, b"warm")
    (shared,) = await _publishing_connections(client)
    await _pause(client)
    first, cancelled, last = (
        asyncio.create_task(publisher.publish(CHANNEL, text)) for text in (b"a", b"b", b"c")
    )
    await asyncio.sleep(0.2)
    cancelled.cancel()
    await client.execute_command("CLIENT", "UNPAUSE")
    async with asyncio.timeout(10):
        await asyncio.gather(first, last)

    assert cancelled.cancelled()
    # Written before it was cancelled, so it went out; the answers still matched their senders.
    assert await _received(pubsub, 4) == [b"warm", b"a", b"b", b"c"]
    assert [c["id"] for c in await _publishing_connections(client)] == [shared["id"]]


async def test_with_redis_gone_a_publish_fails_and_the_next_one_after_a_restart_works(
    own_redis, clients
):
    client, publisher, _ = clients
    await publisher.publish(CHANNEL, b"before")
    own_redis.stop()
    with pytest.raises(ConnectionError):  # as every other command of the client
        await publisher.publish(CHANNEL, b"while down")
    own_redis.start()
    await publisher.publish(CHANNEL, b"after")
    assert len(await _publishing_connections(client)) == 1
