"""Races in the callback queue, with real concurrent clients against a running server: agents
claiming one request at once (exactly one wins, the others are told who), and a callback
turned into a booking while a citizen books the same slot (exactly one gets it)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bench.common import Call, Server, StaffApi, booking_body, fire_together, first_bookable_day
from tests.office_clock import office_now, office_today

AGENTS = 6


def _hotline(staff: StaffApi, http: httpx.Client, number: int) -> dict[str, str]:
    email = f"hotline{number}@example.org"
    response = http.post(
        "/api/v1/advisors",
        json={
            "name": f"Hotline {number}",
            "email": email,
            "service_ids": [],
            "role": "hotline",
            "password": "Kastanienbaum Leuchtturm Wolke 42",
        },
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text
    login = http.post(
        "/api/v1/auth/token", json={"email": email, "password": "Kastanienbaum Leuchtturm Wolke 42"}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _callback(http: httpx.Client, service_id: int, number: int) -> dict[str, Any]:
    start = office_now() + timedelta(hours=1)
    response = http.post(
        "/api/v1/callbacks",
        json={
            "service_id": service_id,
            "name": f"Citizen {number}",
            "phone": f"0391 5400{number:02d}",
            "email": f"citizen{number}@example.org",
            "windows": [
                {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
            ],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _queue_ids(http: httpx.Client, headers: dict[str, str], status: str) -> dict[str, int]:
    response = http.get("/api/v1/staff/callbacks", params={"status": status}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["reference"]: item["id"] for item in response.json()}


def _explain(responses: list[httpx.Response]) -> str:
    return "; ".join(f"{r.status_code} {r.text[:200]}" for r in responses)


def test_agents_claiming_one_request_at_once_one_wins(
    server: Server, http: httpx.Client, staff: StaffApi
) -> None:
    service = staff.create_service("Wohngeld")
    agents = [_hotline(staff, http, n) for n in range(AGENTS)]
    references = [_callback(http, service["id"], n)["reference"] for n in range(4)]
    ids = _queue_ids(http, agents[0], "open")

    for reference in references:
        path = f"/api/v1/staff/callbacks/{ids[reference]}/claim"
        responses = fire_together(
            server.base_url, [Call("POST", path, headers=agent) for agent in agents]
        )

        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: AGENTS - 1}, _explain(responses)
        (won,) = [r.json() for r in responses if r.status_code == 200]
        assert won["status"] == "claimed"
        for lost in (r.json() for r in responses if r.status_code == 409):
            assert lost["code"] == "callback_claimed"
            assert lost["claimed_by"] == won["claimed_by"]
    assert _queue_ids(http, agents[0], "open") == {}
    assert set(_queue_ids(http, agents[0], "claimed")) == set(references)


@pytest.mark.office_clock
def test_a_callback_booked_against_a_citizen_for_one_slot_one_wins(
    server: Server, http: httpx.Client, staff: StaffApi
) -> None:
    service = staff.create_service("Wohngeld")
    staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
    agent = _hotline(staff, http, 0)
    first = first_bookable_day(today=office_today())
    starts = staff.slots(service["id"], first, first + timedelta(days=13))[:6]
    winners: Counter[str] = Counter()

    for number, start in enumerate(starts):
        reference = _callback(http, service["id"], number)["reference"]
        callback_id = _queue_ids(http, agent, "open")[reference]
        claimed = http.post(f"/api/v1/staff/callbacks/{callback_id}/claim", headers=agent)
        assert claimed.status_code == 200, claimed.text

        by_agent, by_citizen = fire_together(
            server.base_url,
            [
                Call(
                    "POST",
                    f"/api/v1/staff/callbacks/{callback_id}/book",
                    {"start": start, "channel": "phone"},
                    headers=agent,
                ),
                Call(
                    "POST",
                    "/api/v1/bookings",
                    booking_body(service["id"], start, f"other{number}@example.org"),
                ),
            ],
        )

        statuses = sorted([by_agent.status_code, by_citizen.status_code])
        assert statuses == [201, 409], _explain([by_agent, by_citizen])
        loser = by_agent if by_agent.status_code == 409 else by_citizen
        assert loser.json()["code"] == "slot_unavailable"
        winners["agent" if by_agent.status_code == 201 else "citizen"] += 1
        held = [
            b
            for b in staff.bookings(first, first + timedelta(days=13))
            if b["start"] == start and b["status"] == "confirmed"
        ]
        assert len(held) == 1
        # The request is booked exactly when the agent won; otherwise the agent still has it.
        expected = "booked" if by_agent.status_code == 201 else "claimed"
        assert reference in _queue_ids(http, agent, expected)
    assert sum(winners.values()) == len(starts)


def test_requests_of_one_person_at_once_stop_at_the_cap(
    server: Server, http: httpx.Client, staff: StaffApi
) -> None:
    service = staff.create_service("Wohngeld")
    start = office_now() + timedelta(hours=1)
    request = {
        "service_id": service["id"],
        "name": "Erika Mustermann",
        "phone": "0391 123456",
        "windows": [{"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}],
    }

    responses = fire_together(
        server.base_url, [Call("POST", "/api/v1/callbacks", request) for _ in range(8)]
    )

    assert Counter(r.status_code for r in responses) == {201: 2, 409: 6}, _explain(responses)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "too_many_open_callbacks"
    }
