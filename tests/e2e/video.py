"""Helpers for the video tests: rooms and tickets through the real HTTP API, aiortc peers
(`signaling.peer.RoomPeer`) in the test process, and the `sprechstunde probe` command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import ADMIN_EMAIL, ADMIN_PASSWORD, SCRIPT, StaffApi
from signaling.peer import RoomPeer

# Frames each peer must decode from each other one; 30 frames a second are sent.
FRAMES = 5
# Per wait for media; connecting on loopback takes well under a second.
MEDIA_TIMEOUT = 15.0
PROBE_TIMEOUT = 20


@dataclass(frozen=True)
class AdhocRoom:
    id: str
    guest_link: str  # the token of the guest's invitation, the last segment of `/j/{token}`


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, f"{response.request.url.path}: {response.text}"
    return response.json()  # type: ignore[no-any-return]


def link_token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def open_room(http: httpx.Client, staff: StaffApi) -> AdhocRoom:
    opened = _created(http.post("/api/v1/rooms", json={"title": "Test"}, headers=staff.headers))
    return AdhocRoom(opened["room"]["id"], link_token(opened["guest"]["url"]))


def host_ticket(http: httpx.Client, staff: StaffApi, room: AdhocRoom) -> dict[str, Any]:
    return _created(http.post(f"/api/v1/rooms/{room.id}/tickets", headers=staff.headers))


def guest_ticket(http: httpx.Client, link: str, name: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {link}"}
    return _created(http.post("/api/v1/room-tickets", json={"name": name}, headers=headers))


def invite(http: httpx.Client, staff: StaffApi, room: AdhocRoom, label: str) -> str:
    response = http.post(
        f"/api/v1/rooms/{room.id}/invites", json={"label": label}, headers=staff.headers
    )
    return link_token(_created(response)["url"])


async def enter(
    stack: AsyncExitStack, ticket: dict[str, Any], url: str | None = None, **options: Any
) -> RoomPeer:
    """A peer in the room of `ticket` (at its `signaling_url` unless `url` is given), closed
    when `stack` closes."""
    peer = await RoomPeer.join(url or ticket["signaling_url"], ticket["ticket"], **options)
    stack.push_async_callback(peer.close)
    return peer


def let_everybody_in(participant: dict[str, Any]) -> bool:
    return True


async def see_each_other(peers: Sequence[RoomPeer], frames: int = FRAMES) -> None:
    """Until every peer has decoded `frames` frames from every other one."""

    def everyone() -> bool:
        return all(p.frames_from(q.id) >= frames for p in peers for q in peers if p is not q)

    await peers[0].wait_for(everyone, MEDIA_TIMEOUT)


def links(peers: Sequence[RoomPeer]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per peer and remote: the link's summary and which side of the negotiation it was."""
    return {
        peer.id: {
            remote: {**link.summary(), "sent": link.pc.localDescription.type}
            for remote, link in peer.links.items()
        }
        for peer in peers
    }


def probe(base_url: str, *options: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    """`sprechstunde probe --loopback` as the administrator: its exit code and its JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPRECHSTUNDE_")}
    command = [str(SCRIPT), "probe", "--base-url", base_url, "--loopback"]
    command += ["--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD]
    command += ["--timeout", str(PROBE_TIMEOUT), *options]
    result = subprocess.run(
        command,
        env=env,
        cwd=cwd,  # no stray .env file is read
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT + 20,  # its own start-up and shutdown on a busy machine
        check=False,
    )
    try:
        output = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON from the probe:\n{result.stdout}\n{result.stderr}") from None
    return result.returncode, output
