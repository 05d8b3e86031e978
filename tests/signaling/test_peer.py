"""The aiortc room peer's negotiation on its own: the test plays the signaling server and a
browser (another aiortc connection), for what two aiortc peers never do to each other: trickle
candidates, send a colliding offer, reconnect with a new connection.

Every packet stays on 127.0.0.1 (`loopback_ice`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_to_sdp

from signaling.camera import NumberedCamera
from signaling.peer import Link, RoomPeer, parse_candidate

pytestmark = pytest.mark.usefixtures("loopback_ice")

TIMEOUT = 20.0
Message = dict[str, Any]


class ServerStandIn:
    """What `RoomPeer` needs of a `SignalingClient`: the test feeds it messages as the server
    would and reads what the peer sent."""

    def __init__(self, participants: list[str]) -> None:
        self.welcome: Message = {
            "type": "welcome",
            "id": "me",
            "state": "inside",
            "ice_servers": [],
            "participants": [{"id": p, "polite": False} for p in participants],
        }
        self.inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self.sent: asyncio.Queue[Message] = asyncio.Queue()
        self.close_code: int | None = None

    @property
    def id(self) -> str:
        return "me"

    async def send(self, message: Message) -> None:
        self.sent.put_nowait(message)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while (message := await self.inbox.get()) is not None:
            yield message

    async def close(self, **_: object) -> None:
        self.inbox.put_nowait(None)


async def browser() -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTrack(NumberedCamera())
    return pc


async def offer_of(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


def without_candidates(sdp: str) -> str:
    """The SDP as a trickling browser sends it: candidates follow in `candidate` messages."""
    kept = [
        line
        for line in sdp.splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "\r\n".join(kept) + "\r\n"


def candidate_messages(pc: RTCPeerConnection) -> list[Message]:
    """The candidates of `pc`'s local description, as a browser trickles them, then null."""
    transceiver = pc.getTransceivers()[0]
    gatherer = transceiver.sender.transport.transport.iceGatherer
    ufrag = gatherer.getLocalParameters().usernameFragment
    messages: list[Message] = [
        {
            "type": "candidate",
            "from": "browser",
            "candidate": {
                "candidate": f"candidate:{candidate_to_sdp(candidate)}",
                "sdpMid": transceiver.mid,
                "sdpMLineIndex": 0,
                "usernameFragment": ufrag,
            },
        }
        for candidate in gatherer.getLocalCandidates()
    ]
    return [*messages, {"type": "candidate", "from": "browser", "candidate": None}]


async def next_sent(server: ServerStandIn, kind: str) -> Message:
    message = await server.sent.get()
    assert message["type"] == kind, message
    return message


def remote_candidates(link: Link) -> list[Any]:
    return link.pc.getTransceivers()[0].receiver.transport.transport.getRemoteCandidates()


async def in_room(
    participants: list[str], scene: Callable[[RoomPeer, ServerStandIn], Awaitable[None]]
) -> None:
    server = ServerStandIn(participants)
    peer = RoomPeer(server)  # type: ignore[arg-type]
    peer.start()
    try:
        await asyncio.wait_for(scene(peer, server), TIMEOUT)
        assert peer.problems == []
    finally:
        await peer.close()


async def media_flows(peer: RoomPeer, link: Link) -> None:
    await peer.wait_for(lambda: link.connected and link.frames >= 3, TIMEOUT)


def test_trickled_browser_candidates_are_applied():
    async def scene(peer: RoomPeer, server: ServerStandIn) -> None:
        other = await browser()
        try:
            offer = without_candidates(await offer_of(other))
            server.inbox.put_nowait({"type": "peer-joined", "peer": {"id": "browser"}})
            server.inbox.put_nowait({"type": "offer", "from": "browser", "sdp": offer})
            for message in candidate_messages(other):
                server.inbox.put_nowait(message)
            answer = await next_sent(server, "answer")
            link = peer.links["browser"]
            await peer.wait_for(lambda: len(remote_candidates(link)) >= 1, TIMEOUT)

            # Only now can the browser start its checks: whatever pair wins, we knew its
            # remote candidate from a trickled message, not from an incoming check (prflx).
            await other.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            await media_flows(peer, link)
            assert link.candidate_types() == {"local": "host", "remote": "host"}
        finally:
            await other.close()

    asyncio.run(in_room([], scene))


def test_an_offer_colliding_with_ours_is_ignored_and_ours_is_answered():
    async def scene(peer: RoomPeer, server: ServerStandIn) -> None:
        other = await browser()
        try:
            ours = await next_sent(server, "offer")
            assert ours["to"] == "browser"
            theirs = await offer_of(other)
            server.inbox.put_nowait({"type": "offer", "from": "browser", "sdp": theirs})
            # The polite browser rolls back (here: a fresh connection) and answers ours.
            await other.close()
            other = await browser()
            await other.setRemoteDescription(RTCSessionDescription(ours["sdp"], "offer"))
            await other.setLocalDescription(await other.createAnswer())
            answer = other.localDescription.sdp
            server.inbox.put_nowait({"type": "answer", "from": "browser", "sdp": answer})

            await media_flows(peer, peer.links["browser"])
            assert server.sent.empty()  # no answer to the colliding offer
            assert peer.problems == []  # ignored on purpose, not refused by aiortc
        finally:
            await other.close()

    asyncio.run(in_room(["browser"], scene))


def test_an_offer_from_a_new_connection_replaces_the_old_one():
    async def scene(peer: RoomPeer, server: ServerStandIn) -> None:
        first, second = await browser(), await browser()
        try:
            offer = await offer_of(first)
            server.inbox.put_nowait({"type": "offer", "from": "browser", "sdp": offer})
            await first.setRemoteDescription(
                RTCSessionDescription((await next_sent(server, "answer"))["sdp"], "answer")
            )
            old = peer.links["browser"]
            await media_flows(peer, old)

            # The browser reloaded: same participant, new ICE credentials and certificate.
            offer = await offer_of(second)
            server.inbox.put_nowait({"type": "offer", "from": "browser", "sdp": offer})
            await second.setRemoteDescription(
                RTCSessionDescription((await next_sent(server, "answer"))["sdp"], "answer")
            )
            new = peer.links["browser"]
            await media_flows(peer, new)
            assert new is not old
            assert old.pc.connectionState == "closed"
        finally:
            await first.close()
            await second.close()

    asyncio.run(in_room([], scene))


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        (
            {
                "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 50000 typ srflx "
                "raddr 0.0.0.0 rport 0 generation 0 ufrag Ab3d network-cost 999",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            },
            ("srflx", "203.0.113.7", 50000, "0", 0),
        ),
        (
            {"candidate": "candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host"},
            ("host", "127.0.0.1", 40000, None, 0),  # no mid, no index: the bundled m-line
        ),
    ],
)
def test_a_browser_candidate_becomes_aiortcs(init, expected):
    candidate = parse_candidate(init)

    assert candidate is not None
    fields = (candidate.type, candidate.ip, candidate.port)
    assert (*fields, candidate.sdpMid, candidate.sdpMLineIndex) == expected


@pytest.mark.parametrize("text", ["", "   ", "candidate:", "candidate:nonsense 1 udp"])
def test_an_empty_or_unreadable_candidate_is_skipped(text):
    assert parse_candidate({"candidate": text, "sdpMid": "0"}) is None
