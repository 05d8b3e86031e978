"""The staff part of the HTTP contract: login, services, advisors, hours, absences, bookings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.conftest import PASSWORD

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
WEDNESDAY = date(2031, 1, 8)

BodyFactory = Callable[..., dict[str, Any]]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def slot_starts(client: TestClient, service_id: int, first: date, last: date) -> list[str]:
    response = client.get(
        f"/api/v1/services/{service_id}/slots",
        params={"start": first.isoformat(), "end": last.isoformat()},
    )
    assert response.status_code == 200, response.text
    return [s["start"] for s in response.json()["slots"]]


def booked(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/bookings", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


SERVICE_BODY = {"name": "Wohngeld", "duration_minutes": 45, "channels": ["video", "phone"]}


# -- login -----------------------------------------------------------------------------------


def test_login_returns_a_bearer_access_token(client: TestClient, world) -> None:
    response = login(client, "admin@example.org")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == "admin@example.org"


def test_login_with_a_wrong_password_is_401(client: TestClient, world) -> None:
    response = login(client, "admin@example.org", "wrong password!")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_login_with_an_unknown_email_is_401(client: TestClient, world) -> None:
    response = login(client, "nobody@example.org")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_login_after_five_failures_is_429_with_retry_after(client: TestClient, world) -> None:
    for _ in range(5):
        assert login(client, "admin@example.org", "wrong password!").status_code == 401

    response = login(client, "admin@example.org")  # even the right password, for now

    assert response.status_code == 429
    assert response.json()["code"] == "login_throttled"
    assert int(response.headers["Retry-After"]) > 0


# -- services --------------------------------------------------------------------------------


def test_admin_creates_a_service(client: TestClient, world) -> None:
    body = {**SERVICE_BODY, "buffer_minutes": 15, "min_notice_minutes": 30, "horizon_days": 20}

    response = client.post("/api/v1/services", json=body, headers=world.login(client))

    assert response.status_code == 201, response.text
    created = response.json()
    assert isinstance(created["id"], int)
    assert {k: created[k] for k in body} == body
    assert [s["id"] for s in client.get("/api/v1/services").json()] == [created["id"]]


def test_advisor_may_not_create_a_service(client: TestClient, world) -> None:
    world.advisor([], email="advisor@example.org")
    headers = world.login(client, "advisor@example.org")

    response = client.post("/api/v1/services", json=SERVICE_BODY, headers=headers)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_hotline_may_not_create_a_service(client: TestClient, world) -> None:
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    headers = world.login(client, "hotline@example.org")

    response = client.post("/api/v1/services", json=SERVICE_BODY, headers=headers)

    assert response.status_code == 403


def test_creating_a_service_without_a_token_is_401(client: TestClient, world) -> None:
    response = client.post("/api/v1/services", json=SERVICE_BODY)

    assert response.status_code == 401
    assert client.get("/api/v1/services").json() == []


# -- advisors --------------------------------------------------------------------------------


def test_admin_creates_an_advisor_and_the_password_is_not_returned(
    client: TestClient, world
) -> None:
    service = world.service()
    body = {
        "name": "Frau Schmidt",
        "email": "schmidt@example.org",
        "service_ids": [service.id],
        "password": "a long enough password",
    }

    response = client.post("/api/v1/advisors", json=body, headers=world.login(client))

    assert response.status_code == 201, response.text
    created = response.json()
    assert isinstance(created["id"], int)
    assert created["name"] == "Frau Schmidt"
    assert created["email"] == "schmidt@example.org"
    assert created["service_ids"] == [service.id]
    assert created["role"] == "advisor"
    assert "password" not in created
    assert "a long enough password" not in response.text
    assert login(client, "schmidt@example.org", "a long enough password").status_code == 200


def test_creating_an_advisor_with_a_taken_email_is_422(client: TestClient, world) -> None:
    world.advisor([], email="schmidt@example.org")
    body = {"name": "Frau Schmidt", "email": "Schmidt@example.org", "service_ids": []}

    response = client.post("/api/v1/advisors", json=body, headers=world.login(client))

    assert response.status_code == 422
    assert response.json()["code"] == "email_taken"


def test_creating_an_advisor_for_an_unknown_service_is_404(client: TestClient, world) -> None:
    body = {"name": "Frau Schmidt", "email": "schmidt@example.org", "service_ids": [999]}

    response = client.post("/api/v1/advisors", json=body, headers=world.login(client))

    assert response.status_code == 404
    names = [a["email"] for a in client.get("/api/v1/advisors", headers=world.login(client)).json()]
    assert "schmidt@example.org" not in names


# -- weekly hours ----------------------------------------------------------------------------

TUESDAY_AFTERNOON = [{"weekday": 1, "start": "14:00", "end": "15:00"}]


def put_hours(client: TestClient, advisor_id: int, hours: Any, headers: dict[str, str]) -> Any:
    return client.put(f"/api/v1/advisors/{advisor_id}/weekly-hours", json=hours, headers=headers)


def test_admin_sets_an_advisors_weekly_hours(client: TestClient, world) -> None:
    advisor = world.advisor([])

    response = put_hours(client, advisor.id, TUESDAY_AFTERNOON, world.login(client))

    assert response.status_code == 200, response.text
    assert response.json() == TUESDAY_AFTERNOON


def test_an_advisor_sets_their_own_weekly_hours(client: TestClient, world) -> None:
    advisor = world.advisor([], email="self@example.org")

    response = put_hours(
        client, advisor.id, TUESDAY_AFTERNOON, world.login(client, "self@example.org")
    )

    assert response.status_code == 200, response.text


def test_an_advisor_may_not_set_another_advisors_hours(client: TestClient, world) -> None:
    other = world.advisor([], email="other@example.org")
    world.advisor([], email="self@example.org")

    response = put_hours(
        client, other.id, TUESDAY_AFTERNOON, world.login(client, "self@example.org")
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("hours", "code"),
    [
        pytest.param(
            [
                {"weekday": 1, "start": "09:00", "end": "12:00"},
                {"weekday": 1, "start": "11:00", "end": "13:00"},
            ],
            "hours_overlap",
            id="overlapping",
        ),
        pytest.param(
            [{"weekday": 1, "start": "12:00", "end": "09:00"}], "range_reversed", id="reversed"
        ),
        pytest.param(
            [{"weekday": 7, "start": "09:00", "end": "12:00"}], "validation_error", id="weekday-7"
        ),
        pytest.param(
            [{"weekday": 1, "start": "09:00", "end": "25:00"}], "validation_error", id="25-00"
        ),
    ],
)
def test_invalid_weekly_hours_are_422_and_change_nothing(
    client: TestClient, world, hours: Any, code: str
) -> None:
    service = world.service()
    advisor = world.advisor([service])
    before = slot_starts(client, service.id, TUESDAY, TUESDAY)

    response = put_hours(client, advisor.id, hours, world.login(client))

    assert response.status_code == 422
    assert response.json()["code"] == code
    assert slot_starts(client, service.id, TUESDAY, TUESDAY) == before


def test_new_weekly_hours_change_the_slots_at_once(client: TestClient, world) -> None:
    service = world.service()
    advisor = world.advisor([service])

    put_hours(client, advisor.id, TUESDAY_AFTERNOON, world.login(client))

    assert slot_starts(client, service.id, TUESDAY, WEDNESDAY) == [
        "2031-01-07T14:00:00+01:00",
        "2031-01-07T14:30:00+01:00",
    ]


# -- absences --------------------------------------------------------------------------------

WHOLE_WEDNESDAY = {"start": "2031-01-08T00:00:00+01:00", "end": "2031-01-09T00:00:00+01:00"}


def add_absence(client: TestClient, advisor_id: int, body: Any, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/advisors/{advisor_id}/absences", json=body, headers=headers)


def test_an_advisor_records_their_own_absence(client: TestClient, world) -> None:
    advisor = world.advisor([], email="self@example.org")

    response = add_absence(
        client, advisor.id, WHOLE_WEDNESDAY, world.login(client, "self@example.org")
    )

    assert response.status_code == 201, response.text
    assert response.json()["start"] == "2031-01-08T00:00:00+01:00"
    assert response.json()["end"] == "2031-01-09T00:00:00+01:00"


def test_an_advisor_may_not_record_another_advisors_absence(client: TestClient, world) -> None:
    other = world.advisor([], email="other@example.org")
    world.advisor([], email="self@example.org")

    response = add_absence(
        client, other.id, WHOLE_WEDNESDAY, world.login(client, "self@example.org")
    )

    assert response.status_code == 403


def test_a_whole_day_absence_removes_that_days_slots(client: TestClient, world) -> None:
    service = world.service()
    advisor = world.advisor([service])

    add_absence(client, advisor.id, WHOLE_WEDNESDAY, world.login(client))

    starts = slot_starts(client, service.id, TUESDAY, date(2031, 1, 9))
    days = {datetime.fromisoformat(s).date() for s in starts}
    assert days == {TUESDAY, date(2031, 1, 9)}


def test_an_absence_ending_before_it_starts_is_422(client: TestClient, world) -> None:
    advisor = world.advisor([])
    body = {"start": WHOLE_WEDNESDAY["end"], "end": WHOLE_WEDNESDAY["start"]}

    response = add_absence(client, advisor.id, body, world.login(client))

    assert response.status_code == 422
    assert response.json()["code"] == "range_reversed"


# -- bookings on a citizen's behalf ----------------------------------------------------------


def callback_body(service_id: int, start: datetime) -> dict[str, Any]:
    return {
        "service_id": service_id,
        "start": start.isoformat(),
        "channel": "phone",
        "name": "Otto Normalverbraucher",
        "phone": "+49 391 1234567",
    }


def test_hotline_books_a_phone_callback_for_a_citizen_without_email(
    client: TestClient, world
) -> None:
    service = world.service()
    world.advisor([service])
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)

    response = client.post(
        "/api/v1/staff/bookings",
        json=callback_body(service.id, at(TUESDAY, 9)),
        headers=world.login(client, "hotline@example.org"),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["channel"] == "phone"
    assert body["email"] is None
    assert body["join_url"] is None
    assert "2031-01-07T09:00:00+01:00" not in slot_starts(client, service.id, TUESDAY, TUESDAY)


def test_an_advisor_may_not_book_on_a_citizens_behalf(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service], email="advisor@example.org")

    response = client.post(
        "/api/v1/staff/bookings",
        json=callback_body(service.id, at(TUESDAY, 9)),
        headers=world.login(client, "advisor@example.org"),
    )

    assert response.status_code == 403
    assert "2031-01-07T09:00:00+01:00" in slot_starts(client, service.id, TUESDAY, TUESDAY)


def two_advisors_with_one_booking_each(
    client: TestClient, world, make_booking_body: BodyFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Advisor "first@" gets the 09:00 booking, "second@" the 11:00 one (least loaded)."""
    service = world.service()
    world.advisor([service], email="first@example.org")
    world.advisor([service], email="second@example.org")
    mine = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    theirs = booked(client, make_booking_body(service, at(TUESDAY, 11), email="max@example.org"))
    return mine, theirs


