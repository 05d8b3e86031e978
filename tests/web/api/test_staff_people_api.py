"""The staff API of requests about a person (web/api/staff_people.py): who may call what, in
one table; finding, exporting and erasing Erika's records with the counts confirmed; and the
refusals the domain gives (changed records, something under way, too little to name anyone,
bad bodies). Erika's records are those of tests/scheduler/test_people.py. The clock is the
suite's frozen Monday, 2031-01-06."""

from __future__ import annotations

import pytest

from scheduler.models import Role
from tests.scheduler.test_people import ERIKA, admin, erika, row, service
from tests.web.pages.test_staff_people import settled

__all__ = ["admin", "erika", "service", "settled"]  # fixtures of the neighbouring tests

ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "advisor@example.org", "hotline": "hotline@example.org"}
CONFIRMED = {"bookings": 1, "callbacks": 1, "waitlist": 1}
# (what, method, path, expected: anonymous, advisor, hotline, admin). Erika's appointment is
# still to come, so an administrator's erasure is refused as busy (409).
CALLS = [
    ("find", "GET", f"/api/v1/staff/people?email={ERIKA}", (401, 403, 403, 200)),
    ("export", "GET", f"/api/v1/staff/people/export?email={ERIKA}", (401, 403, 403, 200)),
    ("erase", "POST", "/api/v1/staff/people/erase", (401, 403, 403, 409)),
]


@pytest.fixture
def headers(world, client, erika):
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)

    def of(role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        return world.login(client, EMAILS.get(role, "admin@example.org"))

    return of


def _erase(client, headers, **changes):
    body = {"email": ERIKA, "phone": "", "confirmed": CONFIRMED} | changes
    return client.post("/api/v1/staff/people/erase", json=body, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "method", "path", "expected"), CALLS, ids=[c[0] for c in CALLS])
def test_who_may_call_each_endpoint(
    client, container, erika, headers, role, what, method, path, expected
):
    body = {"email": ERIKA, "confirmed": CONFIRMED} if method == "POST" else None
    answer = client.request(method, path, json=body, headers=headers(role))
    assert answer.status_code == expected[ROLES.index(role)], what
    assert row(container, erika["first"]["reference"]).name == "Erika Mustermann"


def test_a_person_is_found_exported_and_erased(client, container, headers, settled):
    office = headers("admin")
    found = client.get("/api/v1/staff/people", params={"phone": "+49 391 5400815"}, headers=office)
    assert found.status_code == 200
    assert found.json()["counts"] == {"bookings": 2, "callbacks": 0, "waitlist": 0}

    exported = client.get("/api/v1/staff/people/export", params={"email": ERIKA}, headers=office)
    assert exported.headers["content-disposition"].startswith("attachment;")
    assert exported.headers["cache-control"] == "no-store"
    assert exported.json()["bookings"][0]["documents"][0]["name"] == "Bescheid.pdf"

    erased = _erase(client, office)
    assert erased.status_code == 200, erased.text
    counts = erased.json()["counts"]
    assert counts["bookings_anonymised"] == 1
    assert counts["callback_requests_deleted"] == 1
    assert counts["waitlist_entries_deleted"] == 1
    after = client.get("/api/v1/staff/people", params={"email": ERIKA}, headers=office)
    assert after.json()["counts"] == {"bookings": 0, "callbacks": 0, "waitlist": 0}
    assert row(container, settled["second"]["reference"]).name == "E. Mustermann"


def test_changed_counts_and_a_busy_person_are_refused(client, container, headers, erika):
    office = headers("admin")
    busy = _erase(client, office)
    changed = _erase(client, office, confirmed=CONFIRMED | {"bookings": 2})

    assert (busy.status_code, busy.json()["code"]) == (409, "person_busy")
    assert (changed.status_code, changed.json()["code"]) == (409, "records_changed")
    assert row(container, erika["first"]["reference"]).name == "Erika Mustermann"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (("GET", "/api/v1/staff/people", {"phone": "0815"}, None), "person_unspecified"),
        (("GET", "/api/v1/staff/people/export", {}, None), "person_unspecified"),
        (("GET", "/api/v1/staff/people", {"email": "x" * 321}, None), "validation_error"),
        (
            ("POST", "/api/v1/staff/people/erase", {}, {"confirmed": CONFIRMED}),
            "person_unspecified",
        ),
        (("POST", "/api/v1/staff/people/erase", {}, {"email": ERIKA}), "validation_error"),
        (
            ("POST", "/api/v1/staff/people/erase", {}, {"email": ERIKA, "confirmed": {}}),
            "validation_error",
        ),
        (
            (
                "POST",
                "/api/v1/staff/people/erase",
                {},
                {"email": ERIKA, "confirmed": CONFIRMED | {"bookings": "1"}},
            ),
            "validation_error",
        ),
        (
            (
                "POST",
                "/api/v1/staff/people/erase",
                {},
                {"email": ERIKA, "confirmed": CONFIRMED | {"waitlist": -1}},
            ),
            "validation_error",
        ),
        (
            (
                "POST",
                "/api/v1/staff/people/erase",
                {},
                {"email": ERIKA, "confirmed": CONFIRMED, "name": "Erika"},
            ),
            "validation_error",
        ),
    ],
)
def test_bad_input_is_a_422(client, container, headers, erika, call, code):
    method, path, params, body = call
    answer = client.request(method, path, params=params, json=body, headers=headers("admin"))

    assert (answer.status_code, answer.json()["code"]) == (422, code)
    assert row(container, erika["first"]["reference"]).name == "Erika Mustermann"


def test_a_body_that_is_no_json_is_a_400(client, headers):
    answer = client.post(
        "/api/v1/staff/people/erase",
        content=b"{",
        headers=headers("admin") | {"Content-Type": "application/json"},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "malformed_json")


def test_the_endpoints_are_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert set(paths["/api/v1/staff/people"]) == {"get"}
    assert set(paths["/api/v1/staff/people/export"]) == {"get"}
    erase = paths["/api/v1/staff/people/erase"]["post"]
    assert {"401", "403", "409", "422"} <= set(erase["responses"])
