"""An aiortc participant of a video room: one `RTCPeerConnection` per other participant.

The roles are the server's (docs/signaling.md): whoever enters makes the offers, to everyone
listed in its `welcome` (or, after the waiting room, its `admitted`); a peer already inside
waits for the newcomer's offer after `peer-joined`. aiortc cannot roll back a local offer, so
this peer authenticates with `can_rollback: false`, the server never makes it the polite one,
and it plays the impolite side of MDN's perfect negotiation: an offer that collides with its own
pending offer is ignored, because the polite side rolls back and answers ours.

aiortc puts all its candidates into the SDP (it gathers before `setLocalDescription` returns),
so it never trickles; a browser does, and its `candidate` messages are applied with
`addIceCandidate` once the remote description is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from rooms.peer_close import close_peer
from signaling.camera import SIZE, NumberedCamera, read_number
from signaling.client import Message, SignalingClient, SignalingError
from signaling.protocol import CloseCode

log = logging.getLogger("sprechstunde.peer")
Admit = Callable[[Message], bool]
# After these, trying again cannot help (web/static/js/room/signaling.js, FINAL); the room's
# not being open yet (4004) ends a peer too, which has no ticket endpoint to ask when it opens.
FINAL_CLOSE_CODES = frozenset(
    {
        CloseCode.NORMAL,
        CloseCode.PROTOCOL_ERROR,
        CloseCode.TICKET_INVALID,
        CloseCode.TICKET_EXPIRED,  # the page fetches a new ticket; a peer keeps its one
        CloseCode.TICKET_REVOKED,
        CloseCode.ROOM_NOT_OPEN,
        CloseCode.ROOM_CLOSED,
        CloseCode.REPLACED,
        CloseCode.DENIED,
        CloseCode.MESSAGE_TOO_BIG,
        CloseCode.ROOM_FULL,
        CloseCode.REMOVED,
        CloseCode.ENDED,
    }
)
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


class NoTurnServer(RuntimeError):
    """Relay-only was asked for, and the server hands out no TURN server."""


def has_turn(ice_servers: Iterable[Message]) -> bool:
    return any(
        str(url).startswith(("turn:", "turns:")) for server in ice_servers for url in _urls(server)
    )


def _urls(server: Message) -> list[str]:
    urls = server.get("urls", [])
    return [urls] if isinstance(urls, str) else list(urls)


def parse_candidate(data: Message) -> RTCIceCandidate | None:
    """A browser's `RTCIceCandidateInit` as aiortc's candidate; None for the empty candidate
    ("end of this generation") and for what aiortc cannot read."""
    text = str(data.get("candidate") or "").strip()
    text = text.removeprefix("a=").removeprefix("candidate:")
    if not text:
        return None
    try:
        candidate = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError):
        log.info("ignoring a candidate aiortc cannot read: %.100s", text)
        return None
    candidate.sdpMid = data.get("sdpMid")
    candidate.sdpMLineIndex = data.get("sdpMLineIndex")
    if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
        candidate.sdpMLineIndex = 0  # one bundled transport: the first m-line's
    return candidate


@dataclass(eq=False)
class Link:
    """This peer's connection with one other participant."""

    remote: str
    pc: RTCPeerConnection
    camera: NumberedCamera
    started: float = field(default_factory=time.monotonic)
    making_offer: bool = False
    frames: int = 0
    first_frame_at: float | None = None
    last_number: int | None = None
    pending: list[tuple[RTCIceCandidate | None, str | None]] = field(default_factory=list)
    readers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    @property
    def first_frame_ms(self) -> float | None:
        if self.first_frame_at is None:
            return None
        return round((self.first_frame_at - self.started) * 1000, 1)

    def candidate_types(self) -> dict[str, str] | None:
        """The types (host, srflx, prflx, relay) of the selected candidate pair, or None."""
        # aiortc has no getSelectedCandidatePair() and no candidate-pair entry in getStats(),
        # so this reads aioice's nominated pair of the bundled transport's only component.
        for transceiver in self.pc.getTransceivers():
            try:
                ice = transceiver.receiver.transport.transport
                pair = ice._connection._nominated.get(1)
            except AttributeError:
                return None
            if pair is not None:
                return {"local": pair.local_candidate.type, "remote": pair.remote_candidate.type}
        return None

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        self.camera.stop()
        await close_peer(self.pc)

    def summary(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "frames_received": self.frames,
            "first_frame_ms": self.first_frame_ms,
            "last_frame_number": self.last_number,
            "candidate_types": self.candidate_types(),
        }