def test_advisors_list_only_their_own_bookings(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    mine, theirs = two_advisors_with_one_booking_each(client, world, make_booking_body)

    response = client.get(
        "/api/v1/staff/bookings",
        params={"start": TUESDAY.isoformat(), "end": WEDNESDAY.isoformat()},
        headers=world.login(client, "first@example.org"),
    )

    assert response.status_code == 200, response.text
    assert [b["reference"] for b in response.json()] == [mine["reference"]]
    everything = client.get(
        "/api/v1/staff/bookings",
        params={"start": TUESDAY.isoformat(), "end": WEDNESDAY.isoformat()},
        headers=world.login(client),
    )
    assert {b["reference"] for b in everything.json()} == {mine["reference"], theirs["reference"]}


def test_another_advisors_booking_is_404_for_an_advisor(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    _, theirs = two_advisors_with_one_booking_each(client, world, make_booking_body)

    response = client.get(
        f"/api/v1/staff/bookings/{theirs['reference']}",
        headers=world.login(client, "first@example.org"),
    )

    assert response.status_code == 404


def test_every_staff_read_and_change_is_in_the_audit_log(client: TestClient, world) -> None:
    service = world.service()
    world.advisor([service])
    hotline = world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    as_hotline = world.login(client, "hotline@example.org")
    as_admin = world.login(client)
    created = client.post(
        "/api/v1/staff/bookings", json=callback_body(service.id, at(TUESDAY, 9)), headers=as_hotline
    ).json()
    reference = created["reference"]

    client.get(f"/api/v1/staff/bookings/{reference}", headers=as_admin)
    client.post(f"/api/v1/staff/bookings/{reference}/reissue-link", headers=as_admin)
    client.post(f"/api/v1/staff/bookings/{reference}/cancel", headers=as_hotline)
    response = client.get(f"/api/v1/staff/bookings/{reference}/audit", headers=as_admin)

    assert response.status_code == 200, response.text
    entries = {(e["action"], e["actor_id"]) for e in response.json()}
    assert ("create", hotline.id) in entries
    assert ("read", world.admin.id) in entries
    assert ("reissue_link", world.admin.id) in entries
    assert ("cancel", hotline.id) in entries


def test_listing_bookings_is_audited_as_reads(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    advisor = world.advisor([service], email="advisor@example.org")
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    client.get(
        "/api/v1/staff/bookings",
        params={"start": TUESDAY.isoformat()},
        headers=world.login(client, "advisor@example.org"),
    )

    trail = client.get(
        f"/api/v1/staff/bookings/{created['reference']}/audit", headers=world.login(client)
    ).json()
    assert [(e["action"], e["actor_id"]) for e in trail] == [("read", advisor.id)]


def test_only_an_admin_may_read_the_audit_log(
    client: TestClient, world, make_booking_body: BodyFactory
) -> None:
    service = world.service()
    world.advisor([service], email="advisor@example.org")
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))

    response = client.get(
        f"/api/v1/staff/bookings/{created['reference']}/audit",
        headers=world.login(client, "advisor@example.org"),
    )

    assert response.status_code == 403


# -- outcome ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["completed", "no_show"])
def test_the_advisor_records_the_outcome(
    client: TestClient, world, clock, make_booking_body: BodyFactory, outcome: str
) -> None:
    service = world.service()
    world.advisor([service], email="advisor@example.org")
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    clock.now = at(TUESDAY, 9, 45)

    response = client.post(
        f"/api/v1/staff/bookings/{created['reference']}/outcome",
        json={"outcome": outcome},
        headers=world.login(client, "advisor@example.org"),
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == outcome


@pytest.mark.parametrize("outcome", ["cancelled", "maybe", None])
def test_an_invalid_outcome_is_422(
    client: TestClient, world, make_booking_body: BodyFactory, outcome: object
) -> None:
    service = world.service()
    world.advisor([service])
    created = booked(client, make_booking_body(service, at(TUESDAY, 9)))
    headers = world.login(client)

    response = client.post(
        f"/api/v1/staff/bookings/{created['reference']}/outcome",
        json={"outcome": outcome},
        headers=headers,
    )

    assert response.status_code == 422
    status = client.get(f"/api/v1/staff/bookings/{created['reference']}", headers=headers)
    assert status.json()["status"] == "confirmed"


# -- operations ------------------------------------------------------------------------------


def test_healthz_is_ok(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_the_database_answers(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200


def test_openapi_schema_documents_the_contract_paths(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    contract = {
        "/api/v1/services": {"get", "post"},
        "/api/v1/services/{service_id}/slots": {"get"},
        "/api/v1/bookings": {"post"},
        "/api/v1/booking": {"get"},
        "/api/v1/booking/invite.ics": {"get"},
        "/api/v1/booking/cancel": {"post"},
        "/api/v1/booking/reschedule": {"post"},
        "/api/v1/auth/token": {"post"},
        "/api/v1/advisors": {"post"},
        "/api/v1/advisors/{advisor_id}/weekly-hours": {"put"},
        "/api/v1/advisors/{advisor_id}/absences": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    for path, methods in contract.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_staff_token_expires_after_the_announced_lifetime(client: TestClient, world, clock) -> None:
    token = login(client, "admin@example.org").json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    clock.advance(seconds=token["expires_in"] - 1)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(seconds=1)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
