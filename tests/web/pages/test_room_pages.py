"""The room pages over HTTP: join links (checked without side effects, moved into a cookie),
the citizen's room page and ticket endpoint, the host's page, ticket and invitations, the
booking room redirect and the connection test page, in German and English.

The booking comes from `room_world` (tests/signaling/conftest.py): a video booking on Tuesday
7 January 2031 at 10:00 in Berlin, the clock at 09:50; its room is open from 09:45 to 11:00.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from rooms.models import Room
from scheduler.db import read_session
from scheduler.tokens import Audience
from tests.signaling import conftest as signaling
from web.app import create_app

room_world = signaling.room_world

START = signaling.START
OPENS = START - timedelta(minutes=15)
CLOSES = START + timedelta(minutes=60)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def manage_token(room_world) -> str:
    return room_world.manage_url.rsplit("/", 1)[1]


def reference(room_world) -> str:
    response = room_world.client.get("/api/v1/booking", headers=bearer(manage_token(room_world)))
    return str(response.json()["reference"])


def rooms_made(container) -> int:
    with read_session(container.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Room)) or 0)


def csrf(client) -> str:
    """The CSRF token of the client's cookie, set by the first page it fetched."""
    if "csrf" not in client.cookies:
        client.get("/verbindungstest")
    return str(client.cookies["csrf"])


def page_config(html: str, element_id: str = "room-config") -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert found, f"no #{element_id} data block"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def enter(room_world, token: str | None = None) -> Any:
    """Open a join link like a browser: the cookie is kept, the redirect not followed."""
    return room_world.client.get(f"/j/{token or room_world.join_token}", follow_redirects=False)


def guest_ticket(room_world, **body: Any) -> Any:
    client = room_world.client
    return client.post("/raum/ticket", headers={"X-CSRF-Token": csrf(client)}, json=body)


def log_in(room_world, staff) -> None:
    """The staff session cookie, as the login page sets it."""
    token = room_world.staff_headers(staff)["Authorization"].removeprefix("Bearer ")
    room_world.client.cookies.set("staff_session", token)


# -- join links --------------------------------------------------------------------------------


def test_a_join_link_moves_into_a_cookie_and_redirects_without_changing_anything(
    room_world, container
):
    response = enter(room_world)

    assert response.status_code == 303
    assert response.headers["location"] == "/raum"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"booking_link={room_world.join_token};")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    # A mail scanner opening the link makes no room, and a second opening works the same.
    assert rooms_made(container) == 0
    assert enter(room_world).status_code == 303
    assert rooms_made(container) == 0


def test_the_manage_link_opens_the_room_too(room_world):
    response = enter(room_world, manage_token(room_world))

    assert response.status_code == 303
    assert response.headers["location"] == "/raum"


def test_a_forged_link_shows_what_to_do_in_german_and_english(room_world):
    german = enter(room_world, "not-a-token")
    english = room_world.client.get("/j/not-a-token?lang=en", follow_redirects=False)

    assert german.status_code == 401
    assert "Dieser Link ist ungültig" in german.text
    assert "Hotline" in german.text
    assert "set-cookie" not in german.headers or "booking_link" not in german.headers["set-cookie"]
    assert english.status_code == 401
    assert "This link is not valid" in english.text


def test_an_expired_link_says_so(room_world, container):
    old = room_world.clock.now - timedelta(days=10)
    expired = container.tokens.issue(
        Audience.JOIN, reference(room_world), 1, old, timedelta(days=1)
    )

    response = enter(room_world, expired)

    assert response.status_code == 401
    assert "Dieser Link ist abgelaufen" in response.text


def test_a_link_reissued_since_is_revoked(room_world):
    ref = reference(room_world)
    reissued = room_world.client.post(
        f"/api/v1/staff/bookings/{ref}/reissue-link",
        headers=room_world.staff_headers(room_world.advisor),
    )
    assert reissued.status_code == 200, reissued.text

    response = enter(room_world)

    assert response.status_code == 401
    assert "Dieser Link gilt nicht mehr" in response.text


