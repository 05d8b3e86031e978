"""The rooms' HTTP contract: tickets for join links and staff, rooms of bookings, ad-hoc rooms,
invitations, and the answers when any of it is refused.

The booking comes from `room_world` (tests/signaling/conftest.py): a video booking on
Tuesday 7 January 2031 at 10:00 in Berlin, the clock at 09:50 in Berlin; its room is open
from 09:45 to 11:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.db import read_session, write_session
from scheduler.models import Role, Staff, Team
from tests.conftest import PASSWORD
from tests.signaling import conftest as signaling
from web.app import create_app

room_world = signaling.room_world

START = signaling.START
OPENS = START - timedelta(minutes=15)
CLOSES = START + timedelta(minutes=60)
ENGLISH = {"Accept-Language": "en"}


# -- helpers -----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def manage_token(room_world) -> str:
    return token_of(room_world.manage_url)


def reference(room_world) -> str:
    response = room_world.client.get("/api/v1/booking", headers=bearer(manage_token(room_world)))
    return str(response.json()["reference"])


def link_ticket(room_world, token: str, **headers: str) -> Any:
    return room_world.client.post(
        "/api/v1/room-tickets", headers={**bearer(token), **headers}, json={}
    )


def staff_ticket(room_world, room_id: str, staff: Staff) -> Any:
    return room_world.client.post(
        f"/api/v1/rooms/{room_id}/tickets", headers=room_world.staff_headers(staff)
    )


def team_of(container, staff: Staff) -> int | None:
    with read_session(container.sessions) as session:
        return session.get(Staff, staff.id).team_id


def staff_member(container, world, role: Role, team_id: int | None) -> Staff:
    staff = world.advisor([], hours=[], role=role)
    with write_session(container.sessions) as session:
        session.get(Staff, staff.id).team_id = team_id
    return staff  # type: ignore[no-any-return]


def new_team(container, name: str) -> int:
    with write_session(container.sessions) as session:
        team = Team(name=name)
        session.add(team)
        session.flush()
        return team.id


@pytest.fixture
def room_id(room_world) -> str:
    return room_world.room_id()


@pytest.fixture
def hotline(container, world, room_world) -> Staff:
    return staff_member(container, world, Role.HOTLINE, team_of(container, room_world.advisor))


@pytest.fixture
def adhoc(room_world, hotline) -> dict[str, Any]:
    response = room_world.client.post(
        "/api/v1/rooms", headers=room_world.staff_headers(hotline), json={"title": "Rückruf"}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def invite(room_world, room_id: str, label: str, staff: Staff | None = None) -> Any:
    return room_world.client.post(
        f"/api/v1/rooms/{room_id}/invites",
        headers=room_world.staff_headers(staff or room_world.advisor),
        json={"label": label},
    )


# -- the room's window -------------------------------------------------------------------------


def test_before_the_window_the_answer_says_when_the_room_opens(room_world):
    room_world.clock.now = OPENS - timedelta(minutes=1)

    response = link_ticket(room_world, room_world.join_token)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "room_not_open"
    assert body["opens_at"] == "2031-01-07T09:45:00+01:00"
    assert body["detail"] == "Der Videoraum öffnet am 07.01.2031 um 09:45 Uhr."


def test_the_opening_time_is_told_in_english_too(room_world):
    room_world.clock.now = OPENS - timedelta(hours=2)

    response = link_ticket(room_world, room_world.join_token, **ENGLISH)

    assert response.status_code == 409
    assert response.json()["detail"] == "The video room opens on 07.01.2031 at 09:45."


def test_after_the_window_the_room_is_closed(room_world, room_id):
    room_world.clock.now = CLOSES

    response = link_ticket(room_world, room_world.join_token)
    host = staff_ticket(room_world, room_id, room_world.advisor)

    assert response.status_code == 409
    assert response.json()["code"] == "room_closed"
    assert response.json()["closes_at"] == "2031-01-07T11:00:00+01:00"
    assert response.json()["detail"] == "Der Videoraum ist geschlossen."
    assert (host.status_code, host.json()["code"]) == (409, "room_closed")


def test_a_cancelled_bookings_room_is_closed(room_world, room_id):
    cancelled = room_world.client.post(
        "/api/v1/booking/cancel", headers=bearer(manage_token(room_world))
    )
    assert cancelled.status_code == 200, cancelled.text

    guest = link_ticket(room_world, room_world.join_token)
    host = staff_ticket(room_world, room_id, room_world.advisor)
    room = room_world.client.post(
        f"/api/v1/bookings/{reference(room_world)}/room",
        headers=room_world.staff_headers(room_world.advisor),
    )

    assert (guest.status_code, guest.json()["code"]) == (409, "room_closed")
    assert (host.status_code, host.json()["code"]) == (409, "room_closed")
    assert room.json()["ended"] is True


def test_a_reschedule_moves_the_window(room_world, room_id):
    later = datetime(2031, 1, 7, 10, 30, tzinfo=UTC)  # 11:30 in Berlin
    moved = room_world.client.post(
        "/api/v1/booking/reschedule",
        headers=bearer(manage_token(room_world)),
        json={"start": later.isoformat()},
    )
    assert moved.status_code == 200, moved.text

    early = link_ticket(room_world, room_world.join_token)
    assert early.status_code == 409
    assert early.json()["opens_at"] == "2031-01-07T11:15:00+01:00"
    room_world.clock.now = later - timedelta(minutes=15)
    response = link_ticket(room_world, room_world.join_token)
    assert response.status_code == 201, response.text
    assert response.json()["room"]["id"] == room_id
    assert response.json()["room"]["closes_at"] == "2031-01-07T12:30:00+01:00"


def test_an_ended_room_refuses_tickets(container, room_world, room_id):
    container.rooms.end(room_id)

    guest = link_ticket(room_world, room_world.join_token)
    host = staff_ticket(room_world, room_id, room_world.advisor)

    assert (guest.status_code, guest.json()["code"]) == (409, "room_closed")
    assert (host.status_code, host.json()["code"]) == (409, "room_closed")


# -- the citizen's links -----------------------------------------------------------------------


def test_the_join_link_gives_a_guest_ticket(room_world, room_id):
    response = room_world.client.post(
        "/api/v1/room-tickets", headers=bearer(room_world.join_token), json={"name": " Erika "}
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["participant"] == {"id": "guest", "role": "guest", "name": "Erika"}
    assert body["room"]["id"] == room_id
    assert body["room"]["booking_reference"] == reference(room_world)


def test_without_a_body_the_join_links_holder_is_called_by_the_reference_not_the_name(
    room_world,
):
    response = room_world.client.post("/api/v1/room-tickets", headers=bearer(room_world.join_token))
    owner = link_ticket(room_world, manage_token(room_world))

    assert response.status_code == 201, response.text
    assert response.json()["participant"]["name"] == f"#{reference(room_world)}"
    assert "Erika" not in response.text
    # The manage link stays in the citizen's own browser: its holder is the citizen.
    assert owner.json()["participant"]["name"] == "Erika Mustermann"


def test_the_manage_link_gives_a_guest_ticket_too(room_world, room_id):
    response = link_ticket(room_world, manage_token(room_world))

    assert response.status_code == 201, response.text
    assert response.json()["participant"]["id"] == "guest"
    assert response.json()["room"]["id"] == room_id


def test_a_phone_booking_has_no_video_room(room_world, container):
    service_id = container.scheduler.booking_for_token(manage_token(room_world)).service_id
    booked = room_world.client.post(
        "/api/v1/bookings",
        json={
            "service_id": service_id,
            "start": datetime(2031, 1, 7, 13, 0, tzinfo=UTC).isoformat(),
            "channel": "phone",
            "phone": "+49 30 1234567",
            "name": "Max Mustermann",
            "email": "max@example.org",
        },
    )
    assert booked.status_code == 201, booked.text

    response = link_ticket(room_world, token_of(booked.json()["manage_url"]))
    room = room_world.client.post(
        f"/api/v1/bookings/{booked.json()['reference']}/room",
        headers=room_world.staff_headers(room_world.advisor),
    )

    assert response.status_code == 404
    assert response.json()["code"] == "no_video_room"
    assert response.json()["detail"] == "Zu diesem Termin gibt es keinen Videoraum."
    assert (room.status_code, room.json()["code"]) == (404, "no_video_room")


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
        lambda t: t.split(".")[0] + ".e30." + t.split(".")[2],
        lambda t: "not-a-token",
    ],
    ids=["signature", "payload", "garbage"],
)
def test_a_forged_link_is_401(room_world, forge):
    response = link_ticket(room_world, forge(room_world.join_token))

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("link", ["join", "manage"])
def test_an_expired_link_is_401_expired(room_world, link):
    room_world.clock.now += timedelta(days=181)
    token = room_world.join_token if link == "join" else manage_token(room_world)

    response = link_ticket(room_world, token)

    assert (response.status_code, response.json()["code"]) == (401, "token_expired")


def test_a_reissued_link_makes_the_old_one_401(room_world, world):
    reissued = room_world.client.post(
        f"/api/v1/staff/bookings/{reference(room_world)}/reissue-link",
        headers=world.login(room_world.client),
    )
    assert reissued.status_code == 200, reissued.text

    old = link_ticket(room_world, room_world.join_token)
    new = link_ticket(room_world, token_of(reissued.json()["join_url"]))

    assert (old.status_code, old.json()["code"]) == (401, "token_revoked")
    assert new.status_code == 201, new.text


# -- staff -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["advisor", "colleague"])
def test_the_advisor_and_a_team_colleague_get_host_tickets(room_world, room_id, who):
    staff = getattr(room_world, who)

    response = staff_ticket(room_world, room_id, staff)

    assert response.status_code == 201, response.text
    assert response.json()["participant"] == {
        "id": f"staff-{staff.id}",
        "role": "host",
        "name": staff.name,
    }


def test_a_colleague_may_open_the_bookings_room_too(room_world, room_id):
    response = room_world.client.post(
        f"/api/v1/bookings/{reference(room_world).lower()}/room",
        headers=room_world.staff_headers(room_world.colleague),
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == room_id


def test_staff_of_another_team_or_none_are_refused(container, world, room_world, room_id):
    other_team = staff_member(container, world, Role.ADVISOR, new_team(container, "Elterngeld"))

    for staff in (room_world.stranger, other_team):
        response = staff_ticket(room_world, room_id, staff)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        room = room_world.client.post(
            f"/api/v1/bookings/{reference(room_world)}/room",
            headers=room_world.staff_headers(staff),
        )
        assert room.status_code == 404  # as at the desk: not their booking, not there


def test_an_admin_without_a_team_is_kept_out_of_consultations(room_world, world, room_id):
    # Administrators configure the office; a consultation is between the citizen and the
    # advisor's team, so being admin opens no room.
    headers = world.login(room_world.client)

    response = room_world.client.post(f"/api/v1/rooms/{room_id}/tickets", headers=headers)

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_an_unknown_room_is_404(room_world):
    response = staff_ticket(room_world, "no-such-room", room_world.advisor)
    booking = room_world.client.post(
        "/api/v1/bookings/ZZZZ-ZZZZ/room", headers=room_world.staff_headers(room_world.advisor)
    )

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert booking.status_code == 404


# -- ad-hoc rooms ------------------------------------------------------------------------------


def test_hotline_staff_open_an_adhoc_room_with_a_guest_link(room_world, container, adhoc):
    room, guest = adhoc["room"], adhoc["guest"]

    assert room["title"] == "Rückruf"
    assert room["booking_reference"] is None
    assert room["opens_at"] == "2031-01-07T09:50:00+01:00"
    minutes = container.settings.adhoc_room_minutes
    closes = datetime(2031, 1, 7, 8, 50, tzinfo=UTC) + timedelta(minutes=minutes)
    assert datetime.fromisoformat(room["closes_at"]) == closes
    assert guest["url"].startswith("http://testserver/j/")
    assert (guest["role"], guest["room_id"], guest["revoked"]) == ("guest", room["id"], False)

    response = link_ticket(room_world, token_of(guest["url"]))

    assert response.status_code == 201, response.text
    assert response.json()["participant"]["role"] == "guest"
    assert response.json()["participant"]["id"] == f"invite-{guest['id']}"
    assert response.json()["room"]["id"] == room["id"]


def test_an_adhoc_room_closes_after_its_minutes(room_world, container, adhoc):
    room_world.clock.advance(minutes=container.settings.adhoc_room_minutes)

    response = link_ticket(room_world, token_of(adhoc["guest"]["url"]))

    assert (response.status_code, response.json()["code"]) == (409, "room_closed")


def test_the_team_hosts_an_adhoc_room_and_another_team_does_not(
    container, world, room_world, adhoc
):
    other_team = staff_member(container, world, Role.HOTLINE, new_team(container, "Elterngeld"))

    colleague = staff_ticket(room_world, adhoc["room"]["id"], room_world.colleague)
    outsider = staff_ticket(room_world, adhoc["room"]["id"], other_team)

    assert colleague.status_code == 201, colleague.text
    assert colleague.json()["participant"]["role"] == "host"
    assert outsider.status_code == 403


# -- invitations -------------------------------------------------------------------------------


def test_an_invitation_gives_an_extra_guest_ticket_with_a_name(room_world, room_id):
    created = invite(room_world, room_id, "Dolmetscherin")
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "extra_guest"
    assert created.json()["label"] == "Dolmetscherin"

    response = link_ticket(room_world, token_of(created.json()["url"]))

    assert response.status_code == 201, response.text
    assert response.json()["participant"] == {
        "id": f"invite-{created.json()['id']}",
        "role": "extra_guest",
        "name": "Dolmetscherin",
    }


def test_invitations_are_listed_and_a_revoked_one_is_401(room_world, room_id):
    first = invite(room_world, room_id, "Dolmetscherin").json()
    second = invite(room_world, room_id, "Betreuer").json()
    headers = room_world.staff_headers(room_world.advisor)

    revoked = room_world.client.delete(
        f"/api/v1/rooms/{room_id}/invites/{first['id']}", headers=headers
    )
    listed = room_world.client.get(f"/api/v1/rooms/{room_id}/invites", headers=headers)

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True
    assert [(i["id"], i["revoked"]) for i in listed.json()] == [
        (first["id"], True),
        (second["id"], False),
    ]
    refused = link_ticket(room_world, token_of(first["url"]))
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
    assert link_ticket(room_world, token_of(second["url"])).status_code == 201


def test_an_invitation_of_one_room_is_no_key_to_another(room_world, room_id, adhoc):
    other = adhoc["room"]["id"]
    created = invite(room_world, room_id, "Dolmetscherin").json()
    headers = room_world.staff_headers(room_world.colleague)

    ticket = link_ticket(room_world, token_of(created["url"]))
    revoke = room_world.client.delete(
        f"/api/v1/rooms/{other}/invites/{created['id']}", headers=headers
    )
    listed = room_world.client.get(f"/api/v1/rooms/{other}/invites", headers=headers)

    assert ticket.json()["room"]["id"] == room_id
    assert revoke.status_code == 404
    assert created["id"] not in [i["id"] for i in listed.json()]


def test_strangers_cannot_invite_or_see_the_invitations(room_world, room_id):
    headers = room_world.staff_headers(room_world.stranger)

    created = invite(room_world, room_id, "Betreuer", staff=room_world.stranger)
    listed = room_world.client.get(f"/api/v1/rooms/{room_id}/invites", headers=headers)

    assert created.status_code == 403
    assert listed.status_code == 403


# -- the ticket's answer -----------------------------------------------------------------------


def test_the_ticket_answer_has_local_times_and_the_signaling_url(room_world, room_id):
    response = link_ticket(room_world, room_world.join_token)

    body = response.json()
    assert body["signaling_url"] == "ws://testserver/ws/signaling"
    assert body["expires_at"] == "2031-01-07T10:00:00+01:00"
    assert body["room"]["opens_at"] == "2031-01-07T09:45:00+01:00"
    assert body["room"]["closes_at"] == "2031-01-07T11:00:00+01:00"
    assert body["room"]["ended"] is False
    assert body["ticket"].count(".") == 2


def test_the_ticket_expires_with_the_room_at_the_latest(room_world, room_id):
    room_world.clock.now = CLOSES - timedelta(minutes=2)

    response = link_ticket(room_world, room_world.join_token)

    assert response.json()["expires_at"] == "2031-01-07T11:00:00+01:00"


@pytest.fixture
def https_client(settings, clock, world) -> Iterator[TestClient]:
    """The same office behind https: an app of its own, since links name their issuer."""
    app = create_app(
        settings.model_copy(update={"base_url": "https://termine.example"}), clock=clock
    )
    with TestClient(app, base_url="https://termine.example") as client:
        yield client
    app.state.container.engine.dispose()


def test_behind_https_the_signaling_url_is_wss(https_client):
    login = https_client.post(
        "/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD}
    )
    headers = bearer(login.json()["access_token"])
    adhoc = https_client.post("/api/v1/rooms", headers=headers, json={})
    guest_url = adhoc.json()["guest"]["url"]
    assert guest_url.startswith("https://termine.example/j/")

    response = https_client.post("/api/v1/room-tickets", headers=bearer(token_of(guest_url)))

    assert response.status_code == 201, response.text
    assert response.json()["signaling_url"] == "wss://termine.example/ws/signaling"


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"name": 5}, {"name": ["Erika"]}, {"name": "x" * 101}, []])
def test_a_ticket_request_with_a_bad_body_is_422(room_world, body):
    response = room_world.client.post(
        "/api/v1/room-tickets", headers=bearer(room_world.join_token), json=body
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


@pytest.mark.parametrize(
    "body", [{"label": 5}, {"label": None}, {"label": "x" * 101}, {"label": "a\nb"}, "label"]
)
def test_an_invitation_with_a_bad_label_is_422(room_world, room_id, body):
    response = room_world.client.post(
        f"/api/v1/rooms/{room_id}/invites",
        headers=room_world.staff_headers(room_world.advisor),
        json=body,
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_a_huge_label_is_422(room_world, room_id):
    response = invite(room_world, room_id, "x" * 20_000)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert response.json()["errors"][0]["field"] == "label"


@pytest.mark.parametrize("body", [{"title": 7}, {"title": "x" * 201}])
def test_an_adhoc_room_with_a_bad_title_is_422(room_world, body):
    response = room_world.client.post(
        "/api/v1/rooms", headers=room_world.staff_headers(room_world.advisor), json=body
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/room-tickets"),
        ("post", "/api/v1/rooms/{room}/tickets"),
        ("post", "/api/v1/rooms"),
        ("post", "/api/v1/rooms/{room}/invites"),
        ("get", "/api/v1/rooms/{room}/invites"),
        ("delete", "/api/v1/rooms/{room}/invites/1"),
    ],
)
def test_without_a_bearer_token_it_is_401(room_world, room_id, method, path):
    response = room_world.client.request(method, path.format(room=room_id), json={"label": "x"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_staff_token_is_no_join_link_and_a_join_link_no_staff_token(room_world, room_id):
    staff = room_world.staff_headers(room_world.advisor)

    as_link = room_world.client.post("/api/v1/room-tickets", headers=staff)
    as_staff = room_world.client.post(
        f"/api/v1/rooms/{room_id}/tickets", headers=bearer(room_world.join_token)
    )

    assert (as_link.status_code, as_link.json()["code"]) == (401, "token_invalid")
    assert as_staff.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/rooms/{long}/tickets", "/api/v1/rooms/{room}/invites/0"])
def test_ids_out_of_range_are_422(room_world, room_id, path):
    method = "delete" if path.endswith("/0") else "post"
    response = room_world.client.request(
        method,
        path.format(long="x" * 33, room=room_id),
        headers=room_world.staff_headers(room_world.advisor),
    )

    assert response.status_code == 422
