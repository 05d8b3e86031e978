"""The booked appointment through the magic link: the link only sets the cookie, the pages
show the appointment, and every change (move, cancel) is a confirmed POST with a CSRF token."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from notifications.models import OutboxMessage
from tests.web.pages.test_citizen_flow import TUESDAY, at, bookings, make_service, open_page, read
from web.container import Container


@pytest.fixture
def service(world):
    return make_service(world)


def api_booking(client, service, start=None, **fields):
    body = {
        "service_id": service.id,
        "start": (start or at(TUESDAY, 9)).isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
    } | fields
    answer = client.post("/api/v1/bookings", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def token(client, service):
    return api_booking(client, service)["manage_url"].rsplit("/", 1)[1]


@pytest.fixture
def linked(client, token):
    """A browser that has opened the magic link."""
    client.get(f"/b/{token}")
    return client


def outbox_count(container: Container) -> int:
    with container.sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_the_magic_link_sets_the_cookie_and_redirects_without_the_token(client, token, container):
    before = bookings(container)[0]
    mails = outbox_count(container)

    answer = client.get(f"/b/{token}", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/termin"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"booking_link={token};")
    assert "httponly" in cookie.lower()
    after = bookings(container)[0]
    assert (after.status, after.sequence, after.token_version, after.updated_at) == (
        before.status,
        before.sequence,
        before.token_version,
        before.updated_at,
    )
    assert outbox_count(container) == mails


def test_the_appointment_page_shows_the_booking(linked, container):
    page = open_page(linked, "/termin")

    [booking] = bookings(container)
    assert page.status == 200
    assert booking.reference in page.text
    assert "Stand: Gebucht" in page.text
    assert "Dienstag, 7. Januar 2031" in page.text
    assert "09:00 bis 09:30 Uhr" in page.text
    assert "Videoberatung" in page.text
    assert page.hrefs("/termin/verschieben")
    assert page.hrefs("/termin/absagen")
    assert page.hrefs("/verbindungstest")


@pytest.mark.parametrize(
    "token",
    ["nonsense", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJYIn0.c2lnbmF0dXJl", "a" * 2000],
)
def test_an_unknown_or_forged_link_gets_the_page_that_says_what_to_do(client, token):
    page = read(client.get(f"/b/{token}", follow_redirects=False))

    assert page.status == 404
    assert "Dieser Link ist nicht gültig" in page.text
    assert "Rufen Sie die Hotline an: +49 391 540-0" in page.text
    assert "booking_link" not in page.html


def test_an_expired_link_says_so(client, token, clock):
    clock.advance(days=181)

    page = read(client.get(f"/b/{token}"))

    assert page.status == 410
    assert "Dieser Link ist abgelaufen" in page.text


def test_a_reissued_link_replaces_the_old_one(client, token, world, container):
    [booking] = bookings(container)
    container.desk.reissue_link(world.admin, booking.reference)

    page = read(client.get(f"/b/{token}"))

    assert page.status == 410
    assert "neueren Link" in page.text


def test_without_the_cookie_the_appointment_page_says_to_open_the_link(client):
    page = read(client.get("/termin"))

    assert page.status == 401
    assert "Wir finden Ihren Termin nicht" in page.text


def test_a_forged_cookie_is_no_booking(client):
    client.cookies.set("booking_link", "forged")

    page = read(client.get("/termin/kalender.ics"))

    assert page.status == 404
    assert "Dieser Link ist nicht gültig" in page.text


def test_the_calendar_file_is_the_invite(linked, container):
    answer = linked.get("/termin/kalender.ics")

    [booking] = bookings(container)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    assert f'filename="{booking.reference}.ics"' in answer.headers["content-disposition"]
    [event] = Calendar.from_ical(answer.content).walk("VEVENT")
    assert event.decoded("dtstart") == at(TUESDAY, 9)


def test_the_join_button_is_disabled_until_the_room_opens(linked, clock):
    clock.now = at(TUESDAY, 8, 44).astimezone(UTC)

    page = open_page(linked, "/termin")

    assert "Der Videoraum öffnet am Dienstag, 7. Januar 2031 um 08:45 Uhr." in page.text
    join = page.attributes["join-button"]
    assert join["aria-disabled"] == "true"
    assert "href" not in join
    assert not page.hrefs("/raum")


def test_the_join_button_links_to_the_room_while_it_is_open(linked, clock):
    clock.now = at(TUESDAY, 8, 45).astimezone(UTC)

    page = open_page(linked, "/termin")

    assert page.link("Zur Videoberatung") == "/raum"
    assert "Der Videoraum ist geöffnet." in page.text


def test_after_the_room_closes_there_is_nothing_to_join(linked, clock):
    clock.now = at(TUESDAY, 10).astimezone(UTC)

    page = open_page(linked, "/termin")

    assert not page.hrefs("/raum")
    assert "Der Videoraum ist geschlossen." in page.text
    assert not page.hrefs("/termin/verschieben")  # it has begun: nothing to move


def test_a_phone_appointment_has_no_join_button(client, service):
    booked = api_booking(client, service, channel="phone", phone="0391 1234")
    client.get(booked["manage_url"].replace("http://testserver", ""))

    page = open_page(client, "/termin")

    assert "Videoraum" not in page.text
    assert "Rückruf" in page.text


def test_moving_the_appointment_picks_confirms_and_moves(linked, container):
    picker = open_page(linked, "/termin/verschieben")
    assert "Ihr bisheriger Termin: Dienstag, 7. Januar 2031, 09:00 Uhr" in picker.text
    new_time = next(h for h in picker.hrefs("/termin/verschieben?start=") if "T10%3A00" in h)
    confirm = open_page(linked, new_time)
    assert "Neue Uhrzeit bestätigen" in confirm.text
    assert [b.start_at for b in bookings(container)] == [at(TUESDAY, 9).astimezone(UTC)]

    answer = linked.post(
        "/termin/verschieben",
        data={"csrf_token": confirm.inputs["csrf_token"], "start": confirm.inputs["start"]},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    [booking] = bookings(container)
    assert booking.start_at == at(TUESDAY, 10).astimezone(UTC)
    page = open_page(linked, answer.headers["location"])
    assert "Ihr Termin wurde verschoben." in page.text
    assert 'role="status"' in page.html  # the notice sits in a live region


def test_moving_to_a_taken_time_says_so(linked, client, service, container):
    confirm = open_page(linked, "/termin/verschieben", start=at(TUESDAY, 10).isoformat())
    other = api_booking(client, service, start=at(TUESDAY, 10), email="max@example.org")
    assert other["status"] == "confirmed"

    page = read(
        linked.post(
            "/termin/verschieben",
            data={"csrf_token": confirm.inputs["csrf_token"], "start": confirm.inputs["start"]},
        )
    )

    assert page.status == 409
    assert "Dieser Termin wurde gerade von jemand anderem gebucht." in page.text
    assert bookings(container)[0].start_at == at(TUESDAY, 9).astimezone(UTC)


def test_moving_without_csrf_token_is_refused(linked, container):
    answer = linked.post("/termin/verschieben", data={"start": at(TUESDAY, 10).isoformat()})

    assert answer.status_code == 403
    assert bookings(container)[0].start_at == at(TUESDAY, 9).astimezone(UTC)


def test_cancelling_asks_first_then_cancels_and_offers_a_new_booking(linked, container):
    confirm = open_page(linked, "/termin/absagen")
    assert "Termin absagen?" in confirm.text
    assert bookings(container)[0].status == "confirmed"

    answer = linked.post(
        "/termin/absagen",
        data={"csrf_token": confirm.inputs["csrf_token"]},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert bookings(container)[0].status == "cancelled"
    page = open_page(linked, answer.headers["location"])
    assert "Ihr Termin wurde abgesagt." in page.text
    assert "Stand: Abgesagt" in page.text
    assert page.link("Neuen Termin buchen") == "/"
    assert not page.hrefs("/termin/verschieben")
    assert not page.hrefs("/raum")


def test_cancelling_without_csrf_token_is_refused(linked, container):
    answer = linked.post("/termin/absagen", data={})

    assert answer.status_code == 403
    assert bookings(container)[0].status == "confirmed"


def test_a_cancelled_appointment_cannot_be_moved(linked, container):
    confirm = open_page(linked, "/termin/absagen")
    linked.post("/termin/absagen", data={"csrf_token": confirm.inputs["csrf_token"]})

    answer = linked.get("/termin/verschieben", follow_redirects=False)

    assert answer.headers["location"] == "/termin"


def test_the_pages_are_in_english_too(linked):
    page = open_page(linked, "/termin", lang="en")

    assert "Your appointment" in page.text
    assert "Status: Booked" in page.text
    assert 'lang="en"' in page.html


@pytest.mark.parametrize(
    "path",
    [
        "/termin/verschieben?ab=nodate",
        "/termin/verschieben?start=nodate",
        "/termin/verschieben?start=2031-01-07T10:00:00",
    ],
)
def test_bad_addresses_of_the_appointment_get_a_clear_page(linked, path):
    assert linked.get(path).status_code == 422


def test_a_moved_time_off_the_grid_is_refused(linked, container):
    confirm = open_page(linked, "/termin/absagen")

    answer = linked.post(
        "/termin/verschieben",
        data={
            "csrf_token": confirm.inputs["csrf_token"],
            "start": (at(TUESDAY, 10) + timedelta(minutes=7)).isoformat(),
        },
    )

    assert answer.status_code == 422
    assert bookings(container)[0].start_at == at(TUESDAY, 9).astimezone(UTC)
