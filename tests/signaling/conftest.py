"""A video booking with its advisor, the clock inside the room's window, and helpers to take
part in its room through the real HTTP API and WebSocket endpoint of an in-process app."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from scheduler.db import write_session
from scheduler.models import Staff, Team
from tests.conftest import PASSWORD, Clock, World, booking_body

# Tuesday 7 January 2031, 10:00 in Berlin; the room opens at 09:45.
START = datetime(2031, 1, 7, 9, 0, tzinfo=UTC)


@dataclass
class RoomWorld:
    client: TestClient
    world: World
    clock: Clock
    advisor: Staff
    colleague: Staff
    stranger: Staff
    manage_url: str
    join_url: str

    @property
    def join_token(self) -> str:
        return self.join_url.rsplit("/", 1)[1]

    def staff_headers(self, staff: Staff) -> dict[str, str]:
        return self.world.login(self.client, staff.email, PASSWORD)

    def room_id(self) -> str:
        reference = self.client.get(
            "/api/v1/booking",
            headers={"Authorization": f"Bearer {self.manage_url.rsplit('/', 1)[1]}"},
        ).json()["reference"]
        response = self.client.post(
            f"/api/v1/bookings/{reference}/room", headers=self.staff_headers(self.advisor)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def host_ticket(self, staff: Staff | None = None) -> str:
        response = self.client.post(
            f"/api/v1/rooms/{self.room_id()}/tickets",
            headers=self.staff_headers(staff or self.advisor),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["ticket"])

    def guest_ticket(self, token: str | None = None, name: str = "") -> str:
        response = self.client.post(
            "/api/v1/room-tickets",
            headers={"Authorization": f"Bearer {token or self.join_token}"},
            json={"name": name},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["ticket"])


@pytest.fixture
def room_world(client: TestClient, world: World, clock: Clock, container: Any) -> RoomWorld:
    with write_session(container.sessions) as session:
        team = Team(name="Wohngeld")
        session.add(team)
        session.flush()
        team_id = team.id
    service = world.service(team_id=team_id)
    advisor = world.advisor([service])
    colleague = world.advisor([service], hours=[])
    stranger = world.advisor([service], hours=[])
    with write_session(container.sessions) as session:
        for staff in (advisor, colleague):
            session.get(Staff, staff.id).team_id = team_id
    response = client.post("/api/v1/bookings", json=booking_body(service, START))
    assert response.status_code == 201, response.text
    clock.now = datetime(2031, 1, 7, 8, 50, tzinfo=UTC)
    return RoomWorld(
        client=client,
        world=world,
        clock=clock,
        advisor=advisor,
        colleague=colleague,
        stranger=stranger,
        manage_url=response.json()["manage_url"],
        join_url=response.json()["join_url"],
    )


@pytest.fixture
def connect(room_world: RoomWorld) -> Iterator[Any]:
    """Open a signaling WebSocket and authenticate with a ticket; closed after the test."""
    sockets: list[Any] = []

    def _connect(ticket: str, **auth: Any) -> tuple[WebSocketTestSession, dict[str, Any]]:
        context = room_world.client.websocket_connect("/ws/signaling")
        socket = context.__enter__()
        sockets.append(context)
        socket.send_json({"type": "auth", "ticket": ticket, **auth})
        return socket, socket.receive_json()

    yield _connect
    for context in reversed(sockets):
        with contextlib.suppress(Exception):  # already closed by the server in the test
            context.__exit__(None, None, None)
