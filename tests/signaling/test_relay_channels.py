"""Relays across two processes on Redis go to the recipient's process only: each hub listens
to the relay channels of exactly the participants connected to it, from before they are
greeted until they leave."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from rooms.access import RoomRole
from signaling.hub import Hub
from tests.signaling.harness import WAIT, Client, FakeGate, finish, two_processes

REDIS_URL = os.environ.get("SPRECHSTUNDE_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not REDIS_URL, reason="needs SPRECHSTUNDE_TEST_REDIS_URL"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def hubs() -> AsyncIterator[tuple[Hub, Hub, FakeGate, Redis, str]]:
    assert REDIS_URL
    gate = FakeGate()
    async with two_processes(gate) as (first, second, prefix):
        redis = Redis.from_url(REDIS_URL, decode_responses=True)
        yield first, second, gate, redis, f"{prefix}:room:room-a"
        await redis.aclose()


async def _listeners(redis: Redis, room: str, *names: str) -> dict[str, int]:
    channels = [f"{room}:{name}" for name in names]
    counts = dict(await redis.pubsub_numsub(*channels))
    return {name: counts[channel] for name, channel in zip(names, channels, strict=True)}


async def _joined(hub: Hub, gate: FakeGate, participant: str) -> Client:
    client = Client(hub, gate.issue("room-a", participant, RoomRole.HOST))
    assert (await client.receive())["type"] == "welcome"
    return client


async def test_a_relay_goes_on_the_recipients_channel_to_its_process(hubs: Any) -> None:
    first, second, gate, redis, room = hubs
    here = await _joined(first, gate, "staff-1")
    there = await _joined(second, gate, "staff-2")
    assert (await here.receive())["type"] == "peer-joined"
    watcher = redis.pubsub()
    await watcher.psubscribe(f"{room}:*")
    assert (await watcher.get_message(timeout=WAIT))["type"] == "psubscribe"

    there.send({"type": "offer", "to": "staff-1", "sdp": "v=0"})

    assert await here.receive() == {"type": "offer", "from": "staff-2", "sdp": "v=0"}
    published = await watcher.get_message(timeout=WAIT)
    assert published["channel"] == f"{room}:to:staff-1"
    assert await watcher.get_message(timeout=0.2) is None  # on no other channel
    await watcher.aclose()
    await finish(here, there)


async def test_a_process_listens_for_exactly_the_participants_connected_to_it(
    hubs: Any,
) -> None:
    first, second, gate, redis, room = hubs
    one = await _joined(first, gate, "staff-1")
    three = await _joined(first, gate, "staff-3")
    two = await _joined(second, gate, "staff-2")
    names = ("events", "to:staff-1", "to:staff-2", "to:staff-3")
    assert await _listeners(redis, room, *names) == dict(zip(names, (2, 1, 1, 1), strict=True))

    await finish(one)
    async with asyncio.timeout(WAIT):
        while (await _listeners(redis, room, "to:staff-1"))["to:staff-1"]:
            await asyncio.sleep(0.01)
    assert await _listeners(redis, room, *names) == dict(zip(names, (2, 0, 1, 1), strict=True))

    await finish(three, two)
    async with asyncio.timeout(WAIT):
        while any((await _listeners(redis, room, *names)).values()):
            await asyncio.sleep(0.01)
