"""The pages of requests about a person by phone or letter (web/pages/staff_people.py): who may
open and send what, in one table; then an administrator finds Erika's records, downloads them,
and erases them through both confirmations; changed records, something still under way and
bad input are refused, and nothing is erased then. The domain's own tests are
tests/scheduler/test_people.py, whose records of Erika (and of Max, who must stay) are used
here. The clock is the suite's frozen Monday, 2031-01-06."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from scheduler.callbacks_models import CallbackRequest
from scheduler.db import read_session
from scheduler.models import AuditEntry, Role
from tests.scheduler.test_people import ERIKA, admin, erika, row, service
from tests.web.api.test_api_public import bearer, manage_token
from tests.web.pages.test_staff_login import csrf_token, field_error, post, staff_client

__all__ = ["admin", "erika", "service"]  # fixtures of the domain's tests, used here

ROLES = ("anonymous", "advisor", "hotline", "admin")
EMAILS = {"advisor": "advisor@example.org", "hotline": "hotline@example.org"}
COUNTS = {"bookings": "1", "callbacks": "1", "waitlist": "1"}
FOUND = f"/staff/personen?email={ERIKA}"

# (what, path, expected: anonymous, advisor, hotline, admin); pages send whoever is not
# logged in to the login (303).
PAGES = [
    ("search form", "/staff/personen", (303, 403, 403, 200)),
    ("records found", FOUND, (303, 403, 403, 200)),
    ("export", f"/staff/personen/export?email={ERIKA}", (303, 403, 403, 200)),
]
# Erika's appointment is still to come and her callback request waits: the administrator's
# first and last step are refused as busy (409), the second only repeats the counts.
POSTS = [
    ("erase: step 1", "/staff/personen/loeschen", (303, 403, 403, 409)),
    ("erase: step 2", "/staff/personen/loeschen/bestaetigen", (303, 403, 403, 200)),
    ("erase: erase", "/staff/personen/loeschen/ausfuehren", (303, 403, 403, 409)),
]


@pytest.fixture
def staff(world):
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)


def _client(app, client, role):
    if role == "anonymous":
        return client
    return staff_client(app, EMAILS.get(role, "admin@example.org"))


@pytest.fixture
def office(app, erika):
    """The administrator's browser."""
    return staff_client(app, "admin@example.org")


@pytest.fixture
def settled(client, container, admin, erika):
    """Erika's appointment cancelled and her callback request settled: nothing under way."""
    token = manage_token(erika["first"])
    assert client.post("/api/v1/booking/cancel", headers=bearer(token)).status_code == 200
    with read_session(container.sessions) as session:
        callback_id = session.scalars(select(CallbackRequest.id)).one()
    container.callbacks.claim(admin, callback_id)
    container.callbacks.settle(admin, callback_id)
    return erika


def _erase_form(**changes: str) -> dict[str, str]:
    return {"email": ERIKA, "phone": "", **COUNTS, "geprueft": "ja", **changes}


def _actions(container) -> list[str]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "path", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_who_may_open_each_page(app, client, erika, staff, role, what, path, expected):
    answer = _client(app, client, role).get(path, follow_redirects=False)
    assert answer.status_code == expected[ROLES.index(role)], what
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/staff/login")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "path", "expected"), POSTS, ids=[p[0] for p in POSTS])
def test_who_may_send_each_form(app, client, container, erika, staff, role, what, path, expected):
    answer = post(_client(app, client, role), path, _erase_form())
    assert answer.status_code == expected[ROLES.index(role)], what
    assert row(container, erika["first"]["reference"]).name == "Erika Mustermann"


def test_only_administrators_see_the_section(app, erika, staff):
    assert (
        'href="/staff/personen"' in staff_client(app, "admin@example.org").get("/staff/admin").text
    )
    for email in EMAILS.values():
        assert 'href="/staff/personen"' not in staff_client(app, email).get("/staff/agenda").text


def test_the_records_found_are_listed_with_their_counts_and_links(office, erika):
    page = office.get(f"/staff/personen?email={ERIKA}&phone=0391 5400815")

    assert page.status_code == 200
    assert "2 Termine" in page.text
    assert "1 Rückrufwunsch" in page.text
    assert "1 Platz auf einer Warteliste" in page.text
    for booking in (erika["first"], erika["second"]):
        assert f'<a href="/staff/buchungen/{booking["reference"]}">' in page.text
    assert erika["max"]["reference"] not in page.text
    assert "Di. 7. Jan., 09:00" in page.text  # the office's time, not UTC
    documents = re.findall(r'<tr class="people-booking">.*?<td>(\d+)</td>\s*</tr>', page.text, re.S)
    assert documents == ["1", "0"]


def test_the_export_is_a_json_file_with_every_booking(office, container, erika):
    answer = office.get("/staff/personen/export", params={"email": ERIKA, "phone": ""})

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    exported = json.loads(answer.content)
    assert exported["counts"] == {"bookings": 1, "callbacks": 1, "waitlist": 1}
    assert exported["bookings"][0]["booking"]["reference"] == erika["first"]["reference"]
    assert exported["bookings"][0]["documents"][0]["name"] == "Bescheid.pdf"
    assert "person_export" in _actions(container)


