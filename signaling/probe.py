"""`sprechstunde probe`: two aiortc peers test a deployment's video path end to end.

Like an advisor and a caller during a hotline call, and through the same public API: a staff
member logs in, opens an ad-hoc room, takes a host ticket, and a guest takes a ticket with the
room's invitation link. The host enters, the guest knocks and is let in, the guest offers,
and both send numbered video frames until each has decoded `frames` of the other's. The room
is ended afterwards, and whatever happens, every connection is closed within `timeout`.

The result is one JSON object (`ProbeResult.as_dict`); media flowed if both sides decoded
enough frames. With `relay_only` both peers may use only relay candidates, so the check covers
the TURN server the deployment hands out (and fails clearly if it hands out none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from signaling.client import Message, SignalingError
from signaling.loopback import loopback_host_candidates
from signaling.peer import Link, NoTurnServer, RoomPeer, has_turn

ROOM_TITLE = "Verbindungstest (sprechstunde probe)"
GUEST_NAME = "Verbindungstest"
# Of the whole budget, what is kept back for closing connections and ending the room.
CLEANUP_SHARE, CLEANUP_MAX = 0.25, 5.0


class ProbeError(Exception):
    """A step of the probe failed; the message says which and why."""


@dataclass(frozen=True)
class ProbeOptions:
    base_url: str
    email: str
    password: str
    relay_only: bool = False
    loopback: bool = False
    timeout: float = 20.0
    frames: int = 10


@dataclass
class ProbeResult:
    relay_only: bool
    connected: bool = False
    first_frame_ms: float | None = None
    frames_received: dict[str, int] = field(default_factory=lambda: {"host": 0, "guest": 0})
    candidate_types: dict[str, str] | None = None
    signaling_url: str | None = None
    room_id: str | None = None
    elapsed_ms: float = 0.0
    error: str | None = None
    # What the probe was doing, for the message if it runs out of time.
    step: str = field(default="starting", repr=False)

    def media_flowed(self, minimum: int) -> bool:
        return all(count >= minimum for count in self.frames_received.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "first_frame_ms": self.first_frame_ms,
            "frames_received": self.frames_received,
            "candidate_types": self.candidate_types,
            "relay_only": self.relay_only,
            "signaling_url": self.signaling_url,
            "room_id": self.room_id,
            "elapsed_ms": self.elapsed_ms,
            "error": self.error,
        }


def run(options: ProbeOptions) -> ProbeResult:
    """The probe, in its own event loop; with `loopback`, host candidates are 127.0.0.1 only."""
    with loopback_host_candidates() if options.loopback else contextlib.nullcontext():
        return asyncio.run(probe(options))


async def probe(options: ProbeOptions) -> ProbeResult:
    started = time.monotonic()
    cleanup = min(options.timeout * CLEANUP_SHARE, CLEANUP_MAX)
    deadline = started + options.timeout - cleanup
    result = ProbeResult(relay_only=options.relay_only)
    peers: list[RoomPeer] = []
    try:
        async with asyncio.timeout_at(_loop_time(deadline)):
            await _call(options, result, peers, deadline)
    except TimeoutError:
        result.error = _timeout_error(options, result, peers)
    except (ProbeError, NoTurnServer, SignalingError) as exc:
        result.error = str(exc)
    except Exception as exc:  # a JSON answer is promised, whatever broke
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        _measure(result, peers)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(cleanup):
                await _leave(peers)
        result.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return result


async def _call(
    options: ProbeOptions, result: ProbeResult, peers: list[RoomPeer], deadline: float
) -> None:
    api = _Api(options.base_url, deadline)
    result.step = "logging in"
    login = await api.post(
        "/api/v1/auth/token", {"email": options.email, "password": options.password}
    )
    staff = str(login["access_token"])
    result.step = "opening a room"
    opened = await api.post("/api/v1/rooms", {"title": ROOM_TITLE}, staff)
    result.room_id = room = str(opened["room"]["id"])
    link_token = str(opened["guest"]["url"]).rstrip("/").rsplit("/", 1)[-1]
    result.step = "getting room tickets"
    host_ticket = await api.post(f"/api/v1/rooms/{room}/tickets", None, staff)
    guest_ticket = await api.post("/api/v1/room-tickets", {"name": GUEST_NAME}, link_token)
    result.signaling_url = url = str(host_ticket["signaling_url"])
    guest_id = guest_ticket["participant"]["id"]

    join_timeout = max(deadline - time.monotonic(), 0.1)
    result.step = "entering the room (host)"
    host = await RoomPeer.join(
        url,
        host_ticket["ticket"],
        timeout=join_timeout,
        relay_only=options.relay_only,
        admit=lambda participant: participant.get("id") == guest_id,
    )
    peers.append(host)
    if options.relay_only and not has_turn(host.ice_servers):
        raise ProbeError(
            "relay only, but the server hands out no TURN server "
            "(SPRECHSTUNDE_TURN_URLS and SPRECHSTUNDE_TURN_SECRET)"
        )
    result.step = "entering the room (guest)"
    guest = await RoomPeer.join(
        url, guest_ticket["ticket"], timeout=join_timeout, relay_only=options.relay_only
    )
    peers.append(guest)

    def flowed() -> bool:
        return (
            guest.frames_from(host.id) >= options.frames
            and host.frames_from(guest.id) >= options.frames
        )

    result.step = "connecting"
    await guest.wait_for(flowed, timeout=max(deadline - time.monotonic(), 0.0))


def _links(peers: list[RoomPeer]) -> tuple[Link | None, Link | None]:
    """(the host's link to the guest, the guest's link to the host), as far as they exist."""
    if len(peers) < 2:
        return None, None
    host, guest = peers
    return host.links.get(guest.id), guest.links.get(host.id)


def _measure(result: ProbeResult, peers: list[RoomPeer]) -> None:
    host_link, guest_link = _links(peers)
    links = [link for link in (host_link, guest_link) if link is not None]
    result.connected = len(links) == 2 and all(link.connected for link in links)
    result.frames_received = {
        "host": host_link.frames if host_link else 0,
        "guest": guest_link.frames if guest_link else 0,
    }
    # Until media flowed both ways: the slower direction, from its connection's start.
    firsts = [link.first_frame_ms for link in links]
    if len(firsts) == 2 and None not in firsts:
        result.first_frame_ms = max(f for f in firsts if f is not None)
    if guest_link is not None:
        result.candidate_types = guest_link.candidate_types()


def _timeout_error(options: ProbeOptions, result: ProbeResult, peers: list[RoomPeer]) -> str:
    host_link, guest_link = _links(peers)
    problems = [problem for peer in peers for problem in peer.problems]
    if result.step != "connecting":
        step = f"while {result.step}"
    elif host_link is None or guest_link is None:
        step = "the guest was not let in, or the peers did not meet in the room"
    elif not (host_link.connected and guest_link.connected):
        state = f"{guest_link.pc.iceConnectionState}/{host_link.pc.iceConnectionState}"
        step = f"no connection between the peers (ICE {state})"
    else:
        frames = f"{guest_link.frames} and {host_link.frames}"
        step = f"connected, but only {frames} of {options.frames} frames decoded"
    detail = f"; {'; '.join(problems)}" if problems else ""
    return f"timed out after {options.timeout:g} s: {step}{detail}"


async def _leave(peers: list[RoomPeer]) -> None:
    for peer in peers:
        for link in list(peer.links.values()):
            link.camera.stop()
    if peers:
        # The host ends the room: nobody can enter the probe's room any more.
        with contextlib.suppress(Exception):
            await peers[0].client.send({"type": "end"})
    await asyncio.gather(*(peer.close(timeout=3.0) for peer in peers), return_exceptions=True)


def _loop_time(monotonic_deadline: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


class _Api:
    """The few HTTP calls of the probe, with the standard library: each in a worker thread,
    with a socket timeout that ends with the probe's budget, and no proxy from the environment
    (the probe tests the direct path, as a browser in the city's network takes it)."""

    def __init__(self, base_url: str, deadline: float) -> None:
        self._base_url = base_url.rstrip("/")
        self._deadline = deadline
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    async def post(self, path: str, body: Message | None, bearer: str | None = None) -> Message:
        timeout = max(self._deadline - time.monotonic(), 0.1)
        return await asyncio.to_thread(self._post, path, body, bearer, timeout)

    def _post(self, path: str, body: Message | None, bearer: str | None, timeout: float) -> Message:
        url = self._base_url + path
        if not url.startswith(("http://", "https://")):
            raise ProbeError(f"not an http(s) URL: {self._base_url}")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        data = json.dumps(body if body is not None else {}).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            text = exc.read(300).decode(errors="replace")
            raise ProbeError(f"POST {path}: HTTP {exc.code}: {text}") from None
        except urllib.error.URLError as exc:
            raise ProbeError(f"cannot reach {self._base_url}: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise ProbeError(f"POST {path}: {exc}") from None
        except json.JSONDecodeError:
            raise ProbeError(f"POST {path}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ProbeError(f"POST {path}: unexpected answer")
        return answer
