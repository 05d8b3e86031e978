"""The advisor's agenda, the week, one booking's details and the outcome of a consultation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.models import BookingStatus, Role
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import post, staff_client
from web.i18n import Catalogues

# MONDAY (6 January) is a public holiday in Saxony-Anhalt: the appointments are on Tuesday.
NINE = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
TEN = NINE + timedelta(hours=1)
TUESDAY = "/staff/agenda?tag=2031-01-07"


@pytest.fixture
def advisor(world):
    service = world.service(name="Wohngeld: Erstberatung", channels=["video", "phone", "in_person"])
    return world.advisor([service], email="anna@example.org"), service


def _book(container, service, start=NINE, **fields):
    request = BookingRequest(
        service_id=service.id,
        start=start,
        channel=fields.pop("channel", "video"),
        name=fields.pop("name", "Olena Kovalenko"),
        email=fields.pop("email", "olena@example.org"),
        **fields,
    )
    placed = container.scheduler.book(request)
    assert placed.booking is not None
    return placed.booking


def _german(text: str) -> str:
    return Catalogues().gettext("de", text)


def test_the_agenda_shows_the_booking_with_needs_and_a_join_link(app, container, advisor):
    _, service = advisor
    booking = _book(
        container,
        service,
        phone="0391 1234",
        notes="Bescheid vom Mai",
        language="en",
        interpreter_language="Ukrainisch",
    )
    _book(container, service, TEN, channel="in_person", name="Jonas", wheelchair_access=True)
    page = staff_client(app, "anna@example.org").get(TUESDAY)
    assert page.status_code == 200
    html = page.text
    assert "Dienstag, 7. Januar 2031" in html
    assert "09:00–09:30" in html
    assert "Wohngeld: Erstberatung" in html
    assert "Olena Kovalenko" in html
    # The needs, in the words of the German catalogue (whichever page's file defines them).
    assert _german("Interpreter: %(language)s") % {"language": "Ukrainisch"} in html
    assert _german("Wheelchair access") in html
    assert "Bescheid vom Mai" in html
    assert "Englisch" in html
    assert f'href="/staff/termine/{booking.reference}/raum"' in html
    # Not begun yet: no outcome buttons.
    assert "ergebnis" not in html


def test_an_advisor_sees_only_their_own_appointments(app, container, world, advisor):
    _, service = advisor
    world.advisor([service], email="bernd@example.org")
    _book(container, service, name="Für Anna")
    _book(container, service, name="Für Bernd")
    anna = staff_client(app, "anna@example.org").get(TUESDAY).text
    bernd = staff_client(app, "bernd@example.org").get(TUESDAY).text
    assert ("Für Anna" in anna) != ("Für Anna" in bernd)
    assert ("Für Bernd" in anna) != ("Für Bernd" in bernd)


def test_the_agenda_moves_by_day_and_says_when_a_day_is_empty(app, advisor):
    client = staff_client(app, "anna@example.org")
    page = client.get("/staff/agenda?tag=2031-01-08").text
    assert "Mittwoch, 8. Januar 2031" in page
    assert "An diesem Tag gibt es keine Termine." in page
    assert 'href="/staff/agenda?tag=2031-01-07"' in page
    assert 'href="/staff/agenda?tag=2031-01-09"' in page


def test_held_and_no_show_can_be_recorded_once_the_appointment_has_begun(
    app, container, clock, world, advisor
):
    _, service = advisor
    booking = _book(container, service)
    client = staff_client(app, "anna@example.org")
    early = post(client, f"/staff/termine/{booking.reference}/ergebnis", {"outcome": "completed"})
    assert early.status_code == 409
    clock.advance(days=1, hours=1, minutes=5)
    client = staff_client(app, "anna@example.org")  # the first session has expired by now
    page = client.get(TUESDAY).text
    assert f'action="/staff/termine/{booking.reference}/ergebnis"' in page
    held = post(client, f"/staff/termine/{booking.reference}/ergebnis", {"outcome": "completed"})
    assert held.status_code == 303
    assert held.headers["location"] == (
        f"/staff/agenda?tag=2031-01-07&gespeichert={booking.reference}"
    )
    after = client.get(held.headers["location"]).text
    assert f"Das Ergebnis des Termins {booking.reference} wurde gespeichert." in after
    assert "Stattgefunden" in after
    missed = post(client, f"/staff/termine/{booking.reference}/ergebnis", {"outcome": "no_show"})
    assert missed.status_code == 303
    assert container.desk.booking(world.admin, booking.reference).status == BookingStatus.NO_SHOW


@pytest.mark.parametrize("outcome", ["cancelled", "confirmed", "", "held"])
def test_only_held_or_no_show_are_outcomes(app, container, clock, advisor, outcome):
    _, service = advisor
    booking = _book(container, service)
    clock.advance(days=1, hours=2)
    client = staff_client(app, "anna@example.org")
    response = post(client, f"/staff/termine/{booking.reference}/ergebnis", {"outcome": outcome})
    assert response.status_code == 422


def test_another_advisors_booking_is_unknown_to_an_advisor(app, container, world, advisor):
    _, service = advisor
    world.advisor([service], email="bernd@example.org")
    first, second = _book(container, service), _book(container, service)
    anna = staff_client(app, "anna@example.org")
    codes = {anna.get(f"/staff/buchungen/{b.reference}").status_code for b in (first, second)}
    assert codes == {200, 404}


def test_the_week_lists_each_day_with_its_appointments(app, container, advisor):
    _, service = advisor
    booking = _book(container, service, name="Maria Schmidt")
    page = staff_client(app, "anna@example.org").get("/staff/woche?ab=2031-01-08").text
    assert "Montag, 6. Januar 2031 – Sonntag, 12. Januar 2031" in page
    assert page.count('class="staff-day"') == 7
    assert f'href="/staff/buchungen/{booking.reference}"' in page
    assert "Maria Schmidt" in page
    assert 'href="/staff/woche?ab=2031-01-13"' in page


def test_booking_details_show_reference_and_needs(app, container, advisor):
    _, service = advisor
    booking = _book(container, service, sign_language=True, channel="phone", phone="0391 99")
    page = staff_client(app, "anna@example.org").get(f"/staff/buchungen/{booking.reference}")
    assert page.status_code == 200
    assert booking.reference in page.text
    assert _german("Sign language interpreter") in page.text
    assert 'href="tel:039199"' in page.text
    assert "/raum" not in page.text  # a callback has no video room


def test_hotline_and_admin_see_everyone_and_may_filter_by_advisor(app, container, world, advisor):
    staff, service = advisor
    other = world.advisor([service], email="bernd@example.org")
    _book(container, service, name="Erste Person")
    _book(container, service, name="Zweite Person")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    hotline = staff_client(app, "hotline@example.org")
    everyone = hotline.get(TUESDAY).text
    assert "Erste Person" in everyone
    assert "Zweite Person" in everyone
    assert '<option value="' + str(other.id) + '"' in everyone
    one = hotline.get(f"{TUESDAY}&berater={staff.id}").text
    assert ("Erste Person" in one) != ("Zweite Person" in one)


@pytest.mark.parametrize(
    "path",
    [
        "/staff/agenda?tag=morgen",
        "/staff/agenda?tag=2031-02-30",
        "/staff/agenda?berater=abc",
        "/staff/agenda?berater=99999999999",
        "/staff/woche?ab=x",
        "/staff/agenda?tag=9999-12-31",
    ],
)
def test_bad_query_values_give_a_4xx_page(app, advisor, path):
    response = staff_client(app, "admin@example.org").get(path)
    assert 400 <= response.status_code < 500
    assert "<h1>" in response.text


def test_empty_filter_fields_mean_today_and_all_advisors(app, container, advisor):
    _, service = advisor
    _book(container, service, name="Maria Schmidt")
    client = staff_client(app, "admin@example.org")
    page = client.get("/staff/agenda?tag=&berater=")
    assert page.status_code == 200
    assert "Montag, 6. Januar 2031" in page.text
    week = client.get("/staff/woche?ab=&berater=")
    assert week.status_code == 200
    assert "Maria Schmidt" in week.text


def test_unknown_or_overlong_references_give_404_pages(app, advisor):
    client = staff_client(app, "admin@example.org")
    assert client.get("/staff/buchungen/ZZZZ-ZZZZ").status_code == 404
    assert client.get("/staff/buchungen/" + "A" * 40).status_code in (404, 422)
    forged = post(client, "/staff/termine/ZZZZ-ZZZZ/ergebnis", {"outcome": "completed"})
    assert forged.status_code == 404


def test_the_agenda_in_english(app, container, advisor):
    _, service = advisor
    _book(container, service)
    _book(container, service, TEN, channel="in_person", name="Jonas", wheelchair_access=True)
    page = staff_client(app, "anna@example.org").get(f"{TUESDAY}&lang=en").text
    assert '<html lang="en"' in page
    assert "Tuesday, 7 January 2031" in page
    assert "Wheelchair access" in page
    assert ">Join<" in page


def test_a_booking_whose_data_were_erased_says_so_in_the_agenda(app, container, advisor, clock):
    _, service = advisor
    booking = _book(container, service)
    clock.now = booking.end + timedelta(days=container.settings.retention_days, seconds=1)
    assert container.retention.purge()["bookings_anonymised"] == 1

    html = staff_client(app, "anna@example.org").get(TUESDAY).text
    assert "Olena Kovalenko" not in html
    assert _german("Personal data erased after the retention period") in html