def test_a_revoked_invitation_no_longer_opens_the_room(room_world):
    room_id = room_world.room_id()
    headers = room_world.staff_headers(room_world.advisor)
    made = room_world.client.post(
        f"/api/v1/rooms/{room_id}/invites", headers=headers, json={"label": "Dolmetscherin"}
    ).json()
    assert enter(room_world, made["url"].rsplit("/", 1)[1]).status_code == 303

    room_world.client.delete(f"/api/v1/rooms/{room_id}/invites/{made['id']}", headers=headers)

    assert enter(room_world, made["url"].rsplit("/", 1)[1]).status_code == 401


def test_a_link_of_a_phone_appointment_has_no_room(room_world, world, client):
    service = world.service(name="Telefon", channels=["phone"])
    world.advisor([service])
    body = signaling.booking_body(
        service,
        START + timedelta(hours=1),
        channel="phone",
        email="max@example.org",
        phone="0391 1234",
    )
    phone = client.post("/api/v1/bookings", json=body)
    assert phone.status_code == 201, phone.text

    response = enter(room_world, phone.json()["manage_url"].rsplit("/", 1)[1])

    assert response.status_code == 404
    assert "Zu diesem Termin gibt es keinen Videoraum." in response.text


# -- the citizen's room page -------------------------------------------------------------------


def test_the_room_page_needs_the_link_cookie(room_world):
    response = room_world.client.get("/raum")

    assert response.status_code == 401
    assert "Dieser Link ist ungültig" in response.text


def test_the_room_page_prefills_the_name_and_works_in_both_languages(room_world):
    enter(room_world, manage_token(room_world))

    german = room_world.client.get("/raum")
    english = room_world.client.get("/raum?lang=en")

    assert german.status_code == 200
    assert 'value="Erika Mustermann"' in german.text
    assert "Kamera und Mikrofon prüfen" in german.text
    assert "Das Videogespräch braucht JavaScript" in german.text  # the <noscript> message
    assert "/static/js/room/main.js" in german.text
    config = page_config(german.text)
    assert config == {
        "signalingPath": "/ws/signaling",
        "iceTransportPolicy": "all",
        "language": "de",
        "role": "guest",
        "ticketUrl": "/raum/ticket",
        "documentsUrl": "/raum/unterlagen",
        "uploadUrl": "/raum/unterlagen",
    }
    texts = page_config(german.text, "room-texts")
    assert texts["waiting"].startswith("Sie sind im Warteraum.")
    assert english.status_code == 200
    assert "Check camera and microphone" in english.text
    assert page_config(english.text, "room-texts")["waiting"].startswith("You are in the")


def test_a_join_link_alone_shows_not_the_citizens_name_on_the_page_or_the_ticket(room_world):
    # A join link travels (invitations, forwarded mails): only the manage link, which the
    # citizen's own browser keeps since booking, shows the name.
    enter(room_world)

    page = room_world.client.get("/raum")
    ticket = guest_ticket(room_world)

    assert page.status_code == 200
    assert 'id="display-name"' in page.text
    assert "Erika" not in page.text
    assert ticket.status_code == 201, ticket.text
    assert "Erika" not in ticket.text
    assert ticket.json()["participant"]["name"] == f"#{reference(room_world)}"


def test_before_the_window_the_page_says_when_the_room_opens(room_world):
    room_world.clock.now = OPENS - timedelta(days=1)
    enter(room_world)

    response = room_world.client.get("/raum")

    assert response.status_code == 200
    assert "Der Raum öffnet am Dienstag, 7. Januar 2031 um 09:45." in response.text


def test_a_cancelled_appointments_room_page_says_it_is_closed(room_world):
    enter(room_world)
    cancelled = room_world.client.post(
        "/api/v1/booking/cancel", headers=bearer(manage_token(room_world))
    )
    assert cancelled.status_code == 200

    response = room_world.client.get("/raum")

    assert response.status_code == 200
    assert "Der Videoraum ist geschlossen." in response.text
    assert "main.js" not in response.text


# -- the citizen's ticket ----------------------------------------------------------------------


def test_the_ticket_endpoint_gives_a_guest_ticket_for_the_cookie(room_world):
    enter(room_world)

    response = guest_ticket(room_world, name=" Erika M. ")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["participant"] == {"id": "guest", "role": "guest", "name": "Erika M."}
    assert body["room"]["closes_at"] == "2031-01-07T11:00:00+01:00"
    assert body["ticket"].count(".") == 2
    assert body["expires_at"] == "2031-01-07T10:00:00+01:00"


