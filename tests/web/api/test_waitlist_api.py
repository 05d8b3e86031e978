"""The waiting list over HTTP: POST /api/v1/waitlist, the entry's and the offer's Bearer
endpoints, the staff overview, and the pages `/o/{token}` and `/w/{token}`."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.catalogue import HoursSpec
from scheduler.db import read_session
from scheduler.models import Role, Service
from tests.conftest import PASSWORD, Clock, World
from tests.web.pages.test_citizen_flow import open_page
from web.container import Container

TUESDAY_9 = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
TUESDAY_930 = TUESDAY_9 + timedelta(minutes=30)


@pytest.fixture
def service(world: World) -> Service:
    """Two slots in the horizon (Tuesday 09:00 and 09:30), both booked."""
    service = world.service(horizon_days=7)
    world.advisor([service], hours=[HoursSpec(1, time(9), time(10))])
    return service


@pytest.fixture
def booked(client: TestClient, service: Service) -> dict[datetime, str]:
    tokens = {}
    for n, start in enumerate((TUESDAY_9, TUESDAY_930)):
        answer = client.post("/api/v1/bookings", json=_booking(service, start, f"b{n}"))
        assert answer.status_code == 201, answer.text
        tokens[start] = answer.json()["manage_url"].rsplit("/", 1)[1]
    return tokens


def _booking(service: Service, start: datetime, who: str) -> dict[str, object]:
    return {
        "service_id": service.id,
        "start": start.isoformat(),
        "channel": "video",
        "name": "Booked",
        "email": f"{who}@example.org",
    }


def _join(client: TestClient, service: Service, n: int = 1, **fields: object):  # type: ignore[no-untyped-def]
    body = {
        "service_id": service.id,
        "name": f"Wartende {n}",
        "email": f"w{n}@example.org",
        "channel": "video",
        **fields,
    }
    return client.post("/api/v1/waitlist", json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _entry_token(answer) -> str:  # type: ignore[no-untyped-def]
    return answer.json()["manage_url"].rsplit("/w/", 1)[1]  # type: ignore[no-any-return]


def _offer_token(client: TestClient, container: Container, service: Service, booked) -> str:  # type: ignore[no-untyped-def]
    """Frees Tuesday 09:00, runs the offer loop and reads the offer link from the mail."""
    client.post("/api/v1/booking/cancel", headers=bearer(booked[TUESDAY_9]))
    container.waitlist.run()
    container.outbox.deliver_due()
    with read_session(container.sessions) as session:
        text = session.scalars(
            select(OutboxMessage.text_body).where(OutboxMessage.kind == "waitlist_offer")
        ).one()
    assert text is not None
    return text.split("http://testserver/o/")[1].split()[0]


# -- joining -------------------------------------------------------------------------------


def test_joining_answers_201_with_position_and_link(client: TestClient, service: Service) -> None:
    first = _join(client, service, 1, weekdays=[1, 3], day_parts=["morning"])
    second = _join(client, service, 2, channel="phone", phone="0391 12345")

    assert first.status_code == 201, first.text
    assert first.json()["status"] == "waiting"
    assert (first.json()["position"], second.json()["position"]) == (1, 2)
    assert first.json()["manage_url"].startswith("http://testserver/w/")
    assert first.json()["weekdays"] == [1, 3]
    assert first.json()["day_parts"] == ["morning"]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"weekdays": [7]}, 422, "validation_error"),
        ({"weekdays": ["1"]}, 422, "validation_error"),
        ({"day_parts": ["evening"]}, 422, "validation_error"),
        ({"channel": "fax"}, 422, "validation_error"),
        ({"email": "not-an-address"}, 422, "validation_error"),
        ({"name": ""}, 422, "validation_error"),
        ({"channel": "phone"}, 422, "phone_required"),
        ({"channel": "in_person"}, 422, "channel_not_offered"),
        ({"service_id": 999}, 404, "not_found"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    client: TestClient, service: Service, fields: dict[str, object], status: int, code: str
) -> None:
    answer = _join(client, service, **fields)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


def test_joining_twice_with_one_address_is_409(client: TestClient, service: Service) -> None:
    assert _join(client, service).status_code == 201
    again = _join(client, service)
    assert again.status_code == 409
    assert again.json()["code"] == "already_waiting"


def test_the_entry_link_shows_the_position_and_leaves(client: TestClient, service: Service) -> None:
    token = _entry_token(_join(client, service, 1))
    second = _entry_token(_join(client, service, 2))

    assert client.get("/api/v1/waitlist/entry", headers=bearer(second)).json()["position"] == 2
    left = client.post("/api/v1/waitlist/leave", headers=bearer(token))
    assert left.status_code == 200
    assert (left.json()["status"], left.json()["position"]) == ("left", None)
    assert client.get("/api/v1/waitlist/entry", headers=bearer(second)).json()["position"] == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/waitlist/entry", "/api/v1/offer", "/api/v1/offer/accept"]
)
def test_missing_and_forged_tokens_are_401(client: TestClient, service: Service, path: str) -> None:
    token = _entry_token(_join(client, service))
    method = client.get if path.endswith(("entry", "offer")) else client.post
    assert method(path).status_code == 401
    assert method(path, headers=bearer(token[:-3] + "abc")).status_code == 401
    if path != "/api/v1/waitlist/entry":
        assert method(path, headers=bearer(token)).status_code == 401  # an entry's link


def test_a_booking_link_is_no_offer_link(client: TestClient, service: Service, booked) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/offer", headers=bearer(booked[TUESDAY_9])).status_code == 401


# -- offers --------------------------------------------------------------------------------


def test_an_offer_is_shown_and_accepted_as_a_booking(
    client: TestClient, container: Container, service: Service, booked
) -> None:  # type: ignore[no-untyped-def]
    _join(client, service)
    token = _offer_token(client, container, service, booked)

    shown = client.get("/api/v1/offer", headers=bearer(token))
    assert shown.status_code == 200
    assert shown.json()["status"] == "open"
    assert shown.json()["start"] == "2031-01-07T09:00:00+01:00"
    assert shown.json()["service"]["id"] == service.id
    assert set(shown.json()) >= {"status", "start", "end", "channel", "service", "expires_at"}

    accepted = client.post("/api/v1/offer/accept", headers=bearer(token))
    assert accepted.status_code == 201, accepted.text
    booking = accepted.json()
    assert (booking["status"], booking["start"]) == ("confirmed", "2031-01-07T09:00:00+01:00")
    assert booking["join_url"].startswith("http://testserver/j/")
    manage = booking["manage_url"].rsplit("/", 1)[1]
    assert client.get("/api/v1/booking", headers=bearer(manage)).json()["email"] == (
        "w1@example.org"
    )
    again = client.post("/api/v1/offer/accept", headers=bearer(token))
    assert again.json()["reference"] == booking["reference"]
    assert client.post("/api/v1/offer/decline", headers=bearer(token)).status_code == 409


def test_while_offered_the_slot_is_neither_shown_nor_bookable(
    client: TestClient, container: Container, service: Service, booked
) -> None:  # type: ignore[no-untyped-def]
    _join(client, service)
    _offer_token(client, container, service, booked)

    slots = client.get(
        f"/api/v1/services/{service.id}/slots", params={"start": "2031-01-07", "end": "2031-01-07"}
    )
    assert slots.json()["slots"] == []
    taken = client.post("/api/v1/bookings", json=_booking(service, TUESDAY_9, "other"))
    assert taken.status_code == 409
    assert taken.json()["code"] == "slot_unavailable"


def test_an_expired_offer_is_409_on_accept(
    client: TestClient, container: Container, service: Service, booked, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    _join(client, service)
    token = _offer_token(client, container, service, booked)
    expires = datetime.fromisoformat(
        client.get("/api/v1/offer", headers=bearer(token)).json()["expires_at"]
    )
    clock.now = expires.astimezone(UTC)

    refused = client.post("/api/v1/offer/accept", headers=bearer(token))
    assert refused.status_code == 409
    assert refused.json()["code"] == "offer_unavailable"
    assert client.get("/api/v1/offer", headers=bearer(token)).json()["status"] == "expired"


def test_declining_answers_200_and_frees_the_slot_for_the_next(
    client: TestClient, container: Container, service: Service, booked
) -> None:  # type: ignore[no-untyped-def]
    _join(client, service, 1)
    second = _entry_token(_join(client, service, 2))
    token = _offer_token(client, container, service, booked)

    declined = client.post("/api/v1/offer/decline", headers=bearer(token))
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    container.waitlist.run()
    assert client.get("/api/v1/waitlist/entry", headers=bearer(second)).json()["status"] == (
        "offered"
    )


# -- staff ---------------------------------------------------------------------------------


def test_staff_see_length_and_oldest_entry(
    client: TestClient, world: World, service: Service, clock: Clock
) -> None:
    _join(client, service, 1)
    clock.advance(minutes=5)
    _join(client, service, 2)
    listed = client.get(
        "/api/v1/staff/waitlist", params={"service_id": service.id}, headers=world.login(client)
    )
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "service_id": service.id,
            "service_name": service.name,
            "length": 2,
            "waiting": 2,
            "offered": 0,
            "oldest": "2031-01-06T08:00:00+01:00",
        }
    ]


def test_an_advisor_sees_only_their_services(
    client: TestClient, world: World, service: Service
) -> None:
    other = world.service(name="Wohngeld")
    world.advisor([other], email="own@example.org")
    headers = world.login(client, "own@example.org", PASSWORD)
    listed = client.get("/api/v1/staff/waitlist", headers=headers)
    assert [q["service_id"] for q in listed.json()] == [other.id]
    assert (
        client.get(
            "/api/v1/staff/waitlist", params={"service_id": service.id}, headers=headers
        ).status_code
        == 404
    )


def test_hotline_adds_a_caller_and_an_advisor_of_another_service_may_not(
    client: TestClient, world: World, service: Service
) -> None:
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    other = world.service(name="Wohngeld")
    world.advisor([other], email="own@example.org")
    body = {
        "service_id": service.id,
        "name": "Anrufer",
        "email": "anrufer@example.org",
        "channel": "phone",
        "phone": "0391 555",
    }
    hotline = world.login(client, "hotline@example.org", PASSWORD)
    added = client.post("/api/v1/staff/waitlist", json=body, headers=hotline)
    assert added.status_code == 201, added.text
    assert added.json()["position"] == 1
    advisor = world.login(client, "own@example.org", PASSWORD)
    body["email"] = "zwei@example.org"
    assert client.post("/api/v1/staff/waitlist", json=body, headers=advisor).status_code == 403
    assert client.post("/api/v1/staff/waitlist", json=body).status_code == 401


# -- pages ---------------------------------------------------------------------------------


def test_the_offer_page_changes_nothing_on_get_and_accepts_on_post(
    client: TestClient, container: Container, service: Service, booked
) -> None:  # type: ignore[no-untyped-def]
    _join(client, service)
    token = _offer_token(client, container, service, booked)

    page = open_page(client, f"/o/{token}")
    assert page.status == 200
    assert "Termin annehmen" in page.text
    assert client.get("/api/v1/offer", headers=bearer(token)).json()["status"] == "open"
    refused = client.post(f"/o/{token}/annehmen", data={})
    assert refused.status_code == 403

    accepted = client.post(
        f"/o/{token}/annehmen",
        data={"csrf_token": page.inputs["csrf_token"]},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("http://testserver/b/")
    assert client.get("/api/v1/offer", headers=bearer(token)).json()["status"] == "accepted"


def test_the_offer_page_in_english_and_declining(
    client: TestClient, container: Container, service: Service, booked
) -> None:  # type: ignore[no-untyped-def]
    _join(client, service)
    token = _offer_token(client, container, service, booked)
    page = open_page(client, f"/o/{token}", lang="en")
    assert "Accept the appointment" in page.text

    declined = client.post(f"/o/{token}/ablehnen", data={"csrf_token": page.inputs["csrf_token"]})
    assert declined.status_code == 200
    assert "declined" in open_page(client, f"/o/{token}", lang="en").text


def test_a_forged_offer_link_shows_an_error_page(client: TestClient) -> None:
    answer = client.get("/o/not-a-token")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")


def test_the_entry_page_shows_the_place_and_leaves(client: TestClient, service: Service) -> None:
    _join(client, service, 1)
    token = _entry_token(_join(client, service, 2))
    page = open_page(client, f"/w/{token}")
    assert "Ihr Platz in der Warteliste 2" in page.text

    left = client.post(f"/w/{token}/verlassen", data={"csrf_token": page.inputs["csrf_token"]})
    assert left.status_code == 200
    assert "nicht mehr auf der Warteliste" in left.text
