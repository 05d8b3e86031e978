"""The callback queue's HTTP API: the citizens' request and link, the staff's queue, claims,
attempts, bookings and settling; bad input, forged tokens and the role checks (table-driven).
The clock is the frozen one of tests/conftest.py (Monday 2031-01-06 08:00 Berlin)."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.conftest import World, booking_body
from web.app import create_app

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)


def at(hour: int, minute: int = 0, day: date = TUESDAY) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).isoformat()


def _tuesday(hour: int) -> datetime:
    return datetime.fromisoformat(at(hour))


def body(service_id: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "service_id": service_id,
        "name": "Erika Mustermann",
        "phone": "0391 123456",
        "windows": [{"start": at(9), "end": at(12)}],
        "email": "erika@example.org",
        "note": "Wohngeld",
    }
    values.update(changes)
    return values


@pytest.fixture
def service(world):
    service = world.service(channels=["video", "phone", "in_person"])
    world.advisor([service], email="advisor@example.org")
    return service


@pytest.fixture
def hotline(client, world) -> dict[str, str]:
    world.advisor([], role=Role.HOTLINE, email="hotline@example.org")
    return world.login(client, "hotline@example.org")


@pytest.fixture
def colleague(client, world) -> dict[str, str]:
    world.advisor([], role=Role.HOTLINE, email="colleague@example.org")
    return world.login(client, "colleague@example.org")


def requested(client: TestClient, service_id: int, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/callbacks", json=body(service_id, **changes))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def queue(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/staff/callbacks", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {url.rsplit('/', 1)[1]}"}


# -- citizens -------------------------------------------------------------------------------


def test_a_citizen_asks_for_a_callback(client, service):
    answer = requested(client, service.id)

    assert answer["status"] == "open"
    assert answer["reference"]
    assert answer["windows"] == [{"start": at(9), "end": at(12)}]
    assert answer["service"] == {"id": service.id, "name": service.name}
    assert answer["withdraw_url"].startswith("http://testserver/r/")


def test_the_citizen_reads_and_withdraws_with_the_link(client, service):
    link = bearer(requested(client, service.id)["withdraw_url"])

    assert client.get("/api/v1/callback", headers=link).json()["status"] == "open"
    first = client.post("/api/v1/callback/withdraw", headers=link)
    again = client.post("/api/v1/callback/withdraw", headers=link)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"},
    ],
    ids=["missing", "garbage", "forged"],
)
@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/v1/callback"), ("post", "/api/v1/callback/withdraw")]
)
def test_a_bad_link_is_401(client, service, headers, method, path):
    response = client.request(method.upper(), path, headers=headers)

    assert response.status_code == 401
    assert response.json()["code"].startswith("token")


def test_a_bookings_magic_link_does_not_reach_a_callback(client, service, make_booking_body):
    booking = client.post(
        "/api/v1/bookings", json=make_booking_body(service, datetime.fromisoformat(at(9)))
    )
    assert booking.status_code == 201, booking.text

    response = client.get("/api/v1/callback", headers=bearer(booking.json()["manage_url"]))

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"service_id": "1"}, "service_id"),
        ({"service_id": 0}, "service_id"),
        ({"phone": "call me"}, "phone"),
        ({"phone": None}, "phone"),
        ({"name": ""}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"windows": []}, "windows"),
        ({"windows": [{"start": at(9), "end": at(10)}] * 4}, "windows"),
        ({"windows": [{"start": "2031-01-07T09:00:00", "end": at(10)}]}, "windows.0.start"),
        ({"windows": "tomorrow"}, "windows"),
        ({"language": "Deutsch"}, "language"),
        ({"note": 5}, "note"),
    ],
)
def test_malformed_input_is_422_naming_the_field(client, service, changes, field):
    response = client.post("/api/v1/callbacks", json=body(service.id) | changes)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()


@pytest.mark.parametrize(
    ("windows", "code"),
    [
        ([{"start": at(10), "end": at(9)}], "callback_windows_invalid"),
        (
            [{"start": at(6, day=date(2031, 1, 6)), "end": at(7, day=date(2031, 1, 6))}],
            "callback_windows_invalid",
        ),
        (
            [{"start": at(9, day=date(2031, 1, 30)), "end": at(10, day=date(2031, 1, 30))}],
            "callback_windows_invalid",
        ),
    ],
    ids=["reversed", "past", "too-far"],
)
def test_unusable_windows_are_422_in_german_and_english(client, service, windows, code):
    german = client.post("/api/v1/callbacks", json=body(service.id, windows=windows))
    english = client.post(
        "/api/v1/callbacks",
        json=body(service.id, windows=windows),
        headers={"Accept-Language": "en"},
    )

    assert german.status_code == english.status_code == 422
    assert german.json()["code"] == code
    assert "Wunschzeiten" in german.json()["detail"]
    assert "preferred times" in english.json()["detail"]


def test_a_long_note_and_an_unknown_service_are_refused(client, service):
    assert (
        client.post("/api/v1/callbacks", json=body(service.id, note="x" * 501)).status_code == 422
    )
    assert client.post("/api/v1/callbacks", json=body(service.id + 50)).status_code == 404


def test_requests_share_the_limits_of_citizen_bookings(settings, clock):
    tight = settings.model_copy(update={"bookings_per_hour": 5, "unverified_bookings_per_hour": 2})
    app = create_app(tight, clock=clock)
    # A fresh /64 of its own: with Redis, counts outlive a test.
    address = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"
    try:
        with TestClient(app, client=(address, 50000)) as limited:
            service = World(app.state.container).service()
            booking = limited.post("/api/v1/bookings", json=booking_body(service, _tuesday(9)))
            answers = [
                limited.post("/api/v1/callbacks", json=body(service.id)).status_code
                for _ in range(2)
            ]
            forged = limited.post(
                "/api/v1/callbacks", json=body(service.id), headers={"X-Altcha": "Zm9yZ2Vk"}
            )
    finally:
        app.state.container.engine.dispose()

    assert booking.status_code != 429  # counted whatever its outcome (no advisor here)
    assert answers == [201, 429]
    assert forged.status_code == 422


def test_a_third_open_request_of_one_person_is_409(client, service):
    requested(client, service.id)
    requested(client, service.id, phone="+49 391 123456", email=None)

    response = client.post("/api/v1/callbacks", json=body(service.id))

    assert response.status_code == 409
    assert response.json()["code"] == "too_many_open_callbacks"
    assert "2" in response.json()["detail"]


# -- the staff's queue ----------------------------------------------------------------------


def test_the_queue_lists_open_requests_by_due_time(client, service, hotline, clock):
    late = requested(client, service.id, windows=[{"start": at(13), "end": at(15)}])
    soon = requested(client, service.id, language="en")
    clock.advance(minutes=30)

    items = queue(client, hotline, status="open")

    assert [i["reference"] for i in items] == [soon["reference"], late["reference"]]
    first = items[0]
    assert (first["status"], first["attempts"], first["language"], first["claimed_by"]) == (
        "open",
        0,
        "en",
        None,
    )
    assert first["age_minutes"] == 30
    assert first["windows"] == [{"start": at(9), "end": at(12)}]
    assert [i["reference"] for i in queue(client, hotline, language="en")] == [soon["reference"]]
    assert queue(client, hotline, service_id=service.id + 50) == []


@pytest.mark.parametrize("params", [{"status": "sleeping"}, {"service_id": "x"}, {"limit": 0}])
def test_bad_queue_filters_are_422(client, service, hotline, params):
    response = client.get("/api/v1/staff/callbacks", params=params, headers=hotline)

    assert response.status_code == 422


def test_the_hotline_takes_a_request_during_a_call(client, service, hotline):
    response = client.post(
        "/api/v1/staff/callbacks", json=body(service.id, email=None), headers=hotline
    )

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    assert response.json()["email"] is None


def test_two_agents_claim_one_wins_the_other_is_told_who(client, service, hotline, colleague):
    requested(client, service.id)
    (item,) = queue(client, hotline)
    path = f"/api/v1/staff/callbacks/{item['id']}/claim"

    won = client.post(path, headers=hotline)
    lost = client.post(path, headers=colleague)

    assert won.status_code == 200
    assert won.json()["status"] == "claimed"
    holder = won.json()["claimed_by"]
    assert lost.status_code == 409
    assert lost.json()["code"] == "callback_claimed"
    assert lost.json()["claimed_by"] == holder
    assert holder["name"] in lost.json()["detail"]


def test_release_gives_the_request_back(client, service, hotline, colleague):
    requested(client, service.id)
    (item,) = queue(client, hotline)
    client.post(f"/api/v1/staff/callbacks/{item['id']}/claim", headers=hotline)

    released = client.post(f"/api/v1/staff/callbacks/{item['id']}/release", headers=hotline)
    taken = client.post(f"/api/v1/staff/callbacks/{item['id']}/claim", headers=colleague)

    assert released.json()["status"] == "open"
    assert taken.status_code == 200


def test_failed_attempts_close_the_request(client, container, service, hotline):
    requested(client, service.id)
    (item,) = queue(client, hotline)
    path = f"/api/v1/staff/callbacks/{item['id']}/attempts"

    statuses = [
        client.post(path, json={"outcome": "not_reached"}, headers=hotline).json()["status"]
        for _ in range(container.settings.callback_max_attempts)
    ]

    assert statuses == ["open"] * (len(statuses) - 1) + ["closed"]
    history = client.get(path, headers=hotline).json()
    assert [h["outcome"] for h in history] == ["not_reached"] * len(statuses)
    assert history[0]["at"] == "2031-01-06T08:00:00+01:00"
    assert client.post(path, json={"outcome": "reached"}, headers=hotline).status_code == 409


@pytest.mark.parametrize("outcome", ["maybe", None, 1, ""])
def test_an_unknown_outcome_is_422(client, service, hotline, outcome):
    requested(client, service.id)
    (item,) = queue(client, hotline)

    response = client.post(
        f"/api/v1/staff/callbacks/{item['id']}/attempts", json={"outcome": outcome}, headers=hotline
    )

    assert response.status_code == 422


def test_a_booking_from_the_request_answers_as_the_staff_booking_api(client, service, hotline):
    requested(client, service.id)
    (item,) = queue(client, hotline)

    response = client.post(
        f"/api/v1/staff/callbacks/{item['id']}/book",
        json={"start": at(9), "channel": "phone"},
        headers=hotline,
    )

    assert response.status_code == 201, response.text
    booking = response.json()
    assert (booking["status"], booking["start"], booking["channel"]) == (
        "confirmed",
        at(9),
        "phone",
    )
    assert (booking["name"], booking["phone"], booking["email"]) == (
        "Erika Mustermann",
        "0391 123456",
        "erika@example.org",
    )
    assert booking["advisor_name"]
    (after,) = queue(client, hotline, status="booked")
    assert after["booking_id"] is not None


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"start": at(9, 10), "channel": "phone"}, 422),  # off the grid
        ({"start": at(9), "channel": "fax"}, 422),
        ({"start": "soon", "channel": "phone"}, 422),
        ({"channel": "phone"}, 422),
    ],
)
def test_bad_booking_input_is_refused(client, service, hotline, payload, status):
    requested(client, service.id)
    (item,) = queue(client, hotline)

    response = client.post(
        f"/api/v1/staff/callbacks/{item['id']}/book", json=payload, headers=hotline
    )

    assert response.status_code == status, response.text


def test_settle_closes_the_request(client, service, hotline):
    requested(client, service.id)
    (item,) = queue(client, hotline)

    response = client.post(f"/api/v1/staff/callbacks/{item['id']}/settle", headers=hotline)

    assert response.json()["status"] == "settled"
    assert queue(client, hotline) == []


@pytest.mark.parametrize("callback_id", ["999", "0", "abc", str(2**63)])
def test_unknown_ids_are_404_or_422(client, service, hotline, callback_id):
    response = client.post(f"/api/v1/staff/callbacks/{callback_id}/claim", headers=hotline)

    assert response.status_code in (404, 422)


# -- who may do what (table-driven) ---------------------------------------------------------

ROLES = ["anonymous", "advisor", "advisor_allowed", "hotline", "admin"]
EXPECTED: dict[str, dict[str, int]] = {
    "list": {
        "anonymous": 401,
        "advisor": 403,
        "advisor_allowed": 200,
        "hotline": 200,
        "admin": 200,
    },
    "create": {
        "anonymous": 401,
        "advisor": 403,
        "advisor_allowed": 403,
        "hotline": 201,
        "admin": 201,
    },
    "get": {"anonymous": 401, "advisor": 404, "advisor_allowed": 200, "hotline": 200, "admin": 200},
    "claim": {
        "anonymous": 401,
        "advisor": 404,
        "advisor_allowed": 200,
        "hotline": 200,
        "admin": 200,
    },
    "release": {
        "anonymous": 401,
        "advisor": 404,
        "advisor_allowed": 200,
        "hotline": 200,
        "admin": 200,
    },
    "attempts": {
        "anonymous": 401,
        "advisor": 404,
        "advisor_allowed": 200,
        "hotline": 200,
        "admin": 200,
    },
    "history": {
        "anonymous": 401,
        "advisor": 404,
        "advisor_allowed": 200,
        "hotline": 200,
        "admin": 200,
    },
    "settle": {
        "anonymous": 401,
        "advisor": 404,
        "advisor_allowed": 200,
        "hotline": 200,
        "admin": 200,
    },
    "book": {
        "anonymous": 401,
        "advisor": 404,
        "advisor_allowed": 201,
        "hotline": 201,
        "admin": 201,
    },
    "open_queue": {
        "anonymous": 401,
        "advisor": 403,
        "advisor_allowed": 403,
        "hotline": 403,
        "admin": 200,
    },
}


def _call(
    client: TestClient, action: str, callback_id: int, service_id: int, headers: dict[str, str]
):
    base = f"/api/v1/staff/callbacks/{callback_id}"
    calls = {
        "list": ("GET", "/api/v1/staff/callbacks", None),
        "create": ("POST", "/api/v1/staff/callbacks", body(service_id)),
        "get": ("GET", base, None),
        "claim": ("POST", f"{base}/claim", None),
        "release": ("POST", f"{base}/release", None),
        "attempts": ("POST", f"{base}/attempts", {"outcome": "reached"}),
        "history": ("GET", f"{base}/attempts", None),
        "settle": ("POST", f"{base}/settle", None),
        "book": ("POST", f"{base}/book", {"start": at(9), "channel": "phone"}),
        "open_queue": (
            "PUT",
            f"/api/v1/staff/services/{service_id}/callbacks",
            {"advisors_take_callbacks": True},
        ),
    }
    method, path, payload = calls[action]
    return client.request(method, path, json=payload, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(EXPECTED))
def test_role_checks(client, world, container, action, role):
    allowed = world.service(name="Erlaubt", channels=["phone", "video"])
    closed = world.service(name="Geschlossen", channels=["phone", "video"])
    container.callbacks.open_to_advisors(world.admin, allowed.id, True)
    world.advisor([allowed], email="allowed@example.org")
    world.advisor([closed], email="closed@example.org")
    target = allowed if role == "advisor_allowed" else closed
    callback = requested(client, target.id)
    (item,) = queue(client, world.login(client))
    assert item["reference"] == callback["reference"]
    world.advisor([], role=Role.HOTLINE, email="h@example.org")
    headers = {
        "anonymous": {},
        "advisor": world.login(client, "closed@example.org"),
        "advisor_allowed": world.login(client, "allowed@example.org"),
        "hotline": world.login(client, "h@example.org"),
        "admin": world.login(client),
    }[role]

    response = _call(client, action, item["id"], target.id, headers)

    assert response.status_code == EXPECTED[action][role], response.text
