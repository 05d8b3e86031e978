"""Magic-link and JWT tokens never reach the server's log, whichever way they are sent."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import pytest

from bench.common import Server, StaffApi, booking_body, first_bookable_day
from tests.office_clock import office_today

pytestmark = pytest.mark.office_clock

MARKER = "[redacted]"


def _wait_for_log(server: Server, text: str, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log = server.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in the server log:\n{server.log()[-5000:]}")


def test_tokens_never_appear_in_the_log(
    server: Server, staff: StaffApi, http: httpx.Client
) -> None:
    service = staff.create_service("Wohngeld")
    staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
    first = first_bookable_day(today=office_today())
    start = staff.slots(service["id"], first, first + timedelta(days=13))[0]
    response = http.post(
        "/api/v1/bookings", json=booking_body(service["id"], start, "erika@example.org")
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    manage = booking["manage_url"].rsplit("/", 1)[1]
    join = booking["join_url"].rsplit("/", 1)[1]
    staff_token = staff.headers["Authorization"].removeprefix("Bearer ")
    secrets = {"manage": manage, "join": join, "staff": staff_token}

    http.get(f"/b/{manage}")
    http.get(f"/j/{join}")
    assert http.get("/api/v1/booking", headers={"Authorization": f"Bearer {manage}"}).is_success
    http.get("/api/v1/booking", params={"token": manage})
    http.get("/api/v1/services", params={"access_token": staff_token, "lang": "de"})
    http.get(f"/api/v1/nowhere/{manage}")  # JWT-shaped, in no known parameter or route
    # The access log is written as responses go out: wait for a line after all of the above.
    sentinel = uuid.uuid4().hex
    http.get("/healthz", params={"probe": sentinel})
    log = _wait_for_log(server, sentinel)

    assert "/api/v1/booking" in log, "the access log is not in the server output"
    for name, token in secrets.items():
        assert token not in log, f"the {name} token leaked into the log"
        signature = token.rsplit(".", 1)[-1]
        assert signature not in log, f"the signature of the {name} token leaked into the log"
    assert f"/b/{MARKER}" in log
    assert f"/j/{MARKER}" in log
    assert f"token={MARKER}" in log
    assert log.count(MARKER) >= 5
