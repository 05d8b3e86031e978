"""The hotline desk: next free times across the team, booking for a caller, finding a booking,
an ad-hoc video room with its guest link."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from scheduler.models import Role
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import field_error, post, staff_client

# The clock stands at MONDAY 08:00 in Berlin, a public holiday: the first free time is Tuesday
# 09:00 (the hours are 9-12 and 13-16).
TUESDAY_NINE = "2031-01-07T09:00:00+01:00"


@pytest.fixture
def hotline(app, world):
    service = world.service(name="Wohngeld: Erstberatung", channels=["video", "phone"])
    world.advisor([service], email="anna@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    return staff_client(app, "hotline@example.org"), service


def _booking_form(service, **fields):
    return {
        "anliegen": str(service.id),
        "kanal": "phone",
        "start": TUESDAY_NINE,
        "name": "Helga Fischer",
        "phone": "0391 555 12",
        "language": "de",
        **fields,
    }


def test_the_next_free_times_come_earliest_first(hotline):
    client, service = hotline
    page = client.get(f"/staff/hotline?anliegen={service.id}&kanal=phone").text
    starts = re.findall(r'name="start" value="([^"]+)"', page)
    assert starts[0] == TUESDAY_NINE
    assert starts == sorted(starts)
    assert f'value="{TUESDAY_NINE}" checked' in page
    assert "Dienstag, 7. Januar 2031" in page
    # A few days, not the whole horizon.
    assert len({s[:10] for s in starts}) == 4


def test_no_free_time_names_the_last_day_searched(app, hotline, world):
    client, _ = hotline
    nobody = world.service(name="Pflege", channels=["phone"])

    page = client.get(f"/staff/hotline?anliegen={nobody.id}&kanal=phone").text

    # As far as the engine searches from the test clock's Monday, 6 January 2031.
    assert app.state.container.scheduler.search_window(date(2031, 1, 6))[1] == date(2031, 3, 8)
    assert "Bis Samstag, 8. März 2031 gibt es keine freien Zeiten." in page


def test_a_taken_time_is_not_offered(hotline, container):
    client, service = hotline
    container.scheduler.book(
        BookingRequest(
            service.id, datetime(2031, 1, 7, 8, tzinfo=UTC), "video", "Jonas", "j@example.org"
        )
    )
    page = client.get(f"/staff/hotline?anliegen={service.id}&kanal=phone").text
    assert re.findall(r'name="start" value="([^"]+)"', page)[0] == "2031-01-07T09:30:00+01:00"


def test_a_phone_callback_is_booked_without_an_e_mail(hotline, container, world):
    client, service = hotline
    response = post(
        client,
        "/staff/hotline/buchen",
        _booking_form(service, notes="Ruft aus dem Krankenhaus an", sign_language="yes"),
    )
    assert response.status_code == 303
    reference = re.fullmatch(
        r"/staff/buchungen/([A-Z0-9-]+)\?neu=true", response.headers["location"]
    )[1]
    booking = container.desk.booking(world.admin, reference)
    assert booking.email is None
    assert booking.phone == "0391 555 12"
    assert booking.channel == "phone"
    assert booking.sign_language is True
    assert booking.start == datetime(2031, 1, 7, 8, tzinfo=UTC)
    confirmation = client.get(response.headers["location"]).text
    assert f"Buchungsnummer: {reference}" in confirmation
    assert "Es wurde keine E-Mail-Adresse angegeben" in confirmation


def test_a_video_appointment_needs_an_e_mail_and_a_callback_a_phone(hotline):
    client, service = hotline
    video = post(client, "/staff/hotline/buchen", _booking_form(service, kanal="video"))
    assert video.status_code == 422
    assert "E-Mail mit dem Link" in field_error(video.text, "email")
    callback = post(client, "/staff/hotline/buchen", _booking_form(service, phone=""))
    assert callback.status_code == 422
    assert "Telefonnummer" in field_error(callback.text, "phone")


def test_a_video_appointment_with_e_mail_is_booked(hotline, container, world):
    client, service = hotline
    response = post(
        client,
        "/staff/hotline/buchen",
        _booking_form(service, kanal="video", email="helga@example.org", language="en"),
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "erhält eine Bestätigung per E-Mail" in page


@pytest.mark.parametrize(
    ("fields", "field_id"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"phone": "call me"}, "phone"),
        ({"email": "nicht-gueltig"}, "email"),
        ({"start": ""}, "start"),
        ({"start": "morgen"}, "start"),
        ({"language": "Deutsch"}, "language"),
        ({"interpreter_language": "x" * 51}, "interpreter_language"),
    ],
)
def test_bad_booking_input_is_shown_at_its_field(hotline, fields, field_id):
    client, service = hotline
    response = post(client, "/staff/hotline/buchen", _booking_form(service, **fields))
    assert response.status_code == 422
    assert f'<a href="#{field_id}">' in response.text
    # The form is shown again with what was entered.
    assert 'name="name"' in response.text


def test_a_time_taken_meanwhile_is_a_409_with_fresh_times(hotline, container):
    client, service = hotline
    container.scheduler.book(
        BookingRequest(
            service.id, datetime(2031, 1, 7, 8, tzinfo=UTC), "video", "Jonas", "j@example.org"
        )
    )
    response = post(client, "/staff/hotline/buchen", _booking_form(service))
    assert response.status_code == 409
    assert '<a href="#start">' in response.text
    assert f'value="{TUESDAY_NINE}"' not in response.text


def test_a_time_off_the_grid_is_refused(hotline):
    client, service = hotline
    response = post(
        client, "/staff/hotline/buchen", _booking_form(service, start="2031-01-07T09:07:00+01:00")
    )
    assert response.status_code == 422
    assert '<a href="#start">' in response.text


def test_a_channel_the_service_does_not_offer_is_a_form_error(hotline):
    client, service = hotline
    response = client.get(f"/staff/hotline?anliegen={service.id}&kanal=in_person")
    assert response.status_code == 422
    assert '<a href="#kanal">' in response.text
    booked = post(client, "/staff/hotline/buchen", _booking_form(service, kanal="in_person"))
    assert booked.status_code == 422


@pytest.mark.parametrize(
    ("query", "field_id"),
    [
        ("anliegen=&kanal=phone", "anliegen"),
        ("anliegen=abc&kanal=phone", "anliegen"),
        ("anliegen={id}&kanal=fax", "kanal"),
        ("anliegen={id}&kanal=", "kanal"),
        ("nummer=", "nummer"),
        ("nummer=%20-%20", "nummer"),
    ],
)
def test_a_search_sent_without_a_valid_choice_is_a_form_error(hotline, query, field_id):
    client, service = hotline
    response = client.get("/staff/hotline?" + query.format(id=service.id))
    assert response.status_code == 422
    assert f'<a href="#{field_id}">' in response.text


def test_an_unknown_service_is_a_form_error(hotline):
    client, _ = hotline
    assert client.get("/staff/hotline?anliegen=4242&kanal=phone").status_code == 422
    response = post(client, "/staff/hotline/buchen", _booking_form(type("S", (), {"id": 4242})))
    assert response.status_code in (404, 422)
    assert 'class="error-summary"' in response.text


def test_a_booking_is_found_by_its_reference_as_read_out_on_the_phone(hotline, container):
    client, service = hotline
    placed = container.scheduler.book(
        BookingRequest(
            service.id, datetime(2031, 1, 7, 8, tzinfo=UTC), "video", "Jonas", "j@example.org"
        )
    )
    reference = placed.booking.reference
    spoken = reference.replace("-", " ").lower()
    response = client.get(f"/staff/hotline?nummer={spoken}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/buchungen/{reference}"
    missing = client.get("/staff/hotline?nummer=ZZZZ-ZZZZ")
    assert missing.status_code == 404
    assert "keinen Termin" in field_error(missing.text, "nummer")


def test_an_ad_hoc_room_gives_a_guest_link_and_a_host_link(hotline, container):
    client, _ = hotline
    response = post(client, "/staff/hotline/raum", {"title": "Rückfrage Wohngeld"})
    assert response.status_code == 303
    room_id = re.fullmatch(r"/staff/hotline/raeume/([^/]+)", response.headers["location"])[1]
    page = client.get(response.headers["location"]).text
    link = re.search(r'id="guest-link" value="(http://testserver/j/[^"]+)"', page)[1]
    assert f'href="/staff/raeume/{room_id}"' in page
    assert 'data-copy="guest-link"' in page
    ticket = container.rooms.invite_ticket(link.rsplit("/", 1)[1], "Gast")
    assert ticket.room.id == room_id


def test_another_persons_ad_hoc_room_is_not_shown(app, hotline, world):
    client, _ = hotline
    location = post(client, "/staff/hotline/raum").headers["location"]
    world.advisor([], email="hotline2@example.org", role=Role.HOTLINE)
    other = staff_client(app, "hotline2@example.org")
    assert other.get(location).status_code in (403, 404)
    assert client.get("/staff/hotline/raeume/nope").status_code == 404


def test_advisors_have_no_hotline_desk(app, hotline):
    advisor = staff_client(app, "anna@example.org")
    assert advisor.get("/staff/hotline").status_code == 403
    assert post(advisor, "/staff/hotline/raum").status_code == 403


def test_the_hotline_desk_in_english(hotline):
    client, service = hotline
    page = client.get(f"/staff/hotline?anliegen={service.id}&kanal=phone&lang=en").text
    assert "Find the next free appointment" in page
    assert "Tuesday, 7 January 2031" in page
    assert "Book appointment" in page


def test_the_desk_leads_to_a_callback_request_and_the_waiting_list(hotline):
    client, _ = hotline
    page = client.get("/staff/hotline").text
    assert '<a href="/staff/rueckrufe/neu">Rückrufbitte aufnehmen</a>' in page
    assert '<a href="/staff/warteliste">Auf die Warteliste setzen</a>' in page
