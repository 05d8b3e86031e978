"""A person's records to read and print (web/pages/staff_people_view.py): administrators
only; every value of the JSON export is on the page; the reading is audited like the export;
a person with no records gets a page that says so. Erika's records are those of
tests/scheduler/test_people.py (found by address and number: both her bookings), with a note
of the staff and a second place on a waiting list added; the clock is the suite's frozen
Monday, 2031-01-06."""

from __future__ import annotations

import html
import re
from datetime import datetime

import pytest
from babel.dates import format_date, format_time
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import AuditEntry, Role
from tests.scheduler.test_people import ERIKA, PHONE, admin, erika, row, service
from tests.web.pages.test_staff_login import staff_client

__all__ = ["admin", "erika", "service"]  # fixtures of the domain's tests, used here

ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "advisor@example.org", "hotline": "hotline@example.org"}
QUERY = f"email={ERIKA}&phone={PHONE}"
VIEW = f"/staff/personen/auskunft?{QUERY}"
NOTE = "Rief wegen des Bescheids an"

# How the German page words the values that are codes, by the record they are in and their
# field; everything else must be on the page as exported (times in the office's zone).
WORDS = {
    ("booking", "status"): {"confirmed": "Gebucht"},
    ("callbacks", "status"): {"open": "Wartet in der Warteschlange"},
    ("waitlist", "status"): {"waiting": "Wartet auf ein Angebot"},
    ("documents", "status"): {"pending": "Wird auf Viren geprüft"},
    ("emails", "status"): {"pending": "Wartet auf den Versand"},
    ("*", "channel"): {"video": "Videoberatung", "phone": "Rückruf"},
    ("*", "language"): {"de": "Deutsch"},
    ("*", "role"): {"admin": "Administrator*in"},
    ("*", "weekdays"): {1: "Dienstag", 3: "Donnerstag"},
    ("*", "day_parts"): {"morning": "Vormittags (vor 12 Uhr)"},
}
PLAIN = {None: "–", "": "–", True: "Ja", False: "Nein"}


@pytest.fixture
def staff(world):
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)


@pytest.fixture
def more(client, container, world, admin, erika):
    """Erika's records as the fixture of the domain's tests makes them, and a note of the
    staff on her first booking and a second place, with wishes, on another list."""
    container.desk.add_note(admin, erika["first"]["reference"], NOTE)
    other = world.service(name="Pflege")
    joined = client.post(
        "/api/v1/waitlist",
        json={
            "service_id": other.id,
            "name": "Erika Mustermann",
            "email": ERIKA,
            "channel": "phone",
            "phone": PHONE,
            "weekdays": [1, 3],
            "day_parts": ["morning"],
        },
    )
    assert joined.status_code == 201, joined.text
    return erika


def _page_text(answer) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, (303, 403, 403, 200), strict=True)))
def test_only_administrators_read_a_persons_records(app, client, erika, staff, role, expected):
    browser = (
        client if role == "anonymous" else staff_client(app, EMAILS.get(role, "admin@example.org"))
    )
    assert browser.get(VIEW, follow_redirects=False).status_code == expected