class RoomPeer:
    """A participant with a synthetic camera, driven by a `SignalingClient`'s messages.

    `admit` decides, as host, whom to let in from the waiting room (nobody by default).
    With `relay_only`, every connection uses only relay candidates through the TURN server of
    the welcome (`iceTransportPolicy: "relay"`) and refuses to start without one.

    With `reconnect` (given the signaling URL and ticket by `join`), a connection that closes
    with a code the room page also retries on (its server went away: 1006, 1012, 1013, 4015 and
    the like) is opened again with backoff, with the resume key of the admission, as the page
    does; back inside, the peer offers everyone a new connection, since aiortc cannot restart
    ICE on the old one.
    """

    def __init__(
        self,
        client: SignalingClient,
        *,
        relay_only: bool = False,
        admit: Admit | None = None,
        frame_size: tuple[int, int] = SIZE,
    ) -> None:
        self.client = client
        self.relay_only = relay_only
        self.links: dict[str, Link] = {}
        self.state: str = client.welcome["state"]
        self.ice_servers: list[Message] = list(client.welcome.get("ice_servers", []))
        self.problems: list[str] = []
        self.ended: str | None = None
        self._admit = admit or (lambda participant: False)
        self._frame_size = frame_size
        self._runner: asyncio.Task[None] | None = None
        self._rejoin: tuple[str, str] | None = None  # the URL and ticket, when reconnecting
        self.reconnects = 0

    @classmethod
    async def join(
        cls,
        url: str,
        ticket: str,
        *,
        timeout: float = 10.0,
        reconnect: bool = False,
        **options: Any,
    ) -> RoomPeer:
        """Connect with a room ticket and start following the room."""
        client = await SignalingClient.connect(url, ticket, can_rollback=False, timeout=timeout)
        peer = cls(client, **options)
        if reconnect:
            peer._rejoin = (url, ticket)
        peer.start()
        return peer

    @property
    def id(self) -> str:
        return self.client.id

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def close(self, timeout: float = 5.0) -> None:
        """Close every connection and the signaling socket; bounded by `timeout`."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.wait({self._runner}, timeout=timeout)
        links, self.links = list(self.links.values()), {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
        await self.client.close(timeout=min(timeout, 2.0))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Until `predicate()` holds; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                if self._runner is not None and self._runner.done():
                    failure = None if self._runner.cancelled() else self._runner.exception()
                    if failure is not None:
                        raise failure
                    raise RuntimeError(f"{self.id} left the room: {self.ended}")
                await asyncio.sleep(0.02)

    def frames_from(self, remote: str) -> int:
        link = self.links.get(remote)
        return link.frames if link is not None else 0

    # -- the room's messages ---------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._handle(self.client.welcome)
            async for message in self.client:
                await self._handle(message)
            if self.ended or not await self._reconnected():
                break
        self.ended = self.ended or f"closed {self.client.close_code}"

    async def _reconnected(self) -> bool:
        """After a close the room page retries on: a new connection, or False."""
        code = self.client.close_code
        if self._rejoin is None or code in FINAL_CLOSE_CODES:
            return False
        url, ticket = self._rejoin
        for delay in RECONNECT_DELAYS:
            await asyncio.sleep(delay)
            try:
                client = await SignalingClient.connect(
                    url, ticket, can_rollback=False, resume=self.client.resume
                )
            except (OSError, SignalingError, TimeoutError) as exc:
                log.info("%s: reconnecting after %s failed: %s", self.id, code, exc)
                continue
            self.client = client
            self.reconnects += 1
            return True
        return False

    async def _handle(self, message: Message) -> None:
        kind = message.get("type")
        try:
            match kind:
                case "welcome" if message.get("state") == "inside":
                    await self._offer_to(message.get("participants", []))
                case "admitted":
                    self.state = "inside"
                    self.ice_servers = list(message.get("ice_servers", []))
                    await self._offer_to(message.get("participants", []))
                case "knock":
                    participant = message["participant"]
                    if self._admit(participant):
                        await self.client.send({"type": "admit", "id": participant["id"]})
                case "peer-joined":
                    # Through Redis the newcomer's offer may overtake this: keep its link.
                    if message["peer"]["id"] not in self.links:
                        await self._replace_link(message["peer"]["id"])
                case "peer-left":
                    link = self.links.pop(message["id"], None)
                    if link is not None:
                        await link.close()
                case "offer":
                    await self._on_offer(message["from"], message["sdp"])
                case "answer":
                    await self._on_answer(message["from"], message["sdp"])
                case "candidate":
                    await self._on_candidate(message["from"], message.get("candidate"))
                case "ended":
                    self.ended = str(message.get("reason"))
                case "error":
                    self.problems.append(f"{message.get('code')}: {message.get('message')}")
        except NoTurnServer:
            raise
        except Exception as exc:  # one bad message must not stop the peer following the room
            log.warning("%s: handling %s failed", self.id, kind, exc_info=True)
            self.problems.append(f"{kind}: {type(exc).__name__}: {exc}")

    async def _offer_to(self, participants: list[Message]) -> None:
        for participant in participants:
            link = await self._replace_link(participant["id"])
            link.making_offer = True
            try:
                await link.pc.setLocalDescription(await link.pc.createOffer())
            finally:
                link.making_offer = False
            await self._send_description(link)

    async def _on_offer(self, remote: str, sdp: str) -> None:
        link = self.links.get(remote)
        if link is not None and link.pc.signalingState == "closed":
            # The remote's side went away (its connection replaced after a reconnect).
            link = None
        if link is not None and (link.making_offer or link.pc.signalingState != "stable"):
            # Impolite: keep our offer; the polite side rolls back and answers it.
            log.info("%s: ignoring %s's colliding offer", self.id, remote)
            return
        if link is None or _new_session(link, sdp):
            # A participant who reconnected offers from a new connection (new ICE credentials
            # and DTLS certificate), which aiortc cannot take over: start afresh.
            link = await self._replace_link(remote)
        await link.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await self._apply_pending(link)
        await link.pc.setLocalDescription(await link.pc.createAnswer())
        await self._send_description(link)

    async def _on_answer(self, remote: str, sdp: str) -> None:
        link = self.links.get(remote)
        if link is None or link.pc.signalingState != "have-local-offer":
            log.info("%s: ignoring an answer from %s it did not ask for", self.id, remote)
            return
        await link.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        await self._apply_pending(link)

    async def _on_candidate(self, remote: str, data: Message | None) -> None:
        link = self.links.get(remote)
        if link is None:
            return
        if data is None:
            candidate, fragment = None, None  # the end of the remote's candidates
        else:
            candidate = parse_candidate(data)
            if candidate is None:
                return
            fragment = data.get("usernameFragment")
        link.pending.append((candidate, fragment))
        if link.pc.remoteDescription is not None:
            await self._apply_pending(link)

    async def _apply_pending(self, link: Link) -> None:
        pending, link.pending = link.pending, []
        current = _ice_ufrag(link.pc.remoteDescription.sdp)
        for candidate, fragment in pending:
            if fragment is not None and current is not None and fragment != current:
                continue  # of an earlier generation, or of an offer we ignored
            await link.pc.addIceCandidate(candidate)

    async def _send_description(self, link: Link) -> None:
        description = link.pc.localDescription
        await self.client.send(
            {"type": description.type, "to": link.remote, "sdp": description.sdp}
        )

    # -- connections -----------------------------------------------------------------------

    async def _replace_link(self, remote: str) -> Link:
        """A fresh connection to `remote`; an older one is closed."""
        old = self.links.pop(remote, None)
        if old is not None:
            await old.close()
        camera = NumberedCamera(self._frame_size)
        link = Link(remote, RTCPeerConnection(self._configuration()), camera)
        link.pc.addTrack(camera)

        @link.pc.on("track")
        def received(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                reader = asyncio.create_task(self._count_frames(link, track))
                link.readers.add(reader)
                reader.add_done_callback(link.readers.discard)

        self.links[remote] = link
        return link

    def _configuration(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(
                urls=_urls(server),
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in self.ice_servers
        ]
        if not self.relay_only:
            return RTCConfiguration(iceServers=servers)
        if not has_turn(self.ice_servers):
            raise NoTurnServer("relay only, but the server hands out no TURN server")
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY)

    @staticmethod
    async def _count_frames(link: Link, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)  # only video tracks are counted
                if link.first_frame_at is None:
                    link.first_frame_at = time.monotonic()
                link.frames += 1
                link.last_number = read_number(frame)


def _new_session(link: Link, offer: str) -> bool:
    current = link.pc.remoteDescription
    return current is not None and _ice_ufrag(current.sdp) != _ice_ufrag(offer)


def _ice_ufrag(sdp: str) -> str | None:
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line.removeprefix("a=ice-ufrag:").strip()
    return None
