"""rooms.ice's credentials against a real coturn: two aiortc peers that may only use relay
candidates connect through it, and credentials it did not issue get no relay at all.

The peers exchange their SDP directly (aiortc gathers all candidates before
`setLocalDescription` returns, so no trickle and no signaling server). Every packet stays on
127.0.0.1: coturn listens and relays there, and `loopback_ice` keeps host candidates there too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)

from rooms.ice import IceConfig, IceServer, IceServers
from tests.rooms.conftest import HOST, Coturn

pytestmark = pytest.mark.usefixtures("loopback_ice")

# Connecting through coturn on loopback takes well under a second; the margin is for slow CI.
CONNECT_TIMEOUT = 15.0
# How long a peer with refused credentials gets to connect anyway.
REFUSED_TIMEOUT = 5.0


def real_clock() -> datetime:
    return datetime.now(UTC)


def ice_servers(
    coturn: Coturn, secret: str | None = None, clock: Callable[[], datetime] = real_clock
) -> IceServers:
    config = IceConfig(turn_urls=(coturn.turn_url,), turn_secret=secret or coturn.secret)
    return IceServers(config, clock)


def relay_only(servers: list[IceServer]) -> RTCConfiguration:
    # as_dict() is the JSON a browser gets; RTCIceServer takes exactly the same keys.
    return RTCConfiguration(
        iceServers=[RTCIceServer(**server.as_dict()) for server in servers],  # type: ignore[arg-type]
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


@asynccontextmanager
async def peer(servers: list[IceServer]) -> AsyncIterator[RTCPeerConnection]:
    connection = RTCPeerConnection(relay_only(servers))
    try:
        yield connection
    finally:
        await connection.close()


def watch_state(connection: RTCPeerConnection) -> asyncio.Queue[str]:
    states: asyncio.Queue[str] = asyncio.Queue()

    @connection.on("connectionstatechange")
    def changed() -> None:
        states.put_nowait(connection.connectionState)

    return states


async def settled(states: asyncio.Queue[str]) -> str:
    """The first of "connected", "failed" or "closed" the connection reaches."""
    while (state := await states.get()) not in {"connected", "failed", "closed"}:
        pass
    return state


def echo_back(connection: RTCPeerConnection) -> None:
    @connection.on("datachannel")
    def opened(channel: RTCDataChannel) -> None:
        @channel.on("message")
        def received(message: str | bytes) -> None:
            channel.send(f"echo {message!s}")


async def round_trip(channel: RTCDataChannel, message: str) -> str:
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[None] = loop.create_future()
    reply: asyncio.Future[str] = loop.create_future()
    channel.on("open", lambda: opened.set_result(None))
    channel.on("message", lambda data: reply.set_result(str(data)))
    if channel.readyState != "open":
        await opened
    channel.send(message)
    return await reply


async def negotiate(caller: RTCPeerConnection, callee: RTCPeerConnection) -> None:
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)


def candidate_lines(connection: RTCPeerConnection) -> list[str]:
    """The candidates this peer offered, as `a=candidate:` SDP lines."""
    sdp = connection.localDescription.sdp
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


def selected_pair_types(connection: RTCPeerConnection) -> tuple[str, str]:
    # aiortc has no getSelectedCandidatePair() and no candidate-pair stats in getStats(), so
    # this reads aioice's nominated pair (private) for component 1, the only one with bundling.
    ice = connection.sctp.transport.transport.iceGatherer._connection  # type: ignore[union-attr]
    pair = ice._nominated[1]
    return pair.local_candidate.type, pair.remote_candidate.type


async def call_through(coturn: Coturn) -> None:
    ice = ice_servers(coturn)
    async with peer(ice.for_participant("staff-7")) as caller, peer(
        ice.for_participant("guest")
    ) as callee:
        caller_states, callee_states = watch_state(caller), watch_state(callee)
        echo_back(callee)
        channel = caller.createDataChannel("chat")

        await negotiate(caller, callee)

        assert await settled(caller_states) == "connected"
        assert await settled(callee_states) == "connected"
        assert await round_trip(channel, "ping") == "echo ping"
        for connection in (caller, callee):
            lines = candidate_lines(connection)
            assert lines
            for line in lines:
                # a=candidate:<foundation> <component> udp <priority> <ip> <port> typ relay …
                fields = line.split()
                assert fields[7] == "relay", line
                assert fields[4] == HOST, line
                assert int(fields[5]) in coturn.relay_ports, line
            assert selected_pair_types(connection) == ("relay", "relay")


def test_relay_only_peers_connect_and_exchange_data_through_coturn(coturn: Coturn) -> None:
    asyncio.run(asyncio.wait_for(call_through(coturn), CONNECT_TIMEOUT))

    # coturn authenticated exactly the usernames rooms.ice issued.
    log = coturn.log_text()
    assert ":staff-7>" in log
    assert ":guest>" in log


async def call_with_refused_credentials(coturn: Coturn, refused: IceServers) -> None:
    async with peer(refused.for_participant("guest")) as guest, peer(
        ice_servers(coturn).for_participant("staff-7")
    ) as staff:
        guest_states = watch_state(guest)
        guest.createDataChannel("chat")

        await negotiate(guest, staff)

        assert candidate_lines(guest) == []
        print(staff.localDescription.sdp, guest.localDescription.sdp)
        assert candidate_lines(staff)  # the other side did get its relay
        try:
            state = await asyncio.wait_for(settled(guest_states), REFUSED_TIMEOUT)
        except TimeoutError:
            state = "still connecting"
        assert state != "connected"


def two_hours_ago() -> datetime:
    return real_clock() - timedelta(hours=2, minutes=1)


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(
            lambda coturn: ice_servers(coturn, secret="not-" + coturn.secret), id="other-secret"
        ),
        # The credential itself is right; only its expiry, a minute ago, is in the past.
        pytest.param(lambda coturn: ice_servers(coturn, clock=two_hours_ago), id="expired"),
    ],
)
def test_coturn_refuses_credentials_it_did_not_issue(
    coturn: Coturn, refused: Callable[[Coturn], IceServers]
) -> None:
    asyncio.run(
        asyncio.wait_for(
            call_with_refused_credentials(coturn, refused(coturn)), CONNECT_TIMEOUT
        )
    )

    print(coturn.log_text())
    assert False
