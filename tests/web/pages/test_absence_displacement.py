"""The absence and closure-day pages over booked appointments: a preview step that lists them
(moved to whom, or cancelled), then saving, without JavaScript, in German and English; the
API reports the same. "Now" is the suite's frozen Monday, 2031-01-06; Tuesday is 2031-01-07."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import Booking, BookingStatus, Role
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import post, staff_client

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
SICK_TUESDAY = {"start_date": "2031-01-07", "reason": "krank"}


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(TUESDAY, time(hour, minute), BERLIN)


@pytest.fixture
def office(container, world):
    """Anna (9:00 and 13:00 booked on Tuesday) and Ben, absent in the afternoon."""
    service = world.service(name="Wohngeld")
    anna = world.advisor([service], email="anna@example.org")
    ben = world.advisor([service], email="ben@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    container.catalogue.add_absence(world.admin, ben.id, at(12), at(23), "")
    bookings = []
    for n, hour in enumerate((9, 13)):
        placed = container.scheduler.book(
            BookingRequest(
                service_id=service.id,
                start=at(hour),
                channel="video",
                name=f"Bürgerin {n}",
                email=f"b{n}@example.org",
                advisor_id=anna.id,
            )
        )
        assert placed.booking is not None
        bookings.append(placed.booking)
    return service, anna, ben, bookings


def statuses(container, bookings) -> list[tuple[str, int]]:
    with read_session(container.sessions) as session:
        rows = session.scalars(
            select(Booking).where(Booking.id.in_([b.id for b in bookings])).order_by(Booking.id)
        )
        return [(b.status, b.advisor_id) for b in rows]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert match, name
    return match[1]


def confirm(client, page: str, path: str = "/staff/abwesenheiten"):
    fields = re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page)
    return post(client, path, {k: v for k, v in fields if k != "csrf_token"})


def test_the_page_lists_the_appointments_before_saving(app, container, world, office):
    _service, anna, ben, bookings = office
    client = staff_client(app, "anna@example.org")

    preview = post(client, "/staff/abwesenheiten", SICK_TUESDAY)

    assert preview.status_code == 200
    page = preview.text
    assert "Termine in dieser Abwesenheit prüfen" in page
    assert "In dieser Abwesenheit sind 2 Termine gebucht." in page
    assert "übergeben: 1. Mit Entschuldigung abgesagt: 1." in page
    assert f"Geht an {ben.name}" in page
    assert "Wird abgesagt" in page
    for booking in bookings:
        assert booking.reference in page
    assert hidden(page, "betroffen") == ",".join(str(b.id) for b in bookings)
    # Nothing is saved yet.
    assert container.catalogue.absences(world.admin, anna.id) == []
    assert statuses(container, bookings) == [(BookingStatus.CONFIRMED, anna.id)] * 2


def test_confirming_moves_and_cancels_and_says_so(app, container, world, office):
    _service, anna, ben, bookings = office
    client = staff_client(app, "anna@example.org")
    preview = post(client, "/staff/abwesenheiten", SICK_TUESDAY)

    saved = confirm(client, preview.text)

    assert saved.status_code == 303
    assert "verschoben=1" in saved.headers["location"]
    assert "abgesagt=1" in saved.headers["location"]
    assert statuses(container, bookings) == [
        (BookingStatus.CONFIRMED, ben.id),
        (BookingStatus.CANCELLED, anna.id),
    ]
    assert len(container.catalogue.absences(world.admin, anna.id)) == 1
    page = client.get(saved.headers["location"]).text
    assert "An Kolleg*innen übergeben: 1 Termine. Abgesagt: 1 Termine." in page


def test_a_new_booking_since_the_preview_shows_the_preview_again(app, container, world, office):
    service, anna, _ben, _bookings = office
    client = staff_client(app, "anna@example.org")
    preview = post(client, "/staff/abwesenheiten", SICK_TUESDAY)
    container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=at(14),
            channel="video",
            name="Spät",
            email="late@example.org",
            advisor_id=anna.id,
        )
    )

    again = confirm(client, preview.text)

    assert again.status_code == 409
    assert "haben sich geändert" in again.text
    assert "In dieser Abwesenheit sind 3 Termine gebucht." in again.text
    assert container.catalogue.absences(world.admin, anna.id) == []


def test_an_absence_without_appointments_is_saved_at_once(app, container, world, office):
    _service, _anna, _ben, _bookings = office
    client = staff_client(app, "anna@example.org")

    saved = post(client, "/staff/abwesenheiten", {"start_date": "2031-01-08"})

    assert saved.status_code == 303
    assert saved.headers["location"] == "/staff/abwesenheiten?gespeichert=added"


def test_the_preview_in_english(app, container, world, office):
    _service, _anna, ben, _bookings = office
    client = staff_client(app, "anna@example.org")
    client.get("/staff/abwesenheiten?lang=en")

    page = post(client, "/staff/abwesenheiten?lang=en", SICK_TUESDAY)

    assert "Check the appointments in this absence" in page.text
    assert "2 appointments are booked in this absence." in page.text
    assert f"Moves to {ben.name}" in page.text
    assert "Will be cancelled" in page.text


def test_an_admin_previews_and_saves_for_an_advisor(app, container, world, office):
    _service, anna, _ben, bookings = office
    client = staff_client(app, "admin@example.org")
    preview = post(client, "/staff/abwesenheiten", {**SICK_TUESDAY, "berater": str(anna.id)})
    assert preview.status_code == 200
    assert hidden(preview.text, "berater") == str(anna.id)

    saved = confirm(client, preview.text)

    assert saved.status_code == 303
    assert f"berater={anna.id}" in saved.headers["location"]
    assert statuses(container, bookings)[1] == (BookingStatus.CANCELLED, anna.id)


def test_an_advisor_cannot_preview_another_advisors_appointments(app, container, world, office):
    _service, anna, _ben, _bookings = office
    client = staff_client(app, "ben@example.org")

    response = post(client, "/staff/abwesenheiten", {**SICK_TUESDAY, "berater": str(anna.id)})

    assert response.status_code == 403
    assert "Bürgerin" not in response.text


@pytest.mark.parametrize(
    ("email", "status"),
    [("admin@example.org", 200), ("anna@example.org", 403), ("hotline@example.org", 403)],
)
def test_only_admins_see_the_closure_days(app, office, email, status):
    client = staff_client(app, email)
    assert client.get("/staff/abwesenheiten/schliesstage").status_code == status
    answer = post(client, "/staff/abwesenheiten/schliesstage", {"day": "2031-01-07"})
    assert answer.status_code == (200 if status == 200 else 403)


def test_a_closure_day_lists_then_cancels_the_days_appointments(app, container, world, office):
    _service, anna, _ben, bookings = office
    client = staff_client(app, "admin@example.org")

    preview = post(
        client, "/staff/abwesenheiten/schliesstage", {"day": "2031-01-07", "name": "Ausflug"}
    )

    assert preview.status_code == 200
    assert "An diesem Tag sind 2 Termine gebucht." in preview.text
    saved = confirm(client, preview.text, "/staff/abwesenheiten/schliesstage")
    assert saved.status_code == 303
    assert "abgesagt=2" in saved.headers["location"]
    assert statuses(container, bookings) == [(BookingStatus.CANCELLED, anna.id)] * 2
    page = client.get(saved.headers["location"]).text
    assert "2 Termine an diesem Tag wurden abgesagt." in page
    assert "Ausflug" in page


@pytest.mark.parametrize("day", ["", "07.01.2031", "1999-01-01"])
def test_a_bad_closure_day_is_a_form_error(app, office, day):
    client = staff_client(app, "admin@example.org")
    assert post(client, "/staff/abwesenheiten/schliesstage", {"day": day}).status_code == 422


def test_the_api_reports_what_an_absence_moved_and_cancelled(client, container, world, office):
    _service, anna, ben, bookings = office
    response = client.post(
        f"/api/v1/advisors/{anna.id}/absences",
        json={"start": "2031-01-07T00:00:00+01:00", "end": "2031-01-08T00:00:00+01:00"},
        headers=world.login(client, "anna@example.org"),
    )

    assert response.status_code == 201, response.text
    assert response.json()["displaced"] == [
        {
            "reference": bookings[0].reference,
            "start": "2031-01-07T09:00:00+01:00",
            "outcome": "moved",
            "advisor_id": ben.id,
        },
        {
            "reference": bookings[1].reference,
            "start": "2031-01-07T13:00:00+01:00",
            "outcome": "cancelled",
            "advisor_id": None,
        },
    ]


def test_the_api_reports_what_a_closure_day_cancelled(client, container, world, office):
    _service, anna, _ben, bookings = office
    response = client.post(
        "/api/v1/closures", json={"day": "2031-01-07"}, headers=world.login(client)
    )

    assert response.status_code == 201, response.text
    assert [d["outcome"] for d in response.json()["displaced"]] == ["cancelled", "cancelled"]
    assert statuses(container, bookings) == [(BookingStatus.CANCELLED, anna.id)] * 2
