"""Advisors' calendar feeds: a secret, revocable webcal address with their upcoming appointments,
carrying only what they need to hold them and nothing about the citizen."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar, Event

from scheduler.db import write_session
from scheduler.models import Service, Staff
from scheduler.tokens import Audience, TokenService
from tests.conftest import Clock, World, booking_body
from web.container import Container
from web.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
BASE_URL = "https://termine.example.org"

# Distinctive values of a citizen that must never reach an advisor's feed.
CITIZEN = {
    "name": "Zacharias Quellenhofer",
    "email": "zacharias.quellenhofer@example.net",
    "phone": "+49 176 98765432",
    "notes": "Rollstuhl, bitte Aufzug Nordflügel",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The deployment's public address is https, as the feed URLs must be."""
    return settings.model_copy(update={"base_url": BASE_URL})


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def book(client: TestClient, service: Service, start: datetime, **overrides: Any) -> Any:
    response = client.post("/api/v1/bookings", json=booking_body(service, start, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def feed_url(client: TestClient, headers: dict[str, str]) -> str:
    response = client.get("/api/v1/me/calendar-feed", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def feed_token(url: str) -> str:
    return urlsplit(url).path.removeprefix("/feeds/").removesuffix(".ics")


def fetch(client: TestClient, url: str) -> Any:
    """GET a feed address the way a calendar program does: no credentials, only the URL."""
    return client.get(urlsplit(url).path)


def events(content: bytes) -> list[Event]:
    return list(Calendar.from_ical(content).walk("VEVENT"))


def references(content: bytes) -> set[str]:
    return {str(e["summary"]).rsplit("(", 1)[1].rstrip(")") for e in events(content)}


class AdvisorDesk:
    """One advisor alone on one service, logged in, with the address of their feed."""

    def __init__(self, client: TestClient, world: World, name: str, email: str) -> None:
        self.service = world.service(name=name, channels=["video", "phone"])
        self.advisor: Staff = world.advisor([self.service], email=email)
        self.headers = world.login(client, email)
        self.url = feed_url(client, self.headers)


@pytest.fixture
def desk(client: TestClient, world: World) -> AdvisorDesk:
    return AdvisorDesk(client, world, "Wohngeld", "wohngeld@example.org")


# -- the address ------------------------------------------------------------------------------


def test_the_feed_address_is_https_with_a_webcal_twin(
    client: TestClient, desk: AdvisorDesk
) -> None:
    response = client.get("/api/v1/me/calendar-feed", headers=desk.headers)

    body = response.json()
    assert body["url"].startswith(f"{BASE_URL}/feeds/")
    assert body["url"].endswith(".ics")
    assert body["webcal_url"] == "webcal://" + body["url"].removeprefix("https://")


def test_the_feed_address_needs_a_login(client: TestClient, desk: AdvisorDesk) -> None:
    response = client.get("/api/v1/me/calendar-feed")

    assert response.status_code == 401


def test_asking_again_gives_an_address_that_works(client: TestClient, desk: AdvisorDesk) -> None:
    again = feed_url(client, desk.headers)

    assert fetch(client, again).status_code == 200
    assert fetch(client, desk.url).status_code == 200


# -- the calendar -----------------------------------------------------------------------------


def test_the_feed_is_text_calendar(client: TestClient, desk: AdvisorDesk) -> None:
    book(client, desk.service, at(TUESDAY, 9))

    response = fetch(client, desk.url)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "private" in response.headers["cache-control"]


def test_the_feed_parses_without_errors(client: TestClient, desk: AdvisorDesk) -> None:
    book(client, desk.service, at(TUESDAY, 9))
    book(client, desk.service, at(TUESDAY, 10), channel="phone", phone="+49 30 1234567")

    calendar = Calendar.from_ical(fetch(client, desk.url).content)

    assert calendar.get("method") is None  # a subscription, not an invitation
    for component in calendar.walk():
        assert component.errors == [], (component.name, component.errors)
    assert len(calendar.walk("VEVENT")) == 2


def test_the_feed_times_carry_the_berlin_zone(client: TestClient, desk: AdvisorDesk) -> None:
    book(client, desk.service, at(TUESDAY, 9))

    content = fetch(client, desk.url).content

    assert b"DTSTART;TZID=Europe/Berlin:20310107T090000" in content
    assert b"BEGIN:VTIMEZONE" in content
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in content


def test_the_feed_lists_an_appointment_with_reference_service_and_channel(
    client: TestClient, desk: AdvisorDesk
) -> None:
    booking = book(client, desk.service, at(TUESDAY, 10), channel="phone", phone="+49 30 1234567")

    (event,) = events(fetch(client, desk.url).content)

    assert booking["reference"] in str(event["summary"])
    assert "Wohngeld" in str(event["summary"])
    assert str(event["description"]) == f"{booking['reference']} · phone"
    assert event.decoded("dtstart") == at(TUESDAY, 10)
    assert str(event["status"]) == "CONFIRMED"
    assert "url" not in event


def test_the_feed_links_a_video_appointment_to_the_staff_side_of_its_room(
    client: TestClient, desk: AdvisorDesk
) -> None:
    booking = book(client, desk.service, at(TUESDAY, 9))

    (event,) = events(fetch(client, desk.url).content)

    staff_room = f"{BASE_URL}/staff/termine/{booking['reference']}/raum"
    assert str(event["url"]) == staff_room
    assert str(event["location"]) == staff_room
    assert str(event["description"]) == f"{booking['reference']} · video"


def test_the_feed_holds_nothing_that_opens_the_room_for_the_citizens_side(
    client: TestClient, desk: AdvisorDesk
) -> None:
    booking = book(client, desk.service, at(TUESDAY, 9))
    join_token = urlsplit(booking["join_url"]).path.rsplit("/", 1)[-1]

    content = fetch(client, desk.url).text.replace("\r\n ", "")  # unfolded (RFC 5545 §3.1)

    assert join_token not in content
    # Its one link needs a staff login: without one it leads nowhere near the room.
    (event,) = events(content.encode())
    response = client.get(urlsplit(str(event["url"])).path, follow_redirects=False)
    assert response.status_code in (303, 401)
    assert "/staff/raeume/" not in response.headers.get("location", "")


ADDRESS = "Bürgerbüro, Rathausplatz 1, 39104 Magdeburg"


def test_the_feed_gives_an_in_person_appointment_its_address(
    client: TestClient, world: World
) -> None:
    service = world.service(name="Meldebescheinigung", channels=["in_person"], address=ADDRESS)
    world.advisor([service], email="buergerbuero@example.org")
    url = feed_url(client, world.login(client, "buergerbuero@example.org"))
    book(client, service, at(TUESDAY, 9), channel="in_person")

    (event,) = events(fetch(client, url).content)

    assert str(event["location"]) == ADDRESS
    assert "url" not in event


def test_the_feed_gives_a_phone_appointment_no_office_address(
    client: TestClient, world: World
) -> None:
    service = world.service(channels=["phone", "in_person"], address=ADDRESS)
    world.advisor([service], email="buergerbuero@example.org")
    url = feed_url(client, world.login(client, "buergerbuero@example.org"))
    book(client, service, at(TUESDAY, 9), channel="phone", phone="+49 30 1234567")

    (event,) = events(fetch(client, url).content)

    assert "location" not in event  # the citizen is called; nobody goes to the office


def test_the_feed_lists_only_the_advisors_own_appointments(
    client: TestClient, world: World, desk: AdvisorDesk
) -> None:
    other = AdvisorDesk(client, world, "Elterngeld", "elterngeld@example.org")
    mine = book(client, desk.service, at(TUESDAY, 9))
    theirs = book(client, other.service, at(TUESDAY, 9), email="someone@example.org")

    assert references(fetch(client, desk.url).content) == {mine["reference"]}
    assert references(fetch(client, other.url).content) == {theirs["reference"]}


def test_the_feed_leaves_out_cancelled_appointments(client: TestClient, desk: AdvisorDesk) -> None:
    kept = book(client, desk.service, at(TUESDAY, 9))
    cancelled = book(client, desk.service, at(TUESDAY, 10), email="other@example.org")
    token = cancelled["manage_url"].rsplit("/b/", 1)[1]
    response = client.post("/api/v1/booking/cancel", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text

    assert references(fetch(client, desk.url).content) == {kept["reference"]}


def test_the_feed_leaves_out_held_slots(client: TestClient, desk: AdvisorDesk) -> None:
    response = client.post(
        "/api/v1/holds",
        json={
            "service_id": desk.service.id,
            "start": at(TUESDAY, 11).isoformat(),
            "channel": "video",
        },
    )
    assert response.status_code == 201, response.text

    assert events(fetch(client, desk.url).content) == []


def test_the_feed_leaves_out_appointments_more_than_a_day_past(
    client: TestClient, desk: AdvisorDesk, clock: Clock
) -> None:
    book(client, desk.service, at(TUESDAY, 9))
    clock.now = at(TUESDAY, 9).astimezone(UTC) + timedelta(days=1, minutes=1)

    assert events(fetch(client, desk.url).content) == []


def test_the_feed_carries_nothing_about_the_citizen(client: TestClient, desk: AdvisorDesk) -> None:
    book(client, desk.service, at(TUESDAY, 9), **CITIZEN)
    book(client, desk.service, at(TUESDAY, 10), channel="phone", **CITIZEN)

    content = fetch(client, desk.url).content
    unfolded = content.decode().replace("\r\n ", "").replace("\\,", ",")

    assert len(events(content)) == 2
    for value in (*CITIZEN.values(), "Quellenhofer", "98765432", "Rollstuhl"):
        assert value not in unfolded, value
    assert "ATTENDEE" not in unfolded
    assert "/b/" not in unfolded  # no manage link either


# -- revocation -------------------------------------------------------------------------------


def test_reset_makes_the_old_address_answer_401(client: TestClient, desk: AdvisorDesk) -> None:
    response = client.post("/api/v1/me/calendar-feed/reset", headers=desk.headers)
    assert response.status_code == 200, response.text

    old = fetch(client, desk.url)

    assert old.status_code == 401
    assert old.json()["code"] == "token_revoked"


def test_reset_gives_a_new_address_that_works(client: TestClient, desk: AdvisorDesk) -> None:
    booking = book(client, desk.service, at(TUESDAY, 9))

    new = client.post("/api/v1/me/calendar-feed/reset", headers=desk.headers).json()

    assert new["url"] != desk.url
    assert new["webcal_url"] == "webcal://" + new["url"].removeprefix("https://")
    response = fetch(client, new["url"])
    assert response.status_code == 200
    assert references(response.content) == {booking["reference"]}


def test_a_deactivated_advisors_feed_is_401(
    client: TestClient, desk: AdvisorDesk, container: Container
) -> None:
    with write_session(container.sessions) as session:
        staff = session.get(Staff, desk.advisor.id)
        assert staff is not None
        staff.active = False

    assert fetch(client, desk.url).status_code == 401


def test_a_garbage_token_is_401(client: TestClient, desk: AdvisorDesk) -> None:
    response = client.get("/feeds/not-a-token.ics")

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_a_token_with_a_forged_subject_is_401(
    client: TestClient, world: World, desk: AdvisorDesk
) -> None:
    other = AdvisorDesk(client, world, "Elterngeld", "elterngeld@example.org")
    header, _, signature = feed_token(desk.url).split(".")
    claims = jwt.decode(feed_token(desk.url), options={"verify_signature": False})
    forged = json.dumps({**claims, "sub": str(other.advisor.id)}).encode()
    payload = jwt.utils.base64url_encode(forged).decode()

    response = client.get(f"/feeds/{header}.{payload}.{signature}.ics")

    assert response.status_code == 401


def test_a_feed_token_signed_with_another_key_is_401(
    client: TestClient, desk: AdvisorDesk, clock: Clock
) -> None:
    forger = TokenService(["a-key-that-is-not-the-servers-key-0123456789"], issuer=BASE_URL)
    token = forger.issue(Audience.FEED, str(desk.advisor.id), 1, clock(), timedelta(days=1))

    assert client.get(f"/feeds/{token}.ics").status_code == 401


def test_the_feed_token_is_not_a_staff_token(client: TestClient, desk: AdvisorDesk) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {feed_token(desk.url)}"})

    assert response.status_code == 401


def test_a_staff_token_is_not_a_feed_token(client: TestClient, desk: AdvisorDesk) -> None:
    staff_token = desk.headers["Authorization"].removeprefix("Bearer ")

    assert client.get(f"/feeds/{staff_token}.ics").status_code == 401


def test_a_citizens_link_is_not_a_feed_token(client: TestClient, desk: AdvisorDesk) -> None:
    booking = book(client, desk.service, at(TUESDAY, 9))
    manage_token = booking["manage_url"].rsplit("/b/", 1)[1]

    assert client.get(f"/feeds/{manage_token}.ics").status_code == 401