def test_the_ticket_endpoint_requires_the_csrf_header(room_world):
    enter(room_world)
    csrf(room_world.client)

    missing = room_world.client.post("/raum/ticket", json={})
    wrong = room_world.client.post("/raum/ticket", json={}, headers={"X-CSRF-Token": "x" * 40})

    assert (missing.status_code, missing.json()["code"]) == (403, "csrf_failed")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "csrf_failed")


def test_the_ticket_endpoint_without_a_link_is_401_json(room_world):
    response = guest_ticket(room_world)

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_the_ticket_endpoint_refuses_a_name_that_is_not_text(room_world):
    enter(room_world)

    response = guest_ticket(room_world, name=12)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_before_the_window_the_ticket_endpoint_says_when_in_the_pages_language(room_world):
    room_world.clock.now = OPENS - timedelta(minutes=5)
    enter(room_world)

    german = guest_ticket(room_world)
    room_world.client.get("/raum?lang=en")  # keeps English in the language cookie
    english = guest_ticket(room_world)

    assert german.status_code == 409
    assert german.json() == {
        "code": "room_not_open",
        "detail": "Der Videoraum öffnet am 07.01.2031 um 09:45 Uhr.",
        "opens_at": "2031-01-07T09:45:00+01:00",
    }
    assert english.json()["detail"] == "The video room opens on 07.01.2031 at 09:45."


def test_after_the_window_the_ticket_endpoint_says_closed(room_world):
    enter(room_world)
    room_world.clock.now = CLOSES

    response = guest_ticket(room_world)

    assert response.status_code == 409
    assert response.json()["code"] == "room_closed"


# -- the host ----------------------------------------------------------------------------------