def test_erasure_is_confirmed_twice_then_reported_with_counts(office, container, settled):
    found = office.get(FOUND)
    assert 'action="/staff/personen/loeschen"' in found.text

    first = post(office, "/staff/personen/loeschen", {"email": ERIKA, "phone": ""})
    assert first.status_code == 200
    assert "Ich habe die Identität der Person und die Anfrage geprüft" in first.text
    assert settled["first"]["reference"] in first.text
    assert 'name="bookings" value="1"' in first.text

    unchecked = post(office, "/staff/personen/loeschen/bestaetigen", _erase_form(geprueft=""))
    assert unchecked.status_code == 422
    assert 'class="error-summary"' in unchecked.text
    assert field_error(unchecked.text, "geprueft").startswith("Bitte bestätigen Sie")

    second = post(office, "/staff/personen/loeschen/bestaetigen", _erase_form())
    assert second.status_code == 200
    assert "Diese Daten endgültig löschen" in second.text
    assert 'action="/staff/personen/loeschen/ausfuehren"' in second.text
    assert row(container, settled["first"]["reference"]).name == "Erika Mustermann"

    done = post(office, "/staff/personen/loeschen/ausfuehren", _erase_form())
    assert done.status_code == 200
    assert "<h1>Daten gelöscht</h1>" in done.text
    assert '<th scope="row">Termine anonymisiert</th><td>1</td>' in done.text
    assert '<th scope="row">Unterlagen gelöscht</th><td>1</td>' in done.text
    assert '<th scope="row">Rückrufwünsche gelöscht</th><td>1</td>' in done.text
    assert "Fehlgeschlagene" not in done.text  # the erasers with nothing to do stay unnamed

    again = office.get(FOUND)
    assert "0 Termine" in again.text
    assert "0 Rückrufwünsche" in again.text
    assert row(container, settled["first"]["reference"]).name == ""
    assert row(container, settled["max"]["reference"]).name == "Max Muster"
    actions = _actions(container)
    assert {"person_search", "person_erased"} <= set(actions)


def test_records_changed_between_the_steps_are_not_erased(
    client, world, office, container, settled
):
    post(office, "/staff/personen/loeschen/bestaetigen", _erase_form())
    elsewhere = world.service(name="Elterngeld", channels=["video"])
    joined = client.post(
        "/api/v1/waitlist",
        json={"service_id": elsewhere.id, "name": "Erika M.", "email": ERIKA, "channel": "video"},
    )
    assert joined.status_code == 201, joined.text

    refused = post(office, "/staff/personen/loeschen/ausfuehren", _erase_form())

    assert refused.status_code == 409
    assert "haben sich geändert" in refused.text
    assert "2 Plätze auf Wartelisten" in refused.text
    assert 'name="waitlist" value="2"' in refused.text
    assert row(container, settled["first"]["reference"]).name == "Erika Mustermann"
    assert "person_erased" not in _actions(container)


def test_a_person_with_something_under_way_is_not_erased(office, container, erika):
    busy = post(office, "/staff/personen/loeschen", {"email": ERIKA, "phone": ""})

    assert busy.status_code == 409
    assert "Die Daten können noch nicht gelöscht werden" in busy.text
    assert f'<a href="/staff/buchungen/{erika["first"]["reference"]}">' in busy.text
    assert 'href="/staff/rueckrufe"' in busy.text
    assert 'name="geprueft"' not in busy.text  # no way on to the confirmation

    last = post(office, "/staff/personen/loeschen/ausfuehren", _erase_form())
    assert last.status_code == 409
    assert "Bevorstehende Termine" in last.text
    assert row(container, erika["first"]["reference"]).name == "Erika Mustermann"


@pytest.mark.parametrize(
    ("query", "field"),
    [({"phone": "0815"}, "phone"), ({"email": " ", "phone": "12-34"}, "phone")],
)
def test_too_little_to_name_a_person_is_shown_at_the_form(office, query, field):
    page = office.get("/staff/personen", params=query)

    assert page.status_code == 422
    assert 'class="error-summary"' in page.text
    assert field_error(page.text, field).startswith("Bitte geben Sie die E-Mail-Adresse")


@pytest.mark.parametrize(
    "params",
    [{"email": "x" * 321}, {"phone": "1" * 65}, {"phone": "0815"}],
)
def test_garbage_queries_are_refused(office, params):
    assert office.get("/staff/personen", params=params).status_code == 422
    assert office.get("/staff/personen/export", params=params).status_code == 422


@pytest.mark.parametrize(
    "changes",
    [
        {"bookings": "abc"},
        {"bookings": "-1"},
        {"callbacks": "²"},
        {"waitlist": ""},
        {"bookings": "99999999999"},
        {"email": "x" * 400},
        {"email": "", "phone": "0815"},
    ],
)
def test_garbage_forms_are_refused_and_nothing_is_erased(office, container, settled, changes):
    for path in ("/staff/personen/loeschen/bestaetigen", "/staff/personen/loeschen/ausfuehren"):
        answer = post(office, path, _erase_form(**changes))
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
    assert row(container, settled["first"]["reference"]).name == "Erika Mustermann"


def test_a_form_without_its_csrf_token_erases_nothing(office, container, settled):
    csrf_token(office)
    answer = office.post("/staff/personen/loeschen/ausfuehren", data=_erase_form())

    assert answer.status_code == 403
    assert row(container, settled["first"]["reference"]).name == "Erika Mustermann"


def test_the_pages_are_english_too(office, settled):
    page = office.get(FOUND + "&lang=en")
    assert "Data requests" in page.text
    assert "1 callback request" in page.text
    first = post(office, "/staff/personen/loeschen", {"email": ERIKA, "phone": ""})
    assert "I have checked the person's identity and the request" in first.text
