"""The staff import, appointment export and audit viewer pages (web/pages/staff_import.py,
staff_exports.py, staff_audit.py): who may open what, in one table, then the flows and the
bad input a browser or a script may send. The clock is the suite's frozen Monday, 2031-01-06."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from scheduler.db import read_session
from scheduler.models import Role, Staff, WeeklyHours, staff_services
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import csrf_token, post, staff_client

ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "anna@example.org", "hotline": "hotline@example.org"}
HEADER = "email;name;role;services;monday;tuesday;wednesday;thursday;friday;saturday;sunday"
GOOD = "carla@example.org;Carla Neu;advisor;Wohngeld;08:00-12:00;;;;;;"
BAD = "dora@example.org;Dora Neu;advisor;Wohngeld;08:00-12:00 11:00-13:00;;;;;;"

# (what, path, expected: anonymous, advisor, hotline, admin); pages send whoever is not
# logged in to the login (303).
PAGES = [
    ("import form", "/staff/admin/import", (303, 403, 403, 200)),
    ("export form", "/staff/export", (303, 200, 200, 200)),
    ("a day's export", "/staff/export/tag.csv?tag=2031-01-07", (303, 200, 200, 200)),
    (
        "a team's export",
        "/staff/export/team.csv?team={team}&von=2031-01-07&bis=2031-01-08",
        (303, 403, 200, 200),
    ),
    ("audit viewer", "/staff/protokoll", (303, 403, 403, 200)),
    ("audit export", "/staff/protokoll.csv", (303, 403, 403, 200)),
]
POSTS = [
    ("dry run", "/staff/admin/import", (303, 403, 403, 422)),
    ("import", "/staff/admin/import/ausfuehren", (303, 403, 403, 409)),
]


@pytest.fixture
def place(container, world):
    team = container.catalogue.create_team(world.admin, "Wohnen", None)
    service = world.service(name="Wohngeld", team_id=team.id)
    anna = world.advisor([service], email="anna@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=datetime(2031, 1, 7, 8, 0, tzinfo=UTC),
            channel="phone",
            name="Erika Mustermann",
            email="erika@example.org",
            phone="0391 123456",
            advisor_id=anna.id,
        )
    )
    assert placed.booking is not None
    return {"team": team.id, "ref": placed.booking.reference}


@pytest.fixture
def admin(app, place):
    return staff_client(app, "admin@example.org")


def _client(app, client, role):
    return (
        client if role == "anonymous" else staff_client(app, EMAILS.get(role, "admin@example.org"))
    )


def _upload(client, data: bytes, name: str = "staff.csv"):
    return client.post(
        "/staff/admin/import",
        data={"csrf_token": csrf_token(client)},
        files={"file": (name, data, "text/csv")},
        follow_redirects=False,
    )


def _file(*lines: str) -> bytes:
    return ("\r\n".join((HEADER, *lines)) + "\r\n").encode("utf-8")


def _counts(container):
    with read_session(container.sessions) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (Staff, WeeklyHours, staff_services)
        )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "path", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_who_may_open_each_page(app, client, place, role, what, path, expected):
    answer = _client(app, client, role).get(path.format(**place), follow_redirects=False)
    assert answer.status_code == expected[ROLES.index(role)], what
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/staff/login")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "path", "expected"), POSTS, ids=[p[0] for p in POSTS])
def test_who_may_send_each_form(app, client, container, place, role, what, path, expected):
    before = _counts(container)
    answer = post(_client(app, client, role), path, {"csv": (HEADER + "\r\n" + GOOD)[:-1]})
    assert answer.status_code == expected[ROLES.index(role)], what
    assert _counts(container) == before


def test_a_dry_run_shows_the_bad_line_and_a_fixed_file_is_imported(admin, container, world):
    before = _counts(container)
    checked = _upload(admin, _file(GOOD, BAD))
    assert checked.status_code == 422
    assert "Diese Zeiten überschneiden sich." in checked.text
    assert '<tr class="import-problem"><td>3</td><td>monday</td>' in checked.text
    assert 'name="csv"' not in checked.text  # no import offered
    assert _counts(container) == before

    fixed = _upload(admin, _file(GOOD, BAD.replace(" 11:00-13:00", " 12:30-13:00")))
    assert fixed.status_code == 200
    assert "Die Datei ist fehlerfrei" in fixed.text
    text = HEADER + "\r\n" + GOOD + "\r\n" + BAD.replace(" 11:00-13:00", " 12:30-13:00") + "\r\n"
    done = post(admin, "/staff/admin/import/ausfuehren", {"csv": text})
    assert done.status_code == 303
    assert done.headers["location"] == "/staff/admin/import?importiert=2"
    assert "2 Mitarbeitende wurden importiert." in admin.get(done.headers["location"]).text
    emails = {s.email for s, _ in container.catalogue.advisors(world.admin)}
    assert {"carla@example.org", "dora@example.org"} <= emails


def test_importing_a_file_with_a_bad_line_changes_nothing(admin, container):
    before = _counts(container)
    answer = post(
        admin, "/staff/admin/import/ausfuehren", {"csv": HEADER + "\r\n" + GOOD + "\r\n" + BAD}
    )
    assert answer.status_code == 409
    assert "Die Datei hat Fehler: Nichts wurde importiert." in answer.text
    assert _counts(container) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "Die Datei ist nicht in UTF-8."),
        (
            _file(GOOD.replace("Carla", "Jürgen")).decode().encode("cp1252"),
            "Die Datei ist nicht in UTF-8.",
        ),
        (b"\x00" * 100, "Die Kopfzeile hat nicht die erwarteten Spalten."),
        (b"name,vorname\nA,B\n", "Die Kopfzeile hat nicht die erwarteten Spalten."),
        (_file("\x00;\u202e;\ud7ff;;;;;;;;"), "Das ist keine gültige E-Mail-Adresse."),
    ],
)
def test_files_that_are_no_staff_list_are_reported(admin, container, data, message):
    before = _counts(container)
    answer = _upload(admin, data)
    assert answer.status_code == 422
    assert message in answer.text
    assert _counts(container) == before


def test_no_file_chosen_is_shown_at_the_field(admin):
    answer = post(admin, "/staff/admin/import", {"file": "not a file"})
    assert answer.status_code == 422
    assert "Bitte wählen Sie eine CSV-Datei." in answer.text


def test_a_file_over_the_limit_is_refused(admin, container):
    before = _counts(container)
    assert _upload(admin, _file(GOOD) + b" " * (1024 * 1024)).status_code == 413
    assert _upload(admin, b"x" * (3 * 1024 * 1024)).status_code == 413
    assert _counts(container) == before


def test_the_export_downloads_a_csv_and_garbage_is_refused(admin, place):
    answer = admin.get("/staff/export/tag.csv?tag=2031-01-07&namen=ja")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    assert place["ref"] in answer.text
    assert "Erika Mustermann" in answer.text
    assert "Erika" not in admin.get("/staff/export/tag.csv?tag=2031-01-07").text
    for path in (
        "/staff/export/tag.csv?tag=morgen",
        "/staff/export/tag.csv?tag=2031-01-07&namen=vielleicht",
        "/staff/export/team.csv?team=abc&von=2031-01-07&bis=2031-01-07",
        "/staff/export/team.csv?team=99999999999&von=2031-01-07&bis=2031-01-07",
    ):
        assert admin.get(path).status_code == 422, path
    assert (
        admin.get("/staff/export/team.csv?team=4242&von=2031-01-07&bis=2031-01-07").status_code
        == 404
    )
    too_long = admin.get(
        f"/staff/export/team.csv?team={place['team']}&von=2031-01-07&bis=2031-12-07"
    )
    assert too_long.status_code == 422
    assert "höchstens 93 Tage" in too_long.text


def test_the_audit_viewer_filters_pages_and_exports(admin, place):
    admin.get(f"/staff/buchungen/{place['ref']}")  # read, so audited
    page = admin.get("/staff/protokoll", params={"email": "erika@example.org"})
    assert page.status_code == 200
    assert place["ref"] in page.text
    assert '<input type="hidden" name="email" value="erika@example.org">' in page.text
    exported = admin.get("/staff/protokoll.csv", params={"buchung": place["ref"]})
    assert exported.status_code == 200
    assert exported.text.splitlines()[0] == "\ufefftime;staff_member;action;booking;detail"
    assert place["ref"] in exported.text


@pytest.mark.parametrize(
    "params",
    [
        {"von": "gestern"},
        {"mitarbeiter": "x"},
        {"mitarbeiter": "99999999999"},
        {"seite": "0"},
        {"buchung": "A" * 40},
        {"email": "a" * 400},
    ],
)
def test_garbage_filters_are_refused(admin, params):
    assert admin.get("/staff/protokoll", params=params).status_code == 422


def test_a_phone_number_too_short_to_name_a_person_is_shown_at_the_form(admin):
    answer = admin.get("/staff/protokoll", params={"telefon": "12"})
    assert answer.status_code == 422
    assert '<a href="#email">' in answer.text
