"""Redis restarts under a running call (it keeps nothing on disk, so the rooms' state in it is
gone): the signaling server notices when its subscription comes back, puts the resume keys of
the participants let in back into Redis and closes their connections with 1013. They reconnect
at once and the room is whole again: the guest let in before is straight back inside without
the host, and messages are relayed as before.

The test runs a Redis server of its own (tests/own_redis.py), which it may stop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import REQUEST_TIMEOUT, Server, StaffApi
from signaling.client import SignalingClient, SignalingClosed
from tests.e2e.video import guest_ticket, host_ticket, open_room
from tests.own_redis import OwnRedis

pytestmark = pytest.mark.timeout(90)


async def _next(client: SignalingClient, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message = await client.receive()
            if message["type"] == kind:
                return message


async def _closed(client: SignalingClient) -> int | None:
    try:
        async with asyncio.timeout(15):
            while True:
                await client.receive()
    except SignalingClosed as closed:
        return closed.code


def test_after_a_redis_restart_everyone_reconnects_into_a_whole_room(
    database_url: str, own_redis: OwnRedis, tmp_path: Path
):
    env = {"SPRECHSTUNDE_REDIS_URL": own_redis.url}
    with Server(database_url, tmp_path / "server", extra_env=env, migrate=False) as server:
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
            staff = StaffApi.bootstrap(server, http)
            room = open_room(http, staff)
            host_pass = host_ticket(http, staff, room)
            guest_pass = guest_ticket(http, room.guest_link, "Erika")
        url = host_pass["signaling_url"]

        async def scenario() -> None:
            host = await SignalingClient.connect(url, host_pass["ticket"])
            guest = await SignalingClient.connect(url, guest_pass["ticket"])
            knock = await _next(host, "knock")
            await host.send({"type": "admit", "id": knock["participant"]["id"]})
            await _next(guest, "admitted")
            assert guest.resume is not None

            own_redis.stop()
            own_redis.start()  # empty: rooms, members and resume keys are gone
            codes = await asyncio.gather(_closed(host), _closed(guest))
            assert codes == [1013, 1013]

            host = await SignalingClient.connect(url, host_pass["ticket"])
            guest = await SignalingClient.connect(url, guest_pass["ticket"], resume=guest.resume)
            assert guest.welcome["state"] == "inside"
            assert host.welcome["state"] == "inside"
            await guest.send({"type": "offer", "to": host.id, "sdp": "v=0"})
            offer = await _next(host, "offer")
            assert offer["from"] == guest.id
            await host.close()
            await guest.close()

        asyncio.run(scenario())
        assert "the bus reconnected; 2 connections reconnect too" in server.log()
