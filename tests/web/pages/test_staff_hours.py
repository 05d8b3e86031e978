"""The weekly hours editor and the absences, for advisors themselves and for administrators."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from scheduler.catalogue import HoursSpec
from scheduler.models import Role
from tests.web.pages.test_staff_login import field_error, post, staff_client
from web.i18n import Catalogues


@pytest.fixture
def anna(world):
    service = world.service()
    return world.advisor([service], email="anna@example.org", hours=[])


def _hours(container, world, staff_id):
    return [
        (h.weekday, h.start, h.end) for h in container.catalogue.weekly_hours(world.admin, staff_id)
    ]


def test_the_editor_shows_the_current_hours_in_rows_per_weekday(app, container, world, anna):
    container.catalogue.set_weekly_hours(
        world.admin, anna.id, [HoursSpec(1, time(8), time(12)), HoursSpec(1, time(13), time(15))]
    )
    page = staff_client(app, "anna@example.org").get("/staff/zeiten").text
    assert "<legend>Dienstag</legend>" in page
    assert 'id="h-1-0-start" name="h-1-0-start" value="08:00"' in page
    assert 'id="h-1-1-end" name="h-1-1-end" value="15:00"' in page
    assert 'id="h-1-2-start" name="h-1-2-start" value=""' in page  # room for one more
    assert 'id="h-6-2-end"' in page  # three rows for every day


def test_saving_replaces_the_week_and_says_so(app, container, world, anna):
    client = staff_client(app, "anna@example.org")
    response = post(
        client,
        "/staff/zeiten",
        {
            "h-0-0-start": "08:00",
            "h-0-0-end": "12:00",
            "h-0-2-start": "13:00",  # a gap in the rows is fine
            "h-0-2-end": "16:30",
            "h-4-0-start": "09:00",
            "h-4-0-end": "11:00",
            "h-3-1-start": "",
            "h-3-1-end": "",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/zeiten?gespeichert=true"
    assert _hours(container, world, anna.id) == [
        (0, "08:00", "12:00"),
        (0, "13:00", "16:30"),
        (4, "09:00", "11:00"),
    ]
    assert "Die Sprechzeiten wurden gespeichert." in client.get(response.headers["location"]).text


def test_overlapping_and_reversed_periods_are_shown_at_their_fields(app, container, world, anna):
    client = staff_client(app, "anna@example.org")
    response = post(
        client,
        "/staff/zeiten",
        {
            "h-0-0-start": "08:00",
            "h-0-0-end": "12:00",
            "h-0-1-start": "11:00",
            "h-0-1-end": "14:00",
            "h-2-0-start": "15:00",
            "h-2-0-end": "09:00",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert 'class="error-summary"' in html
    assert '<a href="#h-0-1-start">' in html
    assert '<a href="#h-2-0-end">' in html
    assert "überschneidet" in field_error(html, "h-0-1-start")
    assert field_error(html, "h-2-0-end") == "Das Ende muss nach dem Beginn liegen."
    assert 'id="h-0-1-start" name="h-0-1-start" value="11:00" aria-invalid="true"' in html
    assert _hours(container, world, anna.id) == []  # nothing saved


@pytest.mark.parametrize(
    ("fields", "field_id"),
    [
        ({"h-0-0-start": "08:00"}, "h-0-0-end"),
        ({"h-0-0-start": "8 Uhr", "h-0-0-end": "12:00"}, "h-0-0-start"),
        ({"h-0-0-start": "08:00", "h-0-0-end": "24:00"}, "h-0-0-end"),
    ],
)
def test_incomplete_or_malformed_times_are_form_errors(app, anna, fields, field_id):
    response = post(staff_client(app, "anna@example.org"), "/staff/zeiten", fields)
    assert response.status_code == 422
    assert f'<a href="#{field_id}">' in response.text


def test_unknown_fields_are_ignored(app, container, world, anna):
    client = staff_client(app, "anna@example.org")
    response = post(client, "/staff/zeiten", {"h-9-0-start": "08:00", "x": "y"})
    assert response.status_code == 303
    assert _hours(container, world, anna.id) == []


def test_an_advisor_cannot_see_or_change_another_advisors_hours(app, container, world, anna):
    other = world.advisor([], email="bernd@example.org")
    client = staff_client(app, "anna@example.org")
    assert client.get(f"/staff/zeiten?berater={other.id}").status_code == 403
    response = post(
        client,
        "/staff/zeiten",
        {"berater": str(other.id), "h-0-0-start": "08:00", "h-0-0-end": "09:00"},
    )
    assert response.status_code == 403
    assert Catalogues().gettext("de", "You are not allowed to do this.") in response.text
    assert _hours(container, world, other.id) != [(0, "08:00", "09:00")]


def test_an_admin_edits_any_advisors_hours(app, container, world, anna):
    client = staff_client(app, "admin@example.org")
    page = client.get(f"/staff/zeiten?berater={anna.id}").text
    assert f'<option value="{anna.id}" selected>' in page
    assert f'name="berater" value="{anna.id}"' in page
    response = post(
        client,
        "/staff/zeiten",
        {"berater": str(anna.id), "h-2-0-start": "10:00", "h-2-0-end": "11:00"},
    )
    assert response.headers["location"] == f"/staff/zeiten?berater={anna.id}&gespeichert=true"
    assert _hours(container, world, anna.id) == [(2, "10:00", "11:00")]


def test_hotline_staff_have_no_hours_page(app, world):
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    client = staff_client(app, "hotline@example.org")
    assert client.get("/staff/zeiten").status_code == 403
    assert client.get("/staff/abwesenheiten").status_code == 403


@pytest.mark.parametrize("value", ["abc", "0", "99999999999"])
def test_a_bad_advisor_choice_is_a_4xx(app, anna, value):
    client = staff_client(app, "admin@example.org")
    assert 400 <= client.get(f"/staff/zeiten?berater={value}").status_code < 500
    response = post(client, "/staff/zeiten", {"berater": value})
    assert 400 <= response.status_code < 500


def test_an_unknown_advisor_is_404(app, anna):
    client = staff_client(app, "admin@example.org")
    assert client.get("/staff/zeiten?berater=4242").status_code == 404
    assert client.get("/staff/abwesenheiten?berater=4242").status_code == 404


# -- absences --------------------------------------------------------------------------------


def _absences(container, world, staff_id):
    return [
        (a.start_at, a.end_at, a.reason)
        for a in container.catalogue.absences(world.admin, staff_id)
    ]


def test_whole_days_of_absence_run_from_midnight_to_midnight(app, container, world, anna):
    client = staff_client(app, "anna@example.org")
    response = post(
        client,
        "/staff/abwesenheiten",
        {"start_date": "2031-03-30", "end_date": "2031-03-31", "reason": "Urlaub"},
    )
    assert response.status_code == 303
    # The clocks go forward on 30 March 2031: midnight is still 23:00 UTC before, 22:00 after.
    assert _absences(container, world, anna.id) == [
        (
            datetime(2031, 3, 29, 23, 0, tzinfo=UTC),
            datetime(2031, 3, 31, 22, 0, tzinfo=UTC),
            "Urlaub",
        )
    ]
    page = client.get(response.headers["location"]).text
    assert "Die Abwesenheit wurde eingetragen." in page
    assert "Urlaub" in page


def test_an_absence_with_times_on_one_day(app, container, world, anna):
    client = staff_client(app, "anna@example.org")
    response = post(
        client,
        "/staff/abwesenheiten",
        {"start_date": "2031-01-08", "start_time": "13:00", "end_time": "15:30"},
    )
    assert response.status_code == 303
    assert _absences(container, world, anna.id) == [
        (datetime(2031, 1, 8, 12, 0, tzinfo=UTC), datetime(2031, 1, 8, 14, 30, tzinfo=UTC), "")
    ]


@pytest.mark.parametrize(
    ("fields", "field_id"),
    [
        ({}, "start_date"),
        ({"start_date": "8.1.2031"}, "start_date"),
        ({"start_date": "2031-01-08", "end_date": "2031-01-07"}, "end_date"),
        ({"start_date": "2031-01-08", "start_time": "15:00", "end_time": "14:00"}, "end_date"),
        ({"start_date": "2031-01-08", "start_time": "25:00"}, "start_time"),
        ({"start_date": "2031-01-08", "reason": "x" * 201}, "reason"),
    ],
)
def test_bad_absences_are_form_errors(app, container, world, anna, fields, field_id):
    response = post(staff_client(app, "anna@example.org"), "/staff/abwesenheiten", fields)
    assert response.status_code == 422
    assert f'<a href="#{field_id}">' in response.text
    assert _absences(container, world, anna.id) == []


def test_an_absence_is_removed(app, container, world, anna):
    absence = container.catalogue.add_absence(
        world.admin,
        anna.id,
        datetime(2031, 2, 3, 8, tzinfo=UTC),
        datetime(2031, 2, 4, 8, tzinfo=UTC),
    )
    client = staff_client(app, "anna@example.org")
    assert (
        f'action="/staff/abwesenheiten/{absence.id}/entfernen"'
        in client.get("/staff/abwesenheiten").text
    )
    response = post(client, f"/staff/abwesenheiten/{absence.id}/entfernen")
    assert response.status_code == 303
    assert _absences(container, world, anna.id) == []
    assert "Die Abwesenheit wurde gelöscht." in client.get(response.headers["location"]).text
    again = post(client, f"/staff/abwesenheiten/{absence.id}/entfernen")
    assert again.status_code == 404


def test_an_advisor_cannot_remove_another_advisors_absence(app, container, world, anna):
    other = world.advisor([], email="bernd@example.org")
    absence = container.catalogue.add_absence(
        world.admin, other.id, datetime(2031, 2, 3, 8, tzinfo=UTC), datetime(2031, 2, 4, tzinfo=UTC)
    )
    client = staff_client(app, "anna@example.org")
    assert post(client, f"/staff/abwesenheiten/{absence.id}/entfernen").status_code == 404
    forged = post(
        client, f"/staff/abwesenheiten/{absence.id}/entfernen", {"berater": str(other.id)}
    )
    assert forged.status_code == 403
    assert len(_absences(container, world, other.id)) == 1


def test_an_admin_adds_an_absence_for_an_advisor(app, container, world, anna):
    client = staff_client(app, "admin@example.org")
    page = client.get(f"/staff/abwesenheiten?berater={anna.id}&lang=en").text
    assert "Add an absence" in page
    response = post(
        client, "/staff/abwesenheiten", {"berater": str(anna.id), "start_date": "2031-02-10"}
    )
    assert (
        response.headers["location"] == f"/staff/abwesenheiten?berater={anna.id}&gespeichert=added"
    )
    assert len(_absences(container, world, anna.id)) == 1


def test_the_hours_editor_in_english(app, anna):
    page = staff_client(app, "anna@example.org").get("/staff/zeiten?lang=en").text
    assert "<legend>Monday</legend>" in page
    assert "Save weekly hours" in page
