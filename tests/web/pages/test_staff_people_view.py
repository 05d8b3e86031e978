"""A person's records to read and print (web/pages/staff_people_view.py): administrators
only; every value of the JSON export is on the page; the reading is audited like the export;
a person with no records gets a page that says so. Erika's records are those of
tests/scheduler/test_people.py; the clock is the suite's frozen Monday, 2031-01-06."""

from __future__ import annotations

import html
import re
from datetime import datetime

import pytest
from babel.dates import format_date, format_time
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import AuditEntry, Role
from tests.scheduler.test_people import ERIKA, admin, erika, service
from tests.web.pages.test_staff_login import staff_client

__all__ = ["admin", "erika", "service"]  # fixtures of the domain's tests, used here

ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "advisor@example.org", "hotline": "hotline@example.org"}
# Statuses by their German names, as the citizen's own page of their data shows them.
STATUSES = {"confirmed": "Gebucht", "cancelled": "Abgesagt", "completed": "Hat stattgefunden"}
VIEW = f"/staff/personen/auskunft?email={ERIKA}"


@pytest.fixture
def staff(world):
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)


@pytest.mark.parametrize(("role", "expected"), list(zip(ROLES, (303, 403, 403, 200), strict=True)))
def test_only_administrators_read_a_persons_records(app, client, erika, staff, role, expected):
    browser = (
        client if role == "anonymous" else staff_client(app, EMAILS.get(role, "admin@example.org"))
    )
    assert browser.get(VIEW, follow_redirects=False).status_code == expected


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list) and any(isinstance(i, dict) for i in value):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, list):
        yield ", ".join(str(i) for i in value)
    else:
        yield value


def _as_shown(value, container):
    """A value as the German page writes it: times in the office's zone, long date."""
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        moment = datetime.fromisoformat(value).astimezone(container.scheduler.tz)
        day, hour = (
            format_date(moment, "long", locale="de"),
            format_time(moment, "HH:mm", locale="de"),
        )
        return f"{day}, {hour}"
    return STATUSES.get(value, value)


def test_every_value_of_the_export_is_on_the_page(app, container, erika, staff):
    office = staff_client(app, "admin@example.org")
    exported = office.get(f"/staff/personen/export?email={ERIKA}").json()
    page = office.get(VIEW)
    assert page.status_code == 200
    text = html.unescape(re.sub(r"\s+", " ", page.text))
    leaves = list(_leaves({k: exported[k] for k in ("bookings", "callbacks", "waitlist")}))
    assert leaves  # Erika has records
    for value in leaves:
        if value in (None, "", True, False) or isinstance(value, (int, float)):
            continue  # shown as "–", "Ja", "Nein" or the number itself
        assert str(_as_shown(value, container)) in text, value
    assert "Erika Mustermann" in text
    assert 'href="/staff/personen/auskunft' not in text  # no link to itself


def test_reading_is_audited_like_the_export(app, container, erika, staff):
    staff_client(app, "admin@example.org").get(VIEW)
    with read_session(container.sessions) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "person_export" in actions


def test_a_person_without_records_gets_a_page_that_says_so(app, erika, staff):
    page = staff_client(app, "admin@example.org").get(
        "/staff/personen/auskunft?email=nobody@example.org"
    )
    assert page.status_code == 200
    assert page.text.count("Keine.") == 3


def test_bad_input_is_a_4xx(app, erika, staff):
    office = staff_client(app, "admin@example.org")
    assert office.get("/staff/personen/auskunft").status_code == 422
    assert office.get(f"/staff/personen/auskunft?email={'x' * 400}").status_code == 422


def test_the_found_records_page_links_to_it(app, erika, staff):
    found = staff_client(app, "admin@example.org").get(f"/staff/personen?email={ERIKA}")
    assert 'action="/staff/personen/auskunft"' in found.text
