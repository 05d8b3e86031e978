"""Every route that places or moves a booking runs in the booking lane (web/lanes.py): the
staff's, the hotline's and the waiting list's bookings queue with the citizens'."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.web.api.test_api_public import TUESDAY, at, bearer, booked, manage_token, reschedule
from tests.web.api.test_api_staff import callback_body
from web.lanes import Lane, in_booking_lane

T = TypeVar("T")

# The API's booking and hold (POST /api/v1/bookings, /api/v1/holds) call the lane themselves,
# after checks that need no thread; the citizen's test below goes through the first.
DECORATED = {
    ("POST", "/api/v1/booking/reschedule"),
    ("POST", "/api/v1/offer/accept"),
    ("POST", "/api/v1/staff/bookings"),
    ("POST", "/api/v1/staff/bookings/{reference}/reschedule"),
    ("POST", "/api/v1/staff/callbacks/{callback_id}/book"),
    ("POST", "/buchen/{service_id}/angaben"),
    ("POST", "/buchen/{service_id}/halten"),
    ("POST", "/o/{token}/annehmen"),
    ("POST", "/staff/buchungen/{reference}/verschieben"),
    ("POST", "/staff/hotline/buchen"),
    ("POST", "/staff/rueckrufe/{callback_id}/buchen"),
    ("POST", "/termin/verschieben"),
}


class Counting(Lane):
    def __init__(self) -> None:
        super().__init__(1)
        self.runs = 0
        self.inline_asked: list[bool] = []

    async def run(self, work: Callable[[], T], inline: bool = False) -> T:
        self.runs += 1
        self.inline_asked.append(inline)
        return await super().run(work, inline)


@pytest.fixture
def lane(app: FastAPI) -> Counting:
    counting = Counting()
    app.state.container.booking_lane = counting
    return counting


def _laned_routes(app: FastAPI) -> set[tuple[str, str]]:
    laned_code = in_booking_lane(lambda services: None).__code__
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.endpoint.__code__ is laned_code
        for method in route.methods
    }


def test_the_routes_that_place_or_move_bookings_are_the_laned_ones(app: FastAPI) -> None:
    assert _laned_routes(app) == DECORATED


def test_a_staff_booking_and_its_move_wait_their_turn_in_the_lane(
    client: TestClient, world, lane: Counting
) -> None:
    service = world.service()
    world.advisor([service])
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    hotline = world.login(client, "hotline@example.org")

    placed = client.post(
        "/api/v1/staff/bookings", json=callback_body(service.id, at(TUESDAY, 9)), headers=hotline
    )
    assert placed.status_code == 201, placed.text
    moved = client.post(
        f"/api/v1/staff/bookings/{placed.json()['reference']}/reschedule",
        json={"start": at(TUESDAY, 10).isoformat()},
        headers=hotline,
    )

    assert moved.status_code == 200, moved.text
    assert lane.runs == 2


def test_a_citizens_booking_and_its_move_wait_their_turn_in_the_lane(
    client: TestClient, world, lane: Counting, make_booking_body: Callable[..., dict[str, Any]]
) -> None:
    service = world.service()
    world.advisor([service])

    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    moved = reschedule(client, created, at(TUESDAY, 14))

    assert moved.status_code == 200, moved.text
    assert client.get("/api/v1/booking", headers=bearer(manage_token(created))).status_code == 200
    assert lane.runs == 2
    # The booking may run on the event loop (SQLite, writer free); the move's handler does
    # more than a booking and always goes to the lane's thread.
    assert lane.inline_asked == [True, False]