def test_the_host_page_asks_for_a_login(room_world):
    room_id = room_world.room_id()

    response = room_world.client.get(f"/staff/raeume/{room_id}", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/login?next=%2Fstaff%2Fraeume%2F{room_id}"


def test_the_host_page_for_the_advisor(room_world):
    room_id = room_world.room_id()
    log_in(room_world, room_world.advisor)

    response = room_world.client.get(f"/staff/raeume/{room_id}")

    assert response.status_code == 200
    assert "Für alle beenden" in response.text
    assert "Dolmetscher*in oder weitere Person einladen" in response.text
    config = page_config(response.text)
    assert config["role"] == "host"
    assert config["ticketUrl"] == f"/staff/raeume/{room_id}/ticket"
    assert config["inviteUrl"] == f"/staff/raeume/{room_id}/einladungen"


def test_staff_outside_the_team_are_refused(room_world):
    room_id = room_world.room_id()
    log_in(room_world, room_world.stranger)

    page = room_world.client.get(f"/staff/raeume/{room_id}")
    unknown = room_world.client.get("/staff/raeume/no-such-room")
    ticket = room_world.client.post(
        f"/staff/raeume/{room_id}/ticket", headers={"X-CSRF-Token": csrf(room_world.client)}
    )

    assert page.status_code == 403
    assert "Nicht erlaubt" in page.text
    assert unknown.status_code == 404
    assert ticket.status_code == 403
    assert ticket.json()["code"] == "permission_denied"


def test_the_host_ticket(room_world):
    room_id = room_world.room_id()
    log_in(room_world, room_world.colleague)
    token = csrf(room_world.client)

    response = room_world.client.post(
        f"/staff/raeume/{room_id}/ticket", headers={"X-CSRF-Token": token}
    )
    without_csrf = room_world.client.post(f"/staff/raeume/{room_id}/ticket")

    assert response.status_code == 201, response.text
    assert response.json()["participant"]["role"] == "host"
    assert response.json()["participant"]["id"] == f"staff-{room_world.colleague.id}"
    assert without_csrf.status_code == 403


def test_the_host_ticket_without_a_login_is_401_json(room_world):
    room_id = room_world.room_id()

    response = room_world.client.post(
        f"/staff/raeume/{room_id}/ticket", headers={"X-CSRF-Token": csrf(room_world.client)}
    )

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_an_invitation_link_for_an_interpreter_over_json(room_world):
    room_id = room_world.room_id()
    log_in(room_world, room_world.advisor)

    response = room_world.client.post(
        f"/staff/raeume/{room_id}/einladungen",
        headers={"X-CSRF-Token": csrf(room_world.client)},
        json={"label": "Dolmetscher Arabisch"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["label"] == "Dolmetscher Arabisch"
    assert body["url"].startswith("http://testserver/j/")
    room_world.client.cookies.delete("staff_session")
    assert enter(room_world, body["url"].rsplit("/", 1)[1]).status_code == 303
    ticket = guest_ticket(room_world)
    assert ticket.json()["participant"]["role"] == "extra_guest"
    assert ticket.json()["participant"]["name"] == "Dolmetscher Arabisch"


def test_an_invitation_link_through_the_plain_form_is_listed_on_the_page(room_world):
    room_id = room_world.room_id()
    log_in(room_world, room_world.advisor)
    token = csrf(room_world.client)

    response = room_world.client.post(
        f"/staff/raeume/{room_id}/einladungen",
        data={"csrf_token": token, "label": "Gebärdensprache"},
        follow_redirects=False,
    )
    forged = room_world.client.post(
        f"/staff/raeume/{room_id}/einladungen", data={"csrf_token": "x" * 40, "label": "x"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/raeume/{room_id}#invites"
    page = room_world.client.get(f"/staff/raeume/{room_id}")
    assert "Link für Gebärdensprache" in page.text
    assert 'value="http://testserver/j/' in page.text
    assert forged.status_code == 403


def test_an_overlong_invitation_label_is_refused(room_world):
    room_id = room_world.room_id()
    log_in(room_world, room_world.advisor)

    response = room_world.client.post(
        f"/staff/raeume/{room_id}/einladungen",
        headers={"X-CSRF-Token": csrf(room_world.client)},
        json={"label": "x" * 500},
    )

    assert response.status_code == 422


def test_the_booking_room_redirect(room_world, container):
    log_in(room_world, room_world.advisor)
    ref = reference(room_world)

    response = room_world.client.get(f"/staff/termine/{ref}/raum", follow_redirects=False)

    assert response.status_code == 303
    room_id = response.headers["location"].rsplit("/", 1)[1]
    assert room_id == room_world.room_id()
    assert rooms_made(container) == 1


def test_the_booking_room_redirect_refuses_strangers_and_unknown_bookings(room_world):
    log_in(room_world, room_world.stranger)

    foreign = room_world.client.get(f"/staff/termine/{reference(room_world)}/raum")
    unknown = room_world.client.get("/staff/termine/NOPE1234/raum")

    assert foreign.status_code == 404
    assert unknown.status_code == 404


# -- the connection test and settings ---------------------------------------------------------


def test_the_connection_test_page_in_both_languages(client):
    german = client.get("/verbindungstest")
    english = client.get("/verbindungstest?lang=en")

    assert german.status_code == 200
    assert "<h1>Verbindungstest</h1>" in german.text
    assert "brauchen JavaScript" in german.text
    assert "/static/js/connection-test.js" in german.text
    assert page_config(german.text, "test-config")["offerUrl"] == "/api/v1/connection-test"
    assert english.status_code == 200
    assert "<h1>Connection test</h1>" in english.text
    assert "need JavaScript" in english.text


@pytest.fixture
def relay_app(settings, clock):
    application = create_app(settings.model_copy(update={"ice_transport_policy": "relay"}), clock)
    yield application
    application.state.container.engine.dispose()


def test_the_ice_transport_policy_setting_reaches_the_page(room_world, relay_app, monkeypatch):
    from fastapi.testclient import TestClient

    enter(room_world)
    with TestClient(relay_app) as client:
        client.cookies.set("booking_link", room_world.join_token)
        response = client.get("/raum")

    assert page_config(response.text)["iceTransportPolicy"] == "relay"


def test_the_ice_transport_policy_comes_from_the_environment(monkeypatch):
    from web.settings import Settings

    monkeypatch.setenv("SPRECHSTUNDE_ICE_TRANSPORT_POLICY", "relay")

    assert Settings(_env_file=None).ice_transport_policy == "relay"  # type: ignore[call-arg]
    monkeypatch.setenv("SPRECHSTUNDE_ICE_TRANSPORT_POLICY", "none")
    with pytest.raises(ValidationError, match="ice_transport_policy"):
        Settings(_env_file=None)  # type: ignore[call-arg]
