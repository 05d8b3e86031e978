"""Video through a real `sprechstunde serve` process: aiortc peers in this test process meet
through its signaling WebSocket (waiting room, admission, offers and answers relayed), and the
`sprechstunde probe` command does the same from the outside.

Every packet stays on 127.0.0.1: `loopback_ice` for the peers here, `--loopback` for the probe's
process, and the server (signaling only) listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from bench.common import REQUEST_TIMEOUT, Server, StaffApi, free_port, reset_postgres
from tests.e2e.video import (
    FRAMES,
    enter,
    guest_ticket,
    host_ticket,
    invite,
    let_everybody_in,
    links,
    open_room,
    probe,
    see_each_other,
)
from tests.turn import Coturn

pytestmark = [pytest.mark.usefixtures("loopback_ice"), pytest.mark.timeout(120)]

CALL_TIMEOUT = 40.0
POSTGRES_URL = os.environ.get("SPRECHSTUNDE_TEST_DATABASE_URL")


@pytest.fixture(scope="module")
def room_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that need no special configuration: each opens rooms of its
    own, so they cannot meet. Its database is its own, untouched by `database_url`: a SQLite
    file, or on PostgreSQL a database next to the test database (its name + "_video")."""
    workdir = tmp_path_factory.mktemp("video")
    if POSTGRES_URL:
        url = make_url(POSTGRES_URL)
        database_url = url.set(database=f"{url.database}_video").render_as_string(False)
        reset_postgres(database_url)
    else:
        database_url = f"sqlite:///{workdir / 'video.db'}"
    with Server(database_url, workdir / "server") as server:
        yield server


@pytest.fixture(autouse=True)
def show_room_server_log(request: pytest.FixtureRequest) -> Iterator[None]:
    """What the server logged during the test, shown (as captured output) if it fails."""
    if "room_server" not in request.fixturenames:
        yield
        return
    server: Server = request.getfixturevalue("room_server")
    before = len(server.log())
    yield
    print(f"---- server log ({server.log_path}) ----\n{server.log()[before:][-20_000:]}")


@pytest.fixture(scope="module")
def room_http(room_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=room_server.base_url, timeout=REQUEST_TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def room_staff(room_server: Server, room_http: httpx.Client) -> StaffApi:
    return StaffApi.bootstrap(room_server, room_http)


def test_two_peers_send_each_other_video_through_the_server(room_http, room_staff):
    room = open_room(room_http, room_staff)
    tickets = [
        host_ticket(room_http, room_staff, room),
        guest_ticket(room_http, room.guest_link, "Erika"),
    ]

    async def call() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with AsyncExitStack() as stack:
            host = await enter(stack, tickets[0], admit=let_everybody_in)
            guest = await enter(stack, tickets[1])
            await see_each_other([host, guest])
            return [host.client.welcome, guest.client.welcome], links([host, guest])

    (host_welcome, guest_welcome), seen = asyncio.run(asyncio.wait_for(call(), CALL_TIMEOUT))

    assert host_welcome["state"] == "inside"
    assert guest_welcome["state"] == "waiting"  # let in by the host on its knock
    host, guest = host_welcome["id"], guest_welcome["id"]
    assert seen[guest][host]["sent"] == "offer"  # the newcomer offers
    assert seen[host][guest]["sent"] == "answer"
    for mine, theirs in ((host, guest), (guest, host)):
        link = seen[mine][theirs]
        assert link["connected"]
        assert link["frames_received"] >= FRAMES
        # The frames decoded are the other camera's, numbered as sent.
        assert link["last_frame_number"] >= FRAMES - 1
        assert link["candidate_types"] == {"local": "host", "remote": "host"}


def test_an_interpreter_let_in_later_connects_with_everyone(room_http, room_staff):
    room = open_room(room_http, room_staff)
    tickets = [
        host_ticket(room_http, room_staff, room),
        guest_ticket(room_http, room.guest_link, "Erika"),
        guest_ticket(room_http, invite(room_http, room_staff, room, "Dolmetscherin"), "Olena"),
    ]

    async def call() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with AsyncExitStack() as stack:
            host = await enter(stack, tickets[0], admit=let_everybody_in)
            guest = await enter(stack, tickets[1])
            await see_each_other([host, guest])
            interpreter = await enter(stack, tickets[2])
            peers = [host, guest, interpreter]
            await see_each_other(peers)
            return [peer.client.welcome for peer in peers], links(peers)

    welcomes, seen = asyncio.run(asyncio.wait_for(call(), CALL_TIMEOUT))

    host, guest, interpreter = (welcome["id"] for welcome in welcomes)
    assert welcomes[2]["role"] == "extra_guest"
    assert welcomes[2]["state"] == "waiting"
    assert set(seen[interpreter]) == {host, guest}
    assert set(seen[host]) == {guest, interpreter}
    assert set(seen[guest]) == {host, interpreter}
    # The interpreter, the newest, offered to both; they answered.
    assert {link["sent"] for link in seen[interpreter].values()} == {"offer"}
    assert seen[host][interpreter]["sent"] == seen[guest][interpreter]["sent"] == "answer"
    for peer_links in seen.values():
        for link in peer_links.values():
            assert link["connected"]
            assert link["frames_received"] >= FRAMES


def test_probe_reports_media_flowing_and_ends_its_room(
    room_server, room_http, room_staff, tmp_path
):
    code, result = probe(room_server.base_url, cwd=tmp_path)

    assert result["connected"] is True, result
    assert result["error"] is None
    assert code == 0
    assert result["frames_received"]["host"] >= 10
    assert result["frames_received"]["guest"] >= 10
    assert result["first_frame_ms"] > 0
    assert result["candidate_types"] == {"local": "host", "remote": "host"}
    assert result["relay_only"] is False
    assert result["signaling_url"] == f"ws://127.0.0.1:{room_server.port}/ws/signaling"
    tickets = f"/api/v1/rooms/{result['room_id']}/tickets"
    assert room_http.post(tickets, headers=room_staff.headers).status_code == 409  # ended


def test_probe_fails_without_a_server(tmp_path):
    code, result = probe(f"http://127.0.0.1:{free_port()}", cwd=tmp_path)

    assert code == 1
    assert result["connected"] is False
    assert result["frames_received"] == {"host": 0, "guest": 0}
    assert "cannot reach" in result["error"]


def test_probe_relay_only_fails_clearly_without_a_turn_server(room_server, room_staff, tmp_path):
    code, result = probe(room_server.base_url, "--relay-only", cwd=tmp_path)

    assert code == 1
    assert result["connected"] is False
    assert "no TURN server" in result["error"]


@pytest.fixture
def turn_server(database_url: str, tmp_path: Path, coturn: Coturn) -> Iterator[Server]:
    """A server handing out credentials for the test's coturn, with an administrator."""
    env = {"SPRECHSTUNDE_TURN_URLS": coturn.turn_url, "SPRECHSTUNDE_TURN_SECRET": coturn.secret}
    with Server(database_url, tmp_path / "server", extra_env=env) as server:
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
            StaffApi.bootstrap(server, http)
        yield server
        print(f"---- server log ({server.log_path}) ----\n{server.log()[-20_000:]}")


def test_probe_relay_only_connects_through_coturn(turn_server, coturn, tmp_path):
    code, result = probe(turn_server.base_url, "--relay-only", cwd=tmp_path)

    assert result["connected"] is True, result
    assert code == 0
    assert result["relay_only"] is True
    assert result["candidate_types"] == {"local": "relay", "remote": "relay"}
    assert coturn.logged("incoming packet ALLOCATE processed, success")
