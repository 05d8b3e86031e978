"""`SPRECHSTUNDE_LOG_FORMAT=json` on a real `sprechstunde serve`: every line of its output is one
JSON object, each request's events carry the id its answer names in `X-Request-ID`, and a whole
booking, manage and call flow leaves no name, e-mail address, phone number or token in the log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import REQUEST_TIMEOUT, Server, StaffApi, booking_body, first_bookable_day
from tests import office_clock
from tests.e2e.video import (
    enter,
    guest_ticket,
    host_ticket,
    let_everybody_in,
    open_room,
    see_each_other,
)
from tests.office_clock import office_today

pytestmark = [
    pytest.mark.office_clock,
    pytest.mark.usefixtures("loopback_ice"),
    pytest.mark.timeout(120),
]

NAME = "Kunigunde Quastenflosser"
EMAIL = "kunigunde.quastenflosser@example.org"
PHONE = "+49 391 5550 1234"


@pytest.fixture
def json_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = office_clock.server(
        database_url, tmp_path / "server", extra_env={"SPRECHSTUNDE_LOG_FORMAT": "json"}
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _events(server: Server, sentinel: str) -> list[dict[str, Any]]:
    """Every line of the log as JSON, once the request with `sentinel` has been logged."""
    deadline = time.monotonic() + 10
    while sentinel not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in server.log().splitlines() if line.strip()]
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return events


def test_a_whole_flow_logs_json_lines_with_request_ids_and_nothing_personal(json_server):
    with httpx.Client(base_url=json_server.base_url, timeout=REQUEST_TIMEOUT) as http:
        staff = StaffApi.bootstrap(json_server, http)
        service = staff.create_service("Wohngeld")
        staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
        first = first_bookable_day(today=office_today())
        times = staff.slots(service["id"], first, first + timedelta(days=13))
        booked = http.post(
            "/api/v1/bookings",
            json=booking_body(service["id"], times[0], EMAIL, name=NAME, phone=PHONE),
        )
        assert booked.status_code == 201, booked.text
        booking = booked.json()
        manage = booking["manage_url"].rsplit("/", 1)[1]
        join = booking["join_url"].rsplit("/", 1)[1]
        as_citizen = {"Authorization": f"Bearer {manage}"}
        assert http.get(f"/b/{manage}").status_code in (200, 303)
        assert http.get("/api/v1/booking", headers=as_citizen).is_success
        moved = http.post(
            "/api/v1/booking/reschedule", json={"start": times[1]}, headers=as_citizen
        )
        assert moved.is_success, moved.text
        http.get(f"/j/{join}")
        room = open_room(http, staff)
        tickets = [host_ticket(http, staff, room), guest_ticket(http, room.guest_link, NAME)]

        async def call() -> None:
            async with AsyncExitStack() as stack:
                host = await enter(stack, tickets[0], admit=let_everybody_in)
                guest = await enter(stack, tickets[1])
                await see_each_other([host, guest], frames=5)

        asyncio.run(asyncio.wait_for(call(), 40))
        assert http.post("/api/v1/booking/cancel", headers=as_citizen).is_success
        plain = http.get("/healthz")
        sentinel = uuid.uuid4().hex  # the last request: once it is logged, all the others are
        marked = http.get("/healthz", headers={"X-Request-ID": sentinel})
        assert marked.headers["x-request-id"] == sentinel
        secrets = {
            "name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "phone digits": "5550 1234",
            "manage token": manage,
            "join token": join,
            "guest link": room.guest_link,
            "staff token": staff.headers["Authorization"].removeprefix("Bearer "),
            **{f"ticket {n}": ticket["ticket"] for n, ticket in enumerate(tickets)},
        }

    events = _events(json_server, sentinel)
    log = json_server.log()
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} is in the log"
    for event in events:
        assert {"time", "level", "logger", "message"} <= event.keys(), event
    requests = [e for e in events if e.get("event") == "request"]
    assert {e["route"] for e in requests} >= {
        "/api/v1/bookings",
        "/b/{token}",
        "/api/v1/booking/reschedule",
        "/api/v1/booking/cancel",
    }
    assert any(e.get("event") == "websocket" and e["route"] == "/ws/signaling" for e in events)
    assert all(len(e["request_id"]) >= 8 for e in requests)
    assert [e["status"] for e in requests if e["request_id"] == sentinel] == [200]
    assert plain.headers["x-request-id"] in {e["request_id"] for e in requests}
    assert not any(e["logger"] == "uvicorn.access" for e in events)  # replaced, not doubled
    # Nor the client's address and port, which uvicorn names in its WebSocket lines.
    assert not [e for e in events if re.search(r"\d+\.\d+\.\d+\.\d+:\d+ - ", e["message"])]
