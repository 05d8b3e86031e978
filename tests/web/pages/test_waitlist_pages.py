"""The waiting list's pages: joining at `/warteliste` without JavaScript (errors, success,
already waiting, CSRF), the links into it, and the staff's `/staff/warteliste` by role."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import Role
from scheduler.waitlist_models import WaitlistEntry
from tests.web.pages.test_citizen_flow import open_page, read
from tests.web.pages.test_staff_login import field_error, post, staff_client


@pytest.fixture
def service(world):
    # No advisor: no free times at all, so nobody gets an offer at once.
    return world.service(name="Wohngeld: Erstberatung", channels=["video", "phone"])


def _form(client, service, **fields):
    page = open_page(client, "/warteliste", anliegen=str(service.id))
    data = {
        "csrf_token": page.inputs["csrf_token"],
        "anliegen": str(service.id),
        "name": "Erika Mustermann",
        "email": "erika@example.org",
        "kanal": "video",
        "language": "de",
    }
    return data | fields


def _entries(container):
    with read_session(container.sessions) as session:
        return list(session.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id)))


def test_the_concern_from_the_query_is_preselected(client, service, world):
    other = world.service(name="Pflege")

    page = open_page(client, "/warteliste", anliegen=str(service.id))

    assert page.status == 200
    assert page.inputs[f"option:{service.id}"] == "selected"
    assert f"option:{other.id}" not in page.inputs
    assert "Auf die Warteliste setzen" in page.text


@pytest.mark.parametrize("anliegen", ["", "abc", "999999", "-1", "²"])
def test_an_unknown_concern_in_the_query_preselects_nothing(client, service, anliegen):
    page = open_page(client, "/warteliste", anliegen=anliegen)
    assert page.status == 200
    assert not [k for k in page.inputs if k.startswith("option:") and k != "option:de"]


def test_joining_shows_the_position_and_how_offers_work(client, service, container):
    first = client.post("/warteliste", data=_form(client, service, tage=["1", "3"]))
    second = read(
        client.post(
            "/warteliste",
            data=_form(client, service, email="jonas@example.org", tageszeit="afternoon"),
        )
    )

    assert first.status_code == 200, first.text
    assert second.status == 200
    assert "Sie stehen auf der Warteliste" in second.text
    assert "Ihr Platz in der Warteliste 2" in second.text
    assert "bis zu 24 Stunden" in second.text
    assert second.hrefs("/w/")
    entry_page = open_page(client, second.hrefs("/w/")[0])
    assert entry_page.status == 200
    first_entry, second_entry = _entries(container)
    assert first_entry.weekdays == [1, 3]
    assert second_entry.day_parts == ["afternoon"]


def test_joining_in_english(client, service):
    client.get("/?lang=en")
    page = read(client.post("/warteliste", data=_form(client, service)))
    assert "You are on the waiting list" in page.text
    assert "Your place in the line 1" in page.text


def test_joining_twice_says_already_waiting(client, service, container):
    client.post("/warteliste", data=_form(client, service))

    again = read(client.post("/warteliste", data=_form(client, service)))

    assert again.status == 409
    assert "schon auf der Warteliste für dieses Anliegen" in again.text
    assert len(_entries(container)) == 1


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"name": ""}, "field-name", "Geben Sie Ihren Namen ein."),
        ({"email": "nope"}, "field-email", "name@beispiel.de"),
        ({"email": ""}, "field-email", "E-Mail-Adresse"),
        ({"kanal": "phone"}, "field-phone", "Telefonnummer"),
        ({"kanal": "in_person"}, "field-channel", "Wählen Sie, wie die Beratung"),
        ({"kanal": ""}, "field-channel", "Wählen Sie, wie die Beratung"),
        ({"anliegen": "999999"}, "field-service", "Wählen Sie Ihr Anliegen."),
        ({"phone": "abc"}, "field-phone", "Telefonnummer"),
    ],
)
def test_form_errors_are_shown_at_their_fields_and_in_the_summary(
    client, service, container, fields, field_id, message
):
    answer = client.post("/warteliste", data=_form(client, service, **fields))

    assert answer.status_code == 422
    assert message in field_error(answer.text, field_id)
    assert f'href="#{field_id}"' in answer.text
    assert "<title>Fehler:" in answer.text
    assert _entries(container) == []
    # What was typed is kept.
    assert 'value="Erika Mustermann"' in answer.text or fields.get("name") == ""


def test_a_phone_consultation_with_a_number_joins(client, service, container):
    answer = client.post("/warteliste", data=_form(client, service, kanal="phone", phone="0391 5"))
    assert answer.status_code == 200
    [entry] = _entries(container)
    assert (entry.channel, entry.phone) == ("phone", "0391 5")


def test_without_the_csrf_token_nothing_is_joined(client, service, container):
    data = _form(client, service)
    del data["csrf_token"]
    assert client.post("/warteliste", data=data).status_code == 403
    data["csrf_token"] = "forged-forged-forged-forged"
    assert client.post("/warteliste", data=data).status_code == 403
    assert _entries(container) == []


def test_a_bad_proof_of_work_is_shown_at_the_check(client, service, container):
    answer = read(
        client.post("/warteliste", data=_form(client, service, altcha="eyJmb3JnZWQiOjF9"))
    )
    assert answer.status == 422
    assert "#field-altcha" in answer.hrefs("#")
    assert answer.attributes["field-altcha"]["tag"] == "div"
    assert _entries(container) == []


# -- the links into it ---------------------------------------------------------------------------


def test_no_free_times_links_to_the_waiting_list_of_the_concern(client, service):
    page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    assert f"/warteliste?anliegen={service.id}" in page.hrefs("/warteliste")


def test_the_start_page_links_each_concern_to_its_waiting_list(client, service, world):
    other = world.service(name="Pflege")
    page = open_page(client, "/")
    links = page.hrefs("/warteliste")
    assert f"/warteliste?anliegen={service.id}" in links
    assert f"/warteliste?anliegen={other.id}" in links


# -- staff -------------------------------------------------------------------------------------


@pytest.fixture
def staff(app, world, service):
    other = world.service(name="Pflege")
    world.advisor([service], email="anna@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    return {
        "admin": staff_client(app, "admin@example.org"),
        "hotline": staff_client(app, "hotline@example.org"),
        "advisor": staff_client(app, "anna@example.org"),
    }, other


@pytest.mark.parametrize(
    ("role", "sees_other"), [("admin", True), ("hotline", True), ("advisor", False)]
)
def test_staff_see_the_lists_their_role_may_see(staff, service, role, sees_other):
    clients, _ = staff
    answer = clients[role].get("/staff/warteliste")
    assert answer.status_code == 200
    assert "Wohngeld: Erstberatung" in answer.text
    assert ("Pflege" in answer.text) is sees_other
    assert 'href="/staff/warteliste" aria-current="page"' in answer.text


@pytest.mark.parametrize(
    ("role", "target", "status"),
    [
        ("admin", "own", 303),
        ("hotline", "own", 303),
        ("advisor", "own", 303),
        ("admin", "other", 303),
        ("hotline", "other", 303),
        ("advisor", "other", 422),
    ],
)
def test_staff_add_callers_to_the_lists_their_role_may_see(
    staff, service, container, role, target, status
):
    clients, other = staff
    chosen = service if target == "own" else other
    answer = post(
        clients[role],
        "/staff/warteliste",
        {
            "anliegen": str(chosen.id),
            "name": "Helga Fischer",
            "email": "helga@example.org",
            "kanal": "phone",
            "phone": "0391 555 12",
            "language": "de",
        },
    )
    assert answer.status_code == status, answer.text
    if status == 303:
        assert answer.headers["location"] == "/staff/warteliste?eingetragen=1&platz=1"
        [entry] = _entries(container)
        assert entry.created_by_id is not None
        page = clients[role].get(answer.headers["location"]).text
        assert "auf Platz 1" in page
    else:
        assert _entries(container) == []


def test_the_staff_list_shows_length_and_oldest_entry(staff, client, service):
    clients, _ = staff
    client.post("/warteliste", data=_form(client, service))
    client.post("/warteliste", data=_form(client, service, email="b@example.org"))

    page = clients["hotline"].get("/staff/warteliste?lang=en").text

    row = page.split("Wohngeld: Erstberatung</th>")[1].split("</tr>")[0]
    assert "<td>2</td>" in row
    assert "<td>Mon 6 Jan, 08:00</td>" in row  # both joined at the office clock's 08:00


def test_staff_adding_needs_the_csrf_token(staff, service, container):
    clients, _ = staff
    answer = clients["hotline"].post(
        "/staff/warteliste",
        data={"anliegen": str(service.id), "name": "X", "email": "x@example.org", "kanal": "video"},
    )
    assert answer.status_code == 403
    assert _entries(container) == []


def test_staff_adding_a_phone_caller_needs_the_number(staff, service):
    clients, _ = staff
    answer = post(
        clients["hotline"],
        "/staff/warteliste",
        {"anliegen": str(service.id), "name": "X", "email": "x@example.org", "kanal": "phone"},
    )
    assert answer.status_code == 422
    assert "Telefonnummer" in field_error(answer.text, "field-phone")


def test_the_staff_page_needs_a_login(client, service):
    answer = client.get("/staff/warteliste", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/staff/login")
