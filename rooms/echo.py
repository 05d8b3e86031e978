"""The connection test's echo peer: a server-side WebRTC peer that sends a citizen's own camera
and microphone straight back, so the page can show that media gets through in both directions
before the appointment.

One offer, one answer, no trickle: aiortc gathers all its candidates before it sets the local
description, so the answer carries them (JSEP, RFC 8829 §5.3). Each session lives at most
`max_seconds` and ends early when its connection fails or closes; at most `max_sessions` run at
once, since every one of them decodes and re-encodes video on this event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from collections.abc import Callable
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
    ) -> None:
        self.max_sessions = max_sessions
        self.max_seconds = max_seconds
        self._ice_servers = ice_servers
        self._running: dict[str, _Running] = {}

    @property
    def active(self) -> int:
        return len(self._running)

    async def answer(self, offer_sdp: str) -> EchoSession:
        """Answer a complete (non-trickle) offer and echo every audio and video track it sends.

        Raises `InvalidOffer` for anything but a usable offer, `TooManyTests` when all sessions
        are taken (`retry_after`: seconds until the oldest one ends at the latest).
        """
        check_offer(offer_sdp)
        if len(self._running) >= self.max_sessions:
            raise TooManyTests("all echo sessions are taken", retry_after=self._retry_after())
        loop = asyncio.get_running_loop()
        session_id = secrets.token_urlsafe(16)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        running = _Running(pc, ends_at=loop.time() + self.max_seconds)
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
            await running.pc.close()

    @staticmethod
    async def _end(running: _Running) -> None:
        running.ended.set()
        if running.task is not None:
            # Shielded: a caller that gives up waiting must not cut the close short.
            await asyncio.shield(running.task)

    def _retry_after(self) -> int:
        now = asyncio.get_running_loop().time()
        soonest = min((running.ends_at for running in self._running.values()), default=now)
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
