"""Absences that hit booked appointments, entered at the same time as other changes, with real
concurrent clients against a running server (SQLite, or PostgreSQL with
SPRECHSTUNDE_TEST_DATABASE_URL): nothing is moved into an absence, moved twice by one change,
or lost, and no slot ends up with two appointments."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bench.common import Call, Server, StaffApi, booking_body, fire_together, first_bookable_day
from tests.office_clock import office_today

BERLIN = ZoneInfo("Europe/Berlin")
ROUNDS = 3
CITIZENS = 8


def _book(http: httpx.Client, service_id: int, start: str, email: str) -> dict[str, Any]:
    response = http.post("/api/v1/bookings", json=booking_body(service_id, start, email))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _whole_day(day: date) -> dict[str, str]:
    start = datetime.combine(day, time(), BERLIN)
    end = datetime.combine(day + timedelta(days=1), time(), BERLIN)
    return {"start": start.isoformat(), "end": end.isoformat()}


def _absence(advisor_id: int, day: date, headers: dict[str, str]) -> Call:
    return Call("POST", f"/api/v1/advisors/{advisor_id}/absences", _whole_day(day), headers)


def _days(staff: StaffApi, service_id: int, count: int) -> list[list[str]]:
    """The free starts of the next `count` days that have any, one list per day."""
    first = first_bookable_day(today=office_today())
    starts = staff.slots(service_id, first, first + timedelta(days=20))
    by_day: dict[str, list[str]] = {}
    for start in starts:
        by_day.setdefault(start[:10], []).append(start)
    days = [by_day[key] for key in sorted(by_day)][:count]
    assert len(days) == count
    return days


@pytest.mark.office_clock
def test_two_absences_at_once_whose_appointments_could_swap(
    server: Server, staff: StaffApi, http: httpx.Client
) -> None:
    service = staff.create_service("Wohngeld")
    anna = staff.create_advisor("Anna", "anna@example.org", [service["id"]])
    ben = staff.create_advisor("Ben", "ben@example.org", [service["id"]])
    for n, starts in enumerate(_days(staff, service["id"], ROUNDS)):
        # The least-loaded advisor gets a booking: the first goes to Anna, the second to Ben.
        x = _book(http, service["id"], starts[0], f"x{n}@example.org")
        y = _book(http, service["id"], starts[2], f"y{n}@example.org")
        day = date.fromisoformat(starts[0][:10])

        answers = fire_together(
            server.base_url,
            [_absence(anna["id"], day, staff.headers), _absence(ben["id"], day, staff.headers)],
        )

        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        reports = [item for a in answers for item in a.json()["displaced"]]
        outcomes = Counter((r["reference"], r["outcome"]) for r in reports)
        # Whichever came second saw the first one's move: both end cancelled, each once.
        assert outcomes[(x["reference"], "cancelled")] == 1
        assert outcomes[(y["reference"], "cancelled")] == 1
        assert sum(1 for r in reports if r["outcome"] == "moved") <= 1
        stored = {b["reference"]: b for b in staff.bookings(day)}
        assert stored[x["reference"]]["status"] == "cancelled"
        assert stored[y["reference"]]["status"] == "cancelled"
        assert not [b for b in stored.values() if b["status"] == "confirmed"]


@pytest.mark.office_clock
def test_an_absence_races_citizens_booking_the_colleagues_slot(
    server: Server, staff: StaffApi, http: httpx.Client
) -> None:
    service = staff.create_service("Wohngeld")
    anna = staff.create_advisor("Anna", "anna@example.org", [service["id"]])
    ben = staff.create_advisor("Ben", "ben@example.org", [service["id"]])
    for n, starts in enumerate(_days(staff, service["id"], ROUNDS)):
        start = starts[0]
        x = _book(http, service["id"], start, f"x{n}@example.org")  # Anna's
        day = date.fromisoformat(start[:10])
        calls = [_absence(anna["id"], day, staff.headers)] + [
            Call("POST", "/api/v1/bookings", booking_body(service["id"], start, f"c{n}-{i}@e.org"))
            for i in range(CITIZENS)
        ]

        answers = fire_together(server.base_url, calls)

        absence, citizens = answers[0], answers[1:]
        assert absence.status_code == 201, absence.text
        codes = Counter(a.status_code for a in citizens)
        assert set(codes) <= {201, 409}, [a.text for a in citizens]
        [report] = absence.json()["displaced"]
        assert report["reference"] == x["reference"]
        # Ben's slot went either to Anna's citizen (moved) or to one racing citizen.
        assert codes[201] + (report["outcome"] == "moved") == 1
        at_start = [
            b for b in staff.bookings(day) if b["start"] == start and b["status"] == "confirmed"
        ]
        assert len(at_start) == 1
        assert at_start[0]["advisor_id"] == ben["id"]
        moved = report["outcome"] == "moved"
        assert (at_start[0]["reference"] == x["reference"]) == moved
        stored_x = next(b for b in staff.bookings(day) if b["reference"] == x["reference"])
        assert stored_x["status"] == ("confirmed" if moved else "cancelled")


@pytest.mark.office_clock
def test_an_absence_races_citizens_booking_the_absent_advisors_free_times(
    server: Server, staff: StaffApi, http: httpx.Client
) -> None:
    service = staff.create_service("Pflege")
    anna = staff.create_advisor("Anna", "anna@example.org", [service["id"]])
    for n, starts in enumerate(_days(staff, service["id"], ROUNDS)):
        day = date.fromisoformat(starts[0][:10])
        calls = [
            Call("POST", "/api/v1/bookings", booking_body(service["id"], s, f"d{n}-{i}@e.org"))
            for i, s in enumerate(starts[:CITIZENS])
        ]
        calls.insert(CITIZENS // 2, _absence(anna["id"], day, staff.headers))

        answers = fire_together(server.base_url, calls)

        absence = answers.pop(CITIZENS // 2)
        assert absence.status_code == 201, absence.text
        assert {a.status_code for a in answers} <= {201, 409, 422}, [a.text for a in answers]
        booked = {a.json()["reference"] for a in answers if a.status_code == 201}
        reported = {r["reference"] for r in absence.json()["displaced"]}
        # A booking the absence did not see must not exist: every one placed is in its report.
        assert booked == reported
        stored = staff.bookings(day)
        assert not [b for b in stored if b["status"] == "confirmed"]
        assert {b["reference"] for b in stored if b["status"] == "cancelled"} == booked
