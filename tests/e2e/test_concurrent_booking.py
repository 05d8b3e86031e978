"""Many real clients at once against a running server: the database lets exactly as many
bookings through as there are free advisors, and everybody else gets a clean 409."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bench.common import (
    REQUEST_TIMEOUT,
    Call,
    Server,
    StaffApi,
    booking_body,
    fire_together,
    first_bookable_day,
)
from tests.office_clock import office_today

CLIENTS = 100


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def _explain(responses: list[httpx.Response]) -> str:
    """The answers by status and the distinct unexpected ones, for the assertion message."""
    odd = {f"{r.status_code} {r.text[:300]}" for r in responses if r.status_code not in (201, 409)}
    return f"{dict(_statuses(responses))}; unexpected: {'; '.join(sorted(odd)) or '-'}"


def _day_of(start: str) -> date:
    return datetime.fromisoformat(start).date()


def _book(http: httpx.Client, service_id: int, start: str, email: str) -> dict[str, object]:
    response = http.post("/api/v1/bookings", json=booking_body(service_id, start, email))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.office_clock
# On the hard days once: the race is the same with more advisors, the dates are not.
@pytest.mark.parametrize("advisors", [1, pytest.param(3, marks=pytest.mark.not_repeated)])
def test_hundred_clients_race_for_one_slot(server: Server, staff: StaffApi, advisors: int) -> None:
    service = staff.create_service("Wohngeld")
    advisor_ids = {
        staff.create_advisor(f"Advisor {i}", f"advisor{i}@example.org", [service["id"]])["id"]
        for i in range(advisors)
    }
    first = first_bookable_day(today=office_today())
    start = staff.slots(service["id"], first, first + timedelta(days=13))[0]

    responses = fire_together(
        server.base_url,
        [
            Call(
                "POST", "/api/v1/bookings", booking_body(service["id"], start, f"c{i}@example.org")
            )
            for i in range(CLIENTS)
        ],
    )

    assert _statuses(responses) == {201: advisors, 409: CLIENTS - advisors}, _explain(responses)
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"slot_unavailable"}
    won = {r.json()["reference"] for r in responses if r.status_code == 201}
    stored = [
        b
        for b in staff.bookings(_day_of(start))
        if b["start"] == start and b["status"] == "confirmed"
    ]
    assert {b["reference"] for b in stored} == won
    assert sorted(b["advisor_id"] for b in stored) == sorted(advisor_ids)


def test_two_server_processes_on_one_database_race_for_one_slot(
    database_url: str, workers_redis_url: str, tmp_path: Path
) -> None:
    """`serve --workers 2`: two processes write one database (on SQLite, one file: they take
    turns through the writer lock). Still exactly one booking per free advisor, no errors.
    Worker processes cannot share a test's office clock: this one runs on the real time."""
    with (
        Server(
            database_url,
            tmp_path / "server",
            workers=2,
            extra_env={"SPRECHSTUNDE_REDIS_URL": workers_redis_url},
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http,
    ):
        staff = StaffApi.bootstrap(server, http)
        service = staff.create_service("Wohngeld")
        for i in range(3):
            staff.create_advisor(f"Advisor {i}", f"advisor{i}@example.org", [service["id"]])
        first = first_bookable_day()
        starts = staff.slots(service["id"], first, first + timedelta(days=13))[:2]

        responses = fire_together(
            server.base_url,
            [
                Call(
                    "POST",
                    "/api/v1/bookings",
                    booking_body(service["id"], starts[i % 2], f"c{i}@example.org"),
                )
                for i in range(CLIENTS)
            ],
        )

        assert _statuses(responses) == {201: 6, 409: CLIENTS - 6}, _explain(responses)
        started = [line for line in server.log().splitlines() if "Started server process" in line]
        assert len(started) == 2, started
        assert "database is locked" not in server.log()


@pytest.mark.office_clock
def test_overlapping_starts_of_two_services(server: Server, staff: StaffApi) -> None:
    """A at 09:00 (30 min) and B at 09:15 (30 min, 15-min grid) overlap on the one advisor."""
    a = staff.create_service("Grundsicherung")
    b = staff.create_service("Hilfe zur Pflege", slot_interval_minutes=15)
    advisor = staff.create_advisor("Advisor", "advisor@example.org", [a["id"], b["id"]])
    first = first_bookable_day(today=office_today())
    start_a = staff.slots(a["id"], first, first + timedelta(days=13))[0]
    day = _day_of(start_a)
    start_b = (datetime.fromisoformat(start_a) + timedelta(minutes=15)).isoformat()
    assert start_b in staff.slots(b["id"], day, day)

    calls = []
    for i in range(CLIENTS // 2):
        calls.append(
            Call("POST", "/api/v1/bookings", booking_body(a["id"], start_a, f"a{i}@x.org"))
        )
        calls.append(
            Call("POST", "/api/v1/bookings", booking_body(b["id"], start_b, f"b{i}@x.org"))
        )
    responses = fire_together(server.base_url, calls)

    assert _statuses(responses) == {201: 1, 409: CLIENTS - 1}, _explain(responses)
    stored = [bk for bk in staff.bookings(day) if bk["status"] == "confirmed"]
    assert len(stored) == 1
    assert stored[0]["advisor_id"] == advisor["id"]
    assert stored[0]["start"] in (start_a, start_b)


@pytest.mark.office_clock
def test_two_reschedules_to_one_free_slot(
    server: Server, staff: StaffApi, http: httpx.Client
) -> None:
    service = staff.create_service("Wohngeld")
    staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
    first = first_bookable_day(today=office_today())
    slots = staff.slots(service["id"], first, first + timedelta(days=13))
    bookings = [_book(http, service["id"], slots[i], f"c{i}@example.org") for i in range(2)]
    tokens = [str(b["manage_url"]).rsplit("/", 1)[1] for b in bookings]
    where = {0: slots[0], 1: slots[1]}

    # Several rounds, each to a slot nobody holds; the winner of a round leaves its old slot.
    for target in slots[2:7]:
        responses = fire_together(
            server.base_url,
            [
                Call(
                    "POST",
                    "/api/v1/booking/reschedule",
                    {"start": target},
                    {"Authorization": f"Bearer {token}"},
                )
                for token in tokens
            ],
        )
        assert sorted(r.status_code for r in responses) == [200, 409], _explain(responses)
        winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
        assert responses[winner].json()["start"] == target
        assert responses[1 - winner].json()["code"] == "slot_unavailable"
        where[winner] = target
        for i, token in enumerate(tokens):
            current = http.get("/api/v1/booking", headers={"Authorization": f"Bearer {token}"})
            assert current.status_code == 200, current.text
            assert current.json()["start"] == where[i]
