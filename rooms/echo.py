"""The connection test's echo peer: a server-side WebRTC peer that sends a citizen's own camera
and microphone straight back, so the page can show that media gets through in both directions
before the appointment.

One offer, one answer, no trickle: aiortc gathers all its candidates before it sets the local
description, so the answer carries them (JSEP, RFC 8829 §5.3). Each session lives at most
`max_seconds` and ends early when its connection fails or closes; at most `max_sessions` run at
once, since every one of them decodes and re-encodes video on this event loop, and at most
`per_client` of them for one client, so that one client cannot take them all.

`public_candidates` takes out of an answer the addresses not meant for the public (the
server's internal interfaces: a container network, a management LAN); the web layer, which
knows the deployment's public addresses, applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.exceptions import OperationError
from aiortc.sdp import SessionDescription

from rooms.errors import InvalidOffer, TooManyTests
from rooms.peer_close import close_peer

MEDIA_KINDS = ("audio", "video")


@dataclass(frozen=True)
class EchoSession:
    id: str
    answer_sdp: str
    seconds: float  # the session ends at the latest this long after the answer


@dataclass
class _Running:
    pc: RTCPeerConnection
    ends_at: float  # event-loop time
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    client: str | None = None


def _no_ice_servers() -> list[RTCIceServer]:
    return []


class EchoTests:
    """The running echo sessions of one process.

    `ice_servers` is called for every session, so that time-limited TURN credentials are fresh.
    An empty list means host candidates only; aiortc would otherwise fall back to Google's STUN
    server, which a city's server has no business contacting.
    """

    def __init__(
        self,
        max_sessions: int = 4,
        max_seconds: float = 120.0,
        ice_servers: Callable[[], list[RTCIceServer]] = _no_ice_servers,
        per_client: int = 1,
    ) -> None:
        self.max_sessions = max_sessions
        self.max_seconds = max_seconds
        self.per_client = per_client
        self._ice_servers = ice_servers
        self._running: dict[str, _Running] = {}

    @property
    def active(self) -> int:
        return len(self._running)

    async def answer(self, offer_sdp: str, client: str | None = None) -> EchoSession:
        """Answer a complete (non-trickle) offer and echo every audio and video track it sends.

        Raises `InvalidOffer` for anything but a usable offer, `TooManyTests` when all sessions
        are taken or `client` (None: not limited) runs `per_client` already (`retry_after`:
        seconds until the oldest of them ends at the latest).
        """
        check_offer(offer_sdp)
        if len(self._running) >= self.max_sessions:
            raise TooManyTests("all echo sessions are taken", retry_after=self._retry_after())
        if client is not None:
            own = [r for r in self._running.values() if r.client == client]
            if len(own) >= self.per_client:
                retry = self._retry_after(own)
                raise TooManyTests("this client runs its tests already", retry_after=retry)
        loop = asyncio.get_running_loop()
        session_id = secrets.token_urlsafe(16)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        running = _Running(pc, ends_at=loop.time() + self.max_seconds, client=client)
        # Registered before the first await, so concurrent offers cannot overshoot the limit.
        self._running[session_id] = running
        running.task = asyncio.create_task(self._supervise(session_id, running))
        try:
            answer_sdp = await _negotiate(running, offer_sdp)
        except BaseException:
            await self._end(running)
            raise
        return EchoSession(session_id, answer_sdp, self.max_seconds)

    async def close(self, session_id: str) -> None:
        """End a session; unknown or already ended sessions are fine."""
        running = self._running.get(session_id)
        if running is not None:
            await self._end(running)

    async def close_all(self) -> None:
        await asyncio.gather(*(self._end(running) for running in list(self._running.values())))

    async def _supervise(self, session_id: str, running: _Running) -> None:
        """The one owner of a session's end: after `max_seconds`, on a failed or closed
        connection, or when asked to; it closes the peer connection and frees the place."""
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(running.ends_at):
                    await running.ended.wait()
        finally:
            self._running.pop(session_id, None)
            await close_peer(running.pc)

    @staticmethod
    async def _end(running: _Running) -> None:
        running.ended.set()
        if running.task is not None:
            # Shielded: a caller that gives up waiting must not cut the close short.
            await asyncio.shield(running.task)

    def _retry_after(self, among: Iterable[_Running] | None = None) -> int:
        now = asyncio.get_running_loop().time()
        sessions = self._running.values() if among is None else among
        soonest = min((running.ends_at for running in sessions), default=now)
        return max(1, math.ceil(soonest - now))


async def _negotiate(running: _Running, offer_sdp: str) -> str:
    pc = running.pc
    # Unbuffered relays hand the sender the newest frame: an echo that falls behind drops frames
    # instead of piling up delay (and memory), which would make the test misjudge the network.
    relay = MediaRelay()

    @pc.on("track")
    def _echo(track: MediaStreamTrack) -> None:
        pc.addTrack(relay.subscribe(track, buffered=False))

    @pc.on("connectionstatechange")
    def _watch() -> None:
        if pc.connectionState in ("failed", "closed"):
            running.ended.set()

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    except (ValueError, OperationError) as exc:  # OperationError: no codec in common
        raise InvalidOffer(str(exc), field="sdp") from exc
    await pc.setLocalDescription(await pc.createAnswer())
    return pc.localDescription.sdp


def check_offer(offer_sdp: str) -> None:
    """What aiortc needs from an offer and would otherwise fail on with assorted exceptions, plus
    what an echo needs: an audio or video section that both sends and receives."""
    if not offer_sdp.lstrip().startswith("v=0"):
        raise InvalidOffer("not SDP: the first line must be v=0 (RFC 8866 §5)", field="sdp")
    try:
        description = SessionDescription.parse(offer_sdp)
    except Exception as exc:  # aiortc's parser reports bad input with asserts, int(), split()...
        raise InvalidOffer(f"unparseable SDP: {exc!r}", field="sdp") from exc
    for media in description.media:
        if not (media.ice and media.ice.usernameFragment and media.ice.password):
            raise InvalidOffer(f"{media.kind}: no ICE credentials", field="sdp")
        if media.dtls is None or not media.dtls.fingerprints:
            raise InvalidOffer(f"{media.kind}: no DTLS fingerprint and setup", field="sdp")
        # An offerer must leave the DTLS role open (RFC 8842 §5.2); an answer posted as an
        # offer is caught here.
        if media.dtls.role != "auto":
            raise InvalidOffer(f"{media.kind}: a=setup is not actpass", field="sdp")
        if media.kind in MEDIA_KINDS and not media.rtcp_mux:
            raise InvalidOffer(f"{media.kind}: no rtcp-mux", field="sdp")
    if not any(m.kind in MEDIA_KINDS and m.direction == "sendrecv" for m in description.media):
        raise InvalidOffer("no audio or video section that sends and receives", field="sdp")


def public_candidates(sdp: str, is_public: Callable[[str], bool]) -> str:
    """`sdp` without the host candidates whose address `is_public` refuses; relayed (TURN) and
    reflexive (STUN) candidates stay, being public by nature. The connection lines (`c=`,
    RFC 8866 §5.7), which name the default candidate, are set to a public one or to 0.0.0.0,
    as before any candidate is known (RFC 8839 §4.2.1.3)."""
    lines = sdp.splitlines()
    kept = [line for line in lines if not _hidden_candidate(line, is_public)]
    public = next((c.split()[4] for c in kept if c.startswith("a=candidate:")), None)

    def connection(line: str) -> str:
        if not line.startswith("c=IN "):
            return line
        address = line.split()[2]
        if is_public(address) or _relayed_or_reflexive(address, kept):
            return line
        version = "IP6" if public and ":" in public else "IP4"
        return f"c=IN {version} {public}" if public else "c=IN IP4 0.0.0.0"

    return "\r\n".join(connection(line) for line in kept) + "\r\n"


def _hidden_candidate(line: str, is_public: Callable[[str], bool]) -> bool:
    if not line.startswith("a=candidate:"):
        return False
    parts = line.split()
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
    kind = parts[parts.index("typ") + 1] if "typ" in parts else "host"
    return kind == "host" and not is_public(parts[4])


def _relayed_or_reflexive(address: str, lines: list[str]) -> bool:
    return any(
        line.startswith("a=candidate:") and line.split()[4] == address and " typ host" not in line
        for line in lines
    )


def public_address(
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> Callable[[str], bool]:
    """Whether a candidate's address is for the public: a global address, or in `networks`."""
    listed = list(networks)

    def check(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # a host name (mDNS): nothing a citizen's browser should be told
        return ip.is_global or any(ip in network for network in listed)

    return check
