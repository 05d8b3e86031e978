"""Bad input gets a clear 4xx answer in the caller's language: never a 500, never lost data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scheduler.models import Booking, Service
from web.container import Container

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_NINE = datetime(2031, 1, 7, 9, 0, tzinfo=BERLIN)
JSON = {"Content-Type": "application/json"}
LIMIT = 64 * 1024

BodyFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def service(world) -> Service:
    service = world.service()
    world.advisor([service], password=None)
    return service  # type: ignore[no-any-return]


@pytest.fixture
def valid_body(service: Service, make_booking_body: BodyFactory) -> dict[str, Any]:
    return make_booking_body(service, TUESDAY_NINE)


def booking_count(container: Container) -> int:
    with container.sessions() as session:
        return session.scalar(select(func.count()).select_from(Booking)) or 0


def post_raw(client: TestClient, content: bytes | str, **headers: str) -> Any:
    return client.post("/api/v1/bookings", content=content, headers={**JSON, **headers})


# -- the shape of the body -------------------------------------------------------------------


def test_malformed_json_is_400_malformed_json(client: TestClient, service: Service) -> None:
    response = post_raw(client, b'{"service_id": 1, "start": ')

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize("content", ["[]", '"a string"', "null"])
def test_a_body_that_is_not_an_object_is_422(
    client: TestClient, service: Service, content: str
) -> None:
    response = post_raw(client, content)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service_id", "abc"),
        ("service_id", 1.5),
        ("start", "tomorrow"),
        ("start", "2031-01-07T09:00:00"),  # no offset: which 09:00?
        ("start", "2031-01-07"),
        ("channel", "carrier pigeon"),
        ("email", "not-an-email"),
        ("email", "erika@"),
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 500),
        ("notes", "x" * 5000),
        ("phone", "call me maybe"),
        ("language", "Deutsch"),
    ],
)
def test_an_invalid_field_is_422_naming_the_field(
    client: TestClient, valid_body: dict[str, Any], field: str, value: object
) -> None:
    response = client.post("/api/v1/bookings", json={**valid_body, field: value})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in {e["field"] for e in body["errors"]}


@pytest.mark.parametrize("field", ["service_id", "start", "channel", "name", "email"])
def test_a_missing_required_field_is_422(
    client: TestClient, valid_body: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in valid_body.items() if k != field}

    response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


def test_an_unknown_service_is_404(client: TestClient, valid_body: dict[str, Any]) -> None:
    response = client.post("/api/v1/bookings", json={**valid_body, "service_id": 999})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_slots_of_an_unknown_service_are_404(client: TestClient, world) -> None:
    response = client.get("/api/v1/services/999/slots", params={"start": "2031-01-07"})

    assert response.status_code == 404


# -- size limits -----------------------------------------------------------------------------


def test_a_body_over_64_kib_is_413(client: TestClient, valid_body: dict[str, Any]) -> None:
    content = json.dumps({**valid_body, "notes": "x" * LIMIT}).encode()

    response = post_raw(client, content)

    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_a_streamed_body_over_64_kib_is_413(
    client: TestClient, container: Container, valid_body: dict[str, Any]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield json.dumps(valid_body)[:-1].encode() + b', "notes": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = post_raw(client, chunks())  # type: ignore[arg-type]  # no Content-Length

    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert booking_count(container) == 0


def test_a_streamed_body_under_the_limit_is_accepted(
    client: TestClient, valid_body: dict[str, Any]
) -> None:
    def chunks() -> Iterator[bytes]:
        text = json.dumps(valid_body).encode()
        yield text[:10]
        yield text[10:]

    response = post_raw(client, chunks())  # type: ignore[arg-type]

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("key", ["with spaces", "x" * 500, "", "\tkey", "ümlaut".encode()])
def test_an_invalid_idempotency_key_is_422(
    client: TestClient, container: Container, valid_body: dict[str, Any], key: str | bytes
) -> None:
    headers = {**JSON, "Idempotency-Key": key}

    response = client.post("/api/v1/bookings", content=json.dumps(valid_body), headers=headers)

    assert response.status_code == 422
    assert booking_count(container) == 0


# -- paths and methods -----------------------------------------------------------------------


def test_an_unknown_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "unknown_path"


def test_a_wrong_method_is_a_json_405(client: TestClient) -> None:
    response = client.delete("/api/v1/services")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "method_not_allowed"


# -- slot searches ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2031-01-10", "end": "2031-01-07"}, "range_reversed"),
        ({"start": "2031-01-07", "end": "2031-03-31"}, "range_too_long"),
        ({"start": "2031-13-01"}, "validation_error"),
        ({"start": "tomorrow"}, "validation_error"),
        ({"start": "2031-01-07", "end": "07.01.2031"}, "validation_error"),
        ({}, "validation_error"),
        ({"start": "2031-01-07", "channel": "fax"}, "validation_error"),
    ],
)
def test_an_invalid_slot_search_is_422(
    client: TestClient, service: Service, params: dict[str, str], code: str
) -> None:
    response = client.get(f"/api/v1/services/{service.id}/slots", params=params)

    assert response.status_code == 422
    assert response.json()["code"] == code


def test_a_slot_search_over_the_longest_allowed_range_is_200(
    client: TestClient, service: Service
) -> None:
    first = date(2031, 1, 7)
    last = date.fromordinal(first.toordinal() + 61)  # 62 days, both inclusive

    response = client.get(
        f"/api/v1/services/{service.id}/slots",
        params={"start": first.isoformat(), "end": last.isoformat()},
    )

    assert response.status_code == 200


# -- languages -------------------------------------------------------------------------------


def test_messages_are_german_by_default_and_english_on_request(
    client: TestClient, valid_body: dict[str, Any]
) -> None:
    bad = {**valid_body, "email": "not-an-email"}

    german = client.post("/api/v1/bookings", json=bad)
    english = client.post("/api/v1/bookings", json=bad, headers={"Accept-Language": "en"})

    assert german.json()["code"] == english.json()["code"] == "validation_error"
    assert german.json()["detail"] != english.json()["detail"]
    assert english.json()["detail"] == "Some fields are missing or invalid."


def test_domain_errors_are_translated_too(client: TestClient, valid_body: dict[str, Any]) -> None:
    closed = {**valid_body, "start": "2031-01-06T10:00:00+01:00"}

    german = client.post("/api/v1/bookings", json=closed)
    english = client.post("/api/v1/bookings", json=closed, headers={"Accept-Language": "en-GB"})

    assert german.json()["code"] == english.json()["code"] == "closed_day"
    assert german.json()["detail"] == "An diesem Tag ist die Verwaltung geschlossen."
    assert english.json()["detail"] == "The office is closed on that day."


def test_body_too_large_is_translated_too(client: TestClient, valid_body: dict[str, Any]) -> None:
    content = json.dumps({**valid_body, "notes": "x" * LIMIT})

    german = post_raw(client, content)
    english = post_raw(client, content, **{"Accept-Language": "en"})

    assert german.json()["code"] == english.json()["code"] == "body_too_large"
    assert german.json()["detail"] != english.json()["detail"]


# -- nothing half-written --------------------------------------------------------------------

REJECTED = [
    pytest.param({"start": "2031-01-07T09:00:00+01:00"}, 409, id="taken"),
    pytest.param({"start": "2031-01-03T09:00:00+01:00"}, 422, id="past"),
    pytest.param({"start": "2031-01-07T09:10:00+01:00"}, 422, id="off-grid"),
    pytest.param({"start": "2031-01-06T10:00:00+01:00"}, 422, id="closed-day"),
    pytest.param({"start": "2031-06-03T09:00:00+02:00"}, 422, id="beyond-horizon"),
    pytest.param({"channel": "in_person"}, 422, id="channel"),
    pytest.param({"service_id": 999}, 404, id="unknown-service"),
    pytest.param({"hold_token": "not-a-hold"}, 409, id="foreign-hold-token"),
    pytest.param({"email": "bad"}, 422, id="email"),
]


@pytest.mark.parametrize(("change", "status"), REJECTED)
def test_a_rejected_booking_writes_nothing(
    client: TestClient,
    container: Container,
    valid_body: dict[str, Any],
    change: dict[str, Any],
    status: int,
) -> None:
    first = {**valid_body, "email": "first@example.org"}
    assert client.post("/api/v1/bookings", json=first).status_code == 201
    key = {"Idempotency-Key": "k-1"}

    response = client.post("/api/v1/bookings", json={**valid_body, **change}, headers=key)

    assert response.status_code == status, response.text
    assert booking_count(container) == 1
    # The rejected request stored nothing under its Idempotency-Key either.
    later = {**valid_body, "start": "2031-01-07T10:00:00+01:00"}
    assert client.post("/api/v1/bookings", json=later, headers=key).status_code == 201


HOSTILE_BODIES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\xff\xfe\x00", id="not-utf8"),
    pytest.param(b"{" * 5000, id="unclosed-nesting"),
    pytest.param(b"[" * 10_000 + b"]" * 10_000, id="deep-nesting"),
    pytest.param(b'{"service_id": 1e400}', id="huge-float"),
    pytest.param(b'{"service_id": NaN}', id="nan"),
    pytest.param(b'{"service_id": 99999999999999999999999999999}', id="huge-int"),
    pytest.param(b'{"service_id": -1}', id="negative-id"),
    pytest.param(b'{"a": "\\ud800"}', id="lone-surrogate-only"),
]


@pytest.mark.parametrize("content", HOSTILE_BODIES)
def test_a_hostile_body_is_a_4xx_never_a_500(
    client: TestClient, container: Container, service: Service, content: bytes
) -> None:
    response = post_raw(client, content)

    assert 400 <= response.status_code < 500, response.text
    assert "code" in response.json()
    assert booking_count(container) == 0


HOSTILE_FIELDS = [
    {"start": "2031-01-07T09:00:00+25:00"},
    {"start": "9999-12-31T23:59:59+14:00"},
    {"start": "0001-01-01T00:00:00-23:59"},
    {"start": "2031-01-07T09:00:00.5+01:00"},
    {"start": 1_900_000_000},
    {"start": None},
    {"start": {"$gt": ""}},
    {"service_id": [1]},
    {"service_id": 2**63},
    {"service_id": 2**40},
    {"name": "Erika\r\nBcc: x@example.org"},
    {"name": "\x00"},
    {"name": "Erika\x00Mustermann"},
    {"notes": "\x00" * 10},
    {"email": "erika\x00@example.org"},
    {"name": "\ud800"},
    {"notes": "Mietvertrag \udfff"},
    {"phone": "\x00123"},
    {"language": "\x00\x00"},
    {"hold_token": "h" * 10_000},
    {"email": "a" * 400 + "@example.org"},
    {"channel": ["video"]},
    {"name": {"first": "Erika"}},
]


def test_hostile_field_values_are_4xx_never_500(
    client: TestClient, container: Container, valid_body: dict[str, Any]
) -> None:
    answers = {
        json.dumps(change): post_raw(client, json.dumps({**valid_body, **change})).status_code
        for change in HOSTILE_FIELDS
    }

    assert {change: s for change, s in answers.items() if not 400 <= s < 500} == {}
    assert booking_count(container) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/bookings",
        "/api/v1/booking/reschedule",
        "/api/v1/holds",
        "/api/v1/auth/token",
        "/api/v1/staff/bookings",
        "/api/v1/services",
        "/api/v1/advisors",
        "/api/v1/advisors/1/absences",
        "/api/v1/closures",
    ],
)
def test_every_json_endpoint_answers_hostile_bodies_with_4xx(
    client: TestClient, world, path: str
) -> None:
    headers = {**JSON, **world.login(client)}
    contents = [b"{", b"[]", b'{"start": "\\u0000"}', b'"\xff"', b'{"email": 1, "password": null}']

    answers = {c: client.post(path, content=c, headers=headers).status_code for c in contents}

    assert {c: s for c, s in answers.items() if not 400 <= s < 500} == {}


BIG = 2**40  # beyond the 32-bit integer columns
HOSTILE_REQUESTS = [
    pytest.param("GET", f"/api/v1/services/{BIG}/slots?start=2031-01-07", None, id="slots-big-id"),
    pytest.param(
        "GET", f"/api/v1/services/{10**30}/slots?start=2031-01-07", None, id="slots-huge-id"
    ),
    pytest.param(
        "GET",
        "/api/v1/services/1/slots?start=9999-12-25&end=9999-12-31",
        None,
        id="slots-year-9999",
    ),
    pytest.param(
        "GET", "/api/v1/services/1/slots?start=9999-12-31", None, id="slots-default-end-9999"
    ),
    pytest.param("GET", "/api/v1/staff/bookings?start=9999-12-31", None, id="list-year-9999"),
    pytest.param("GET", "/api/v1/staff/bookings/AB%00CD", None, id="reference-nul"),
    pytest.param("GET", "/api/v1/staff/bookings/" + "A" * 5000, None, id="reference-long"),
    pytest.param("GET", "/api/v1/staff/bookings/'%20OR%201=1%20--", None, id="reference-sql"),
    pytest.param("PUT", f"/api/v1/advisors/{BIG}/weekly-hours", [], id="hours-big-advisor"),
    pytest.param(
        "POST",
        f"/api/v1/advisors/{BIG}/absences",
        {"start": "2031-01-07T00:00:00+01:00", "end": "2031-01-08T00:00:00+01:00"},
        id="absence-big-advisor",
    ),
    pytest.param(
        "POST",
        "/api/v1/advisors/1/absences",
        {"start": "9999-12-31T22:00:00-14:00", "end": "9999-12-31T23:00:00-14:00"},
        id="absence-after-year-9999",
    ),
    pytest.param(
        "POST",
        "/api/v1/auth/token",
        {"email": "admin\x00@example.org", "password": "correct horse battery"},
        id="login-nul-email",
    ),
    pytest.param(
        "POST",
        "/api/v1/services",
        {"name": "Wohngeld\x00", "duration_minutes": 30, "channels": ["video"]},
        id="service-nul-name",
    ),
    pytest.param(
        "POST",
        "/api/v1/services",
        {"name": "Wohngeld", "duration_minutes": 30, "channels": ["video"], "team_id": BIG},
        id="service-big-team",
    ),
    pytest.param(
        "POST",
        "/api/v1/advisors",
        {"name": "Frau Schmidt", "email": "schmidt@example.org", "service_ids": [BIG]},
        id="advisor-big-service",
    ),
    pytest.param(
        "POST",
        "/api/v1/bookings",
        {
            "service_id": 1,
            "start": "9999-12-31T23:30:00-14:00",
            "channel": "video",
            "name": "Erika Mustermann",
            "email": "erika@example.org",
        },
        id="booking-after-year-9999",
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE_REQUESTS)
def test_a_hostile_request_is_a_4xx_never_a_500(
    client: TestClient, world, service: Service, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body, headers=world.login(client))

    assert 400 <= response.status_code < 500, response.text
    assert "code" in response.json()


def test_listing_the_bookings_of_an_advisor_id_beyond_the_integer_column_is_not_a_500(
    client: TestClient, world
) -> None:
    response = client.get(
        "/api/v1/staff/bookings",
        params={"start": "2031-01-07", "advisor_id": str(BIG)},
        headers=world.login(client),
    )

    assert response.status_code < 500, response.text  # SQLite: 200 [], PostgreSQL: 422


# -- strict input (issue 12) -----------------------------------------------------------------


def test_a_wrong_method_lists_every_method_of_the_path_in_allow(client: TestClient) -> None:
    # GET and POST /api/v1/services are two routes (citizens' list, staff's create).
    response = client.delete("/api/v1/services")

    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize("start", ["0", "1700000000", "-1", "2031-1-7"])
def test_a_slot_search_needs_an_iso_date_not_a_number(
    client: TestClient, service: Service, start: str
) -> None:
    response = client.get(f"/api/v1/services/{service.id}/slots", params={"start": start})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/closures", {"day": 0}),
        ("/api/v1/closures", {"day": 1893456000}),
        (
            "/api/v1/services",
            {
                "name": "x",
                "duration_minutes": 30,
                "channels": ["video"],
                "min_notice_minutes": False,
            },
        ),
        ("/api/v1/services", {"name": "x", "duration_minutes": "30", "channels": ["video"]}),
        ("/api/v1/services", {"name": "x", "duration_minutes": 30.0, "channels": ["video"]}),
    ],
)
def test_numbers_dates_and_booleans_are_not_coerced(
    client: TestClient, world, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body, headers=world.login(client))

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("weekday", [7, -1, True, "0"])
def test_weekly_hours_need_a_weekday_0_to_6(client: TestClient, world, weekday: object) -> None:
    advisor = world.advisor([world.service()], password=None)
    hours = [{"weekday": weekday, "start": "09:00", "end": "12:00"}]

    response = client.put(
        f"/api/v1/advisors/{advisor.id}/weekly-hours", json=hours, headers=world.login(client)
    )

    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00+00:00", "0001-01-02T00:00:00+00:00"),
        ("2031-01-07T00:00:00+00:00", "8383-01-01T00:00:00+00:00"),
        ("1999-12-31T00:00:00+00:00", "2000-01-02T00:00:00+00:00"),
    ],
)
def test_absences_outside_2000_to_2099_are_refused(
    client: TestClient, world, start: str, end: str
) -> None:
    advisor = world.advisor([world.service()], password=None)

    response = client.post(
        f"/api/v1/advisors/{advisor.id}/absences",
        json={"start": start, "end": end},
        headers=world.login(client),
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
