"""Two `sprechstunde serve` processes, one PostgreSQL database and one Redis: a host connected
to the one and a guest connected to the other still meet. The guest's knock reaches the host
across processes, the host's admission reaches the guest, offers and answers are relayed
through Redis, and video flows between aiortc peers in this test process.

Collected only with SPRECHSTUNDE_TEST_DATABASE_URL (PostgreSQL) and SPRECHSTUNDE_TEST_REDIS_URL
(see tests/e2e/conftest.py): two processes on one SQLite file, each with its in-memory bus,
cannot meet.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import REQUEST_TIMEOUT, Server, StaffApi
from signaling.client import SignalingClient, SignalingClosed
from tests.e2e.video import (
    FRAMES,
    enter,
    guest_ticket,
    host_ticket,
    let_everybody_in,
    links,
    open_room,
    see_each_other,
)

REDIS_URL = os.environ.get("SPRECHSTUNDE_TEST_REDIS_URL", "")
if not (
    REDIS_URL and os.environ.get("SPRECHSTUNDE_TEST_DATABASE_URL", "").startswith("postgresql")
):
    # Reached only when this file is named on the command line: conftest.py leaves it out.
    pytest.skip(
        "needs SPRECHSTUNDE_TEST_DATABASE_URL (PostgreSQL) and SPRECHSTUNDE_TEST_REDIS_URL",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.usefixtures("loopback_ice"), pytest.mark.timeout(120)]
CALL_TIMEOUT = 40.0
# Only the tokens' issuer and the links: nothing is ever sent there. The test plays the load
# balancer and sends each peer to a process of its choice.
PUBLIC_URL = "http://sprechstunde.test"
WEBSOCKET = '"WebSocket /ws/signaling" [accepted]'


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers on one database and one Redis, with one secret key and one public address
    between them, as behind a load balancer: what the one issues, the other accepts."""
    secret = secrets.token_urlsafe(32)
    env = {"SPRECHSTUNDE_REDIS_URL": REDIS_URL, "SPRECHSTUNDE_BASE_URL": PUBLIC_URL}
    with ExitStack() as stack:
        pair = tuple(
            stack.enter_context(
                Server(
                    database_url,
                    tmp_path / name,
                    secret_key=secret,
                    extra_env=env,
                    migrate=False,
                )
            )
            for name in ("a", "b")
        )
        try:
            yield pair  # type: ignore[misc]
        finally:
            for server in pair:  # shown only if the test fails
                print(f"---- server log ({server.log_path}) ----\n{server.log()[-10_000:]}")


def signaling(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/signaling"


def test_peers_on_two_processes_meet_and_exchange_video(servers):
    a, b = servers
    with (
        httpx.Client(base_url=a.base_url, timeout=REQUEST_TIMEOUT) as http_a,
        httpx.Client(base_url=b.base_url, timeout=REQUEST_TIMEOUT) as http_b,
    ):
        staff = StaffApi.bootstrap(a, http_a)
        room = open_room(http_a, staff)
        tickets = [host_ticket(http_a, staff, room), guest_ticket(http_b, room.guest_link, "Erika")]

    async def call() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with AsyncExitStack() as stack:
            host = await enter(stack, tickets[0], signaling(a), admit=let_everybody_in)
            guest = await enter(stack, tickets[1], signaling(b))
            await see_each_other([host, guest])
            return [host.client.welcome, guest.client.welcome], links([host, guest])

    (host_welcome, guest_welcome), seen = asyncio.run(asyncio.wait_for(call(), CALL_TIMEOUT))

    assert a.log().count(WEBSOCKET) == 1
    assert b.log().count(WEBSOCKET) == 1
    # Let in from the waiting room by a host on the other process.
    assert guest_welcome["state"] == "waiting"
    host, guest = host_welcome["id"], guest_welcome["id"]
    assert seen[guest][host]["sent"] == "offer"
    assert seen[host][guest]["sent"] == "answer"
    for mine, theirs in ((host, guest), (guest, host)):
        assert seen[mine][theirs]["connected"]
        assert seen[mine][theirs]["frames_received"] >= FRAMES


def test_a_second_device_on_the_other_process_waits_until_the_host_hands_over(servers):
    """The citizen is in the call through process A; the join link opened on another device
    reaches process B. It waits beside the citizen, the host on A hears it knock as a
    reconnect, and only the host's admission swaps the two, across Redis."""
    a, b = servers
    with (
        httpx.Client(base_url=a.base_url, timeout=REQUEST_TIMEOUT) as http_a,
        httpx.Client(base_url=b.base_url, timeout=REQUEST_TIMEOUT) as http_b,
    ):
        staff = StaffApi.bootstrap(a, http_a)
        room = open_room(http_a, staff)
        host_t = host_ticket(http_a, staff, room)["ticket"]
        laptop_t = guest_ticket(http_a, room.guest_link, "Erika")["ticket"]
        phone_t = guest_ticket(http_b, room.guest_link, "Erika")["ticket"]

    async def hand_over() -> None:
        async with AsyncExitStack() as stack:
            host = await stack.enter_async_context(
                await SignalingClient.connect(signaling(a), host_t)
            )
            laptop = await stack.enter_async_context(
                await SignalingClient.connect(signaling(a), laptop_t)
            )
            guest = (await host.receive())["participant"]["id"]  # the knock
            await host.send({"type": "admit", "id": guest})
            assert (await laptop.receive())["type"] == "admitted"
            assert (await host.receive())["type"] == "peer-joined"

            phone = await stack.enter_async_context(
                await SignalingClient.connect(signaling(b), phone_t)
            )
            assert phone.welcome["state"] == "waiting"
            knock = await host.receive()
            assert knock["type"] == "knock"
            assert (knock["participant"]["id"], knock["participant"]["reconnect"]) == (guest, True)
            # The laptop is still in the call: its chat reaches the host.
            await laptop.send({"type": "chat", "text": "noch da"})
            assert (await host.receive())["text"] == "noch da"
            assert (await laptop.receive())["text"] == "noch da"

            await host.send({"type": "admit", "id": guest})
            admitted = await phone.receive()
            assert admitted["type"] == "admitted"
            assert admitted["resume"] != laptop.resume
            joined = await host.receive()
            assert (joined["type"], joined["peer"]["id"]) == ("peer-joined", guest)
            with pytest.raises(SignalingClosed) as closed:
                await laptop.receive()
            assert closed.value.code == 4006
            await phone.send({"type": "chat", "text": "jetzt am Handy"})
            assert (await host.receive())["text"] == "jetzt am Handy"

    asyncio.run(asyncio.wait_for(hand_over(), CALL_TIMEOUT))
