"""rooms.ice's credentials against a real coturn: two aiortc peers that may only use relay
candidates connect through it, and credentials it did not issue get no relay at all.

The peers exchange their SDP directly (aiortc gathers all candidates before
`setLocalDescription` returns, so no trickle and no signaling server). Every packet stays on
127.0.0.1: coturn listens and relays there, and `loopback_ice` keeps host candidates there too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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
# How long the other side of a peer with refused credentials may take to give up.
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


def allocation(server: IceServer, outcome: str) -> str:
    """coturn's log line (with --verbose) for an Allocate request with `server`'s username."""
    return f"user <{server.username}>: incoming packet ALLOCATE processed, {outcome}"


async def call_through(coturn: Coturn, caller_turn: IceServer, callee_turn: IceServer) -> None:
    async with peer([caller_turn]) as caller, peer([callee_turn]) as callee:
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
    ice = ice_servers(coturn)
    [staff] = ice.for_participant("staff-7")
    [guest] = ice.for_participant("guest")

    asyncio.run(asyncio.wait_for(call_through(coturn, staff, guest), CONNECT_TIMEOUT))

    assert coturn.logged(allocation(staff, "success"))
    assert coturn.logged(allocation(guest, "success"))


async def call_with_refused_credentials(staff_turn: IceServer, guest_turn: IceServer) -> None:
    # The guest answers: aioice gathers nothing for an answerer whose offer has no candidates,
    # so the staff member offers with a relay, and the guest does ask coturn for one.
    async with peer([staff_turn]) as staff, peer([guest_turn]) as guest:
        staff_states = watch_state(staff)
        staff.createDataChannel("chat")

        await negotiate(staff, guest)

        assert candidate_lines(staff)
        assert candidate_lines(guest) == []
        # Nothing to pair the staff relay with: ICE fails at once instead of timing out.
        assert await asyncio.wait_for(settled(staff_states), REFUSED_TIMEOUT) == "failed"
        assert guest.connectionState != "connected"


def ttl_and_a_minute_ago() -> datetime:
    return real_clock() - IceConfig().turn_ttl - timedelta(minutes=1)


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(
            lambda coturn: ice_servers(coturn, secret="not-" + coturn.secret), id="other-secret"
        ),
        # The credential matches the username; only the expiry in it, a minute ago, is past.
        pytest.param(lambda coturn: ice_servers(coturn, clock=ttl_and_a_minute_ago), id="expired"),
    ],
)
def test_coturn_refuses_credentials_it_did_not_issue(
    coturn: Coturn, refused: Callable[[Coturn], IceServers]
) -> None:
    [staff] = ice_servers(coturn).for_participant("staff-7")
    [guest] = refused(coturn).for_participant("guest")

    asyncio.run(asyncio.wait_for(call_with_refused_credentials(staff, guest), CONNECT_TIMEOUT))

    assert coturn.logged(allocation(staff, "success"))
    # aioice's Allocate with the credential: coturn logs it as "message", not "ALLOCATE".
    assert coturn.logged(f"user <{guest.username}>: incoming packet message processed, error 401")
    assert allocation(guest, "success") not in coturn.log_text()