def _leaves(value, scope="", key=""):
    """(record, field, value) of every plain value of the export, `record` being the name of
    the record or list it is in; a list of plain values (weekdays) gives each of its items."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, name if isinstance(item, dict | list) else scope, name)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, scope, key)
    else:
        yield scope, key, value


def _as_shown(scope, key, value, container):
    """A value as the German page writes it."""
    words = WORDS.get((scope, key)) or WORDS.get(("*", key)) or {}
    if value in words:
        return words[value]
    if isinstance(value, bool) or value is None or value == "":
        return PLAIN[value]
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        moment = datetime.fromisoformat(value).astimezone(container.scheduler.tz)
        day = format_date(moment, "full", locale="de")
        return f"{day}, {format_time(moment, 'HH:mm', locale='de')}"
    assert not words, f"{scope}.{key}: no German words for {value!r}"
    return str(value)


def test_every_value_of_the_export_is_on_the_page(app, container, more, staff):
    office = staff_client(app, "admin@example.org")
    exported = office.get(f"/staff/personen/export?{QUERY}").json()
    text = _page_text(office.get(VIEW))

    sections = {name: exported[name] for name in ("bookings", "callbacks", "waitlist")}
    leaves = list(_leaves(sections))
    assert exported["counts"] == {"bookings": 2, "callbacks": 1, "waitlist": 2}
    assert len(leaves) > 100
    missing = [
        (scope, key, value)
        for scope, key, value in leaves
        if _as_shown(scope, key, value, container) not in text
    ]
    assert missing == []
    # Values that could be found elsewhere on the page are at their field or heading.
    notes = text.split("Notizen unserer Mitarbeitenden", 1)[1].split("Wer von unseren")[0]
    assert NOTE in notes
    assert "Termin " + more["second"]["reference"] in text
    assert "Wochentage Dienstag, Donnerstag" in text
    assert "Größe in Byte 716" in text


def test_the_page_is_in_english_too(app, more, staff):
    text = _page_text(staff_client(app, "admin@example.org").get(VIEW + "&lang=en"))
    assert "Information on the data we hold (Art. 15 GDPR)" in text
    assert "Weekdays Tuesday, Thursday" in text
    assert "Status Waiting for an offer" in text


def test_the_print_leaves_out_the_menu_and_the_staff_note(app, more, staff):
    page = staff_client(app, "admin@example.org").get(VIEW).text
    assert '<div class="notice no-print"' in page
    assert 'href="/staff/personen/auskunft' not in page  # no link to itself
    with open("web/static/css/staff.css", encoding="utf-8") as sheet:
        rule = sheet.read().split("@media print")[1].split("}")[0]
    for hidden in (".no-print", "header", "nav"):
        assert hidden in rule


def test_reading_is_audited_like_the_export(app, container, more, staff):
    staff_client(app, "admin@example.org").get(VIEW)
    with read_session(container.sessions) as session:
        entries = session.execute(
            select(AuditEntry.booking_id, AuditEntry.detail).where(
                AuditEntry.action == "person_export"
            )
        ).all()
    bookings = {row(container, more[name]["reference"]).id for name in ("first", "second")}
    # The request's tally (without the address or number), and one on each booking.
    assert sorted(detail for booking, detail in entries if booking is None) == [
        "bookings=2, callbacks=1, waitlist=2"
    ]
    assert {booking for booking, _ in entries if booking is not None} == bookings
    assert len(entries) == 3


def test_a_person_without_records_gets_a_page_that_says_so(app, erika, staff):
    answer = staff_client(app, "admin@example.org").get(
        "/staff/personen/auskunft?email=nobody@example.org"
    )
    assert answer.status_code == 200
    assert "Unter dieser E-Mail-Adresse oder Telefonnummer haben wir nichts gespeichert." in (
        answer.text
    )
    assert answer.text.count("Keine.") == 3
    assert "Erika" not in answer.text


@pytest.mark.parametrize(
    "query",
    ["", "?email=+&phone=0815", f"?email={'x' * 400}", f"?phone={'1' * 80}"],
    ids=["nothing", "too-few-digits", "long-address", "long-number"],
)
def test_bad_input_is_422(app, erika, staff, query):
    office = staff_client(app, "admin@example.org")
    assert office.get("/staff/personen/auskunft" + query).status_code == 422


def test_the_found_records_page_links_to_it(app, erika, staff):
    found = staff_client(app, "admin@example.org").get(f"/staff/personen?email={ERIKA}")
    form = found.text.split('action="/staff/personen/auskunft"')[1].split("</form>")[0]
    assert f'name="email" value="{ERIKA}"' in form
    assert "Lesen und drucken" in form
