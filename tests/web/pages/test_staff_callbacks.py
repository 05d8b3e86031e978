"""The callback queue's staff pages: the queue (order, filters, paging, who sees it), a request's
page and its actions (claim, the lost claim, release, each call outcome, settle, book with the
slot picker), the form for a request taken on the phone, the admin's switch, and a table of
who may open which page or do which action. The clock is the frozen one of tests/conftest.py
(Monday 2031-01-06 08:00 Berlin); the requests' windows are on Tuesday."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.accounts import StaffIdentity
from scheduler.callbacks_rules import CallbackInput
from scheduler.db import read_session
from scheduler.models import Role, Staff
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import csrf_token, post, staff_client
from web.pages import staff_callbacks

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)


def at(hour: int, minute: int = 0, day: date = TUESDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def service(world):
    return world.service(name="Wohngeld", channels=["video", "phone", "in_person"])


@pytest.fixture
def other_service(world):
    return world.service(name="Kita-Platz", channels=["phone"])


@pytest.fixture
def people(world, service):
    return {
        "anna": world.advisor([service], email="anna@example.org"),
        "hotline": world.advisor([], email="hotline@example.org", role=Role.HOTLINE),
        "colleague": world.advisor([], email="colleague@example.org", role=Role.HOTLINE),
    }


def ask(container, service, hour=9, **changes):
    """A citizen's request, through the domain (as the citizens' API makes it)."""
    values = {
        "service_id": service.id,
        "name": "Erika Mustermann",
        "phone": "0391 123456",
        "windows": [(at(hour), at(hour + 3))],
        "email": "erika@example.org",
        "note": "Bitte vormittags",
        "language": "de",
    }
    values.update(changes)
    return container.callbacks.request(CallbackInput(**values))


@pytest.fixture
def request_(container, service, people):
    return ask(container, service)


def status_of(container, world, callback_id):
    return container.callbacks.get(world.admin, callback_id).status


def _rows(html: str) -> list[str]:
    """The references of the queue's table, in order."""
    return re.findall(r'<th scope="row"><a href="/staff/rueckrufe/\d+">([^<]+)</a>', html)


def _outbox(container, kind):
    with read_session(container.sessions) as session:
        return list(
            session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.kind == kind))
        )


# -- the queue ------------------------------------------------------------------------------------


def test_the_queue_lists_the_requests_by_due_time_with_their_details(
    app, container, service, people
):
    late = ask(container, service, hour=14, phone="0391 1", email="a@example.org")
    early = ask(container, service, hour=9, phone="0391 2", email="b@example.org", language="en")
    middle = ask(container, service, hour=11, phone="0391 3", email=None)
    client = staff_client(app, "hotline@example.org")
    container.callbacks.claim(_identity(container, "colleague@example.org"), middle.id)

    page = client.get("/staff/rueckrufe")

    assert page.status_code == 200
    assert _rows(page.text) == [early.reference, middle.reference, late.reference]
    assert "3 Rückrufbitten warten, die früheste zuerst. Angezeigt: 1 bis 3." in page.text
    assert "Wohngeld" in page.text
    assert "09:00–12:00" in page.text  # in the office's time zone
    assert "English" in page.text
    assert re.search(r"<td>Advisor \d+</td>", page.text)  # who claimed the middle one
    assert '<a href="/staff/rueckrufe" aria-current="page">Rückrufe</a>' in page.text


def _identity(container, email):
    with read_session(container.sessions) as session:
        staff = session.scalar(select(Staff).where(Staff.email == email))
        assert staff is not None
        return StaffIdentity.of(staff)


def test_the_queue_is_filtered_by_concern_and_language(
    app, container, service, other_service, people
):
    german = ask(container, service, phone="0391 1")
    english = ask(container, service, phone="0391 2", language="en")
    kita = ask(container, other_service, phone="0391 3")
    client = staff_client(app, "hotline@example.org")

    by_language = client.get("/staff/rueckrufe", params={"sprache": "en", "anliegen": ""})
    by_concern = client.get("/staff/rueckrufe", params={"anliegen": str(other_service.id)})
    both = client.get("/staff/rueckrufe", params={"anliegen": service.id, "sprache": "de"})

    assert _rows(by_language.text) == [english.reference]
    assert _rows(by_concern.text) == [kita.reference]
    assert _rows(both.text) == [german.reference]
    assert f'<option value="{other_service.id}" selected>' in by_concern.text
    assert client.get("/staff/rueckrufe?sprache=%3Cx%3E").status_code == 422


def test_the_queue_is_paged_with_the_total(app, container, service, people, monkeypatch):
    monkeypatch.setattr(staff_callbacks, "PAGE_SIZE", 2)
    made = [ask(container, service, hour=8 + i, phone=f"0391 {i}", email=None) for i in range(5)]
    client = staff_client(app, "hotline@example.org")

    first = client.get("/staff/rueckrufe")
    second = client.get("/staff/rueckrufe?seite=2")
    last = client.get("/staff/rueckrufe?seite=3")

    assert _rows(first.text) == [m.reference for m in made[:2]]
    assert _rows(second.text) == [m.reference for m in made[2:4]]
    assert _rows(last.text) == [made[4].reference]
    assert "5 Rückrufbitten warten" in first.text
    assert 'href="/staff/rueckrufe?seite=2" rel="next"' in first.text
    assert 'rel="prev"' not in first.text
    assert 'href="/staff/rueckrufe" rel="prev"' in second.text
    assert 'href="/staff/rueckrufe?seite=3" rel="next"' in second.text
    assert 'rel="next"' not in last.text
    assert client.get("/staff/rueckrufe?seite=0").status_code == 422


def test_an_advisor_sees_the_queue_only_of_an_opened_service(
    app, container, world, service, other_service, request_
):
    kita = ask(container, other_service, phone="0391 9")
    anna = staff_client(app, "anna@example.org")
    assert anna.get("/staff/rueckrufe").status_code == 403
    assert 'href="/staff/rueckrufe"' not in anna.get("/staff/agenda").text

    container.callbacks.open_to_advisors(world.admin, service.id, True)
    container.callbacks.open_to_advisors(world.admin, other_service.id, True)
    page = anna.get("/staff/rueckrufe")

    assert page.status_code == 200
    assert 'href="/staff/rueckrufe"' in anna.get("/staff/agenda").text
    assert _rows(page.text) == [request_.reference]  # not Kita: not one of her services
    assert kita.reference not in page.text
    assert 'href="/staff/rueckrufe/neu"' not in page.text  # taking requests is the hotline's
    assert anna.get(f"/staff/rueckrufe/{kita.id}").status_code == 404


# -- a request's page --------------------------------------------------------------------------


def test_the_request_page_shows_the_details_and_the_actions(app, request_):
    page = staff_client(app, "hotline@example.org").get(f"/staff/rueckrufe/{request_.id}")

    assert page.status_code == 200
    assert f"Rückrufbitte {request_.reference}" in page.text
    assert '<a href="tel:0391123456">0391 123456</a>' in page.text
    assert "erika@example.org" in page.text
    assert "Bitte vormittags" in page.text
    assert "Deutsch" in page.text
    assert "Wartet in der Warteschlange" in page.text
    assert "Noch keine Anrufe." in page.text
    for action in ("uebernehmen", "versuch"):
        assert f'action="/staff/rueckrufe/{request_.id}/{action}"' in page.text
    for action in ("buchen", "erledigt"):
        assert f'href="/staff/rueckrufe/{request_.id}/{action}"' in page.text


@pytest.mark.parametrize("callback_id", ["999999", "0", "abc", "12abc", str(2**63), "%C2%B2"])
@pytest.mark.parametrize("suffix", ["", "/buchen", "/erledigt"])
def test_unknown_and_garbage_ids_are_404(app, people, callback_id, suffix):
    client = staff_client(app, "hotline@example.org")
    assert client.get(f"/staff/rueckrufe/{callback_id}{suffix}").status_code == 404
    assert post(client, f"/staff/rueckrufe/{callback_id}/uebernehmen").status_code == 404


def test_claim_then_the_page_says_so(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")

    response = post(client, f"/staff/rueckrufe/{request_.id}/uebernehmen")

    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/rueckrufe/{request_.id}?erledigt=uebernommen"
    page = client.get(response.headers["location"])
    assert "Sie haben die Rückrufbitte übernommen." in page.text
    assert "In Bearbeitung" in page.text
    assert f'action="/staff/rueckrufe/{request_.id}/freigeben"' in page.text
    assert status_of(container, world, request_.id) == "claimed"


def test_a_lost_claim_names_who_has_the_request(app, container, world, request_):
    hotline = staff_client(app, "hotline@example.org")
    colleague = staff_client(app, "colleague@example.org")
    holder = _identity(container, "hotline@example.org")
    assert post(hotline, f"/staff/rueckrufe/{request_.id}/uebernehmen").status_code == 303

    lost = post(colleague, f"/staff/rueckrufe/{request_.id}/uebernehmen")

    assert lost.status_code == 409
    assert 'role="alert"' in lost.text
    assert f"{holder.name} hat diese Rückrufbitte übernommen und bearbeitet sie." in lost.text
    # Nor may the colleague log a call, settle, book or release it.
    assert (
        post(
            colleague, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "reached"}
        ).status_code
        == 409
    )
    assert post(colleague, f"/staff/rueckrufe/{request_.id}/erledigt").status_code == 409
    assert post(colleague, f"/staff/rueckrufe/{request_.id}/freigeben").status_code == 409
    page = colleague.get(f"/staff/rueckrufe/{request_.id}")
    assert f"{holder.name} bearbeitet diese Rückrufbitte." in page.text
    assert 'action="/staff/rueckrufe/' + str(request_.id) + '/versuch"' not in page.text
    assert container.callbacks.get(world.admin, request_.id).claimed_by_id == holder.id


def test_release_gives_it_back(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")
    post(client, f"/staff/rueckrufe/{request_.id}/uebernehmen")

    response = post(client, f"/staff/rueckrufe/{request_.id}/freigeben")

    assert response.headers["location"] == f"/staff/rueckrufe/{request_.id}?erledigt=freigegeben"
    assert "wieder in der Warteschlange" in client.get(response.headers["location"]).text
    assert status_of(container, world, request_.id) == "open"


def test_not_reached_puts_it_back_in_the_queue(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")

    response = post(client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "not_reached"})

    assert response.headers["location"] == f"/staff/rueckrufe/{request_.id}?erledigt=not_reached"
    page = client.get(response.headers["location"])
    assert "für den nächsten Versuch wieder in der Warteschlange" in page.text
    assert re.search(
        r"<td>Mo\. 6\. Jan\., 08:00</td><td>Advisor \d+</td><td>Nicht erreicht</td>", page.text
    )
    assert status_of(container, world, request_.id) == "open"
    assert _rows(client.get("/staff/rueckrufe").text) == [request_.reference]
    assert _outbox(container, "callback_closed") == []


def test_a_wrong_number_closes_it_and_tells_the_citizen(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")

    response = post(client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "wrong_number"})

    page = client.get(response.headers["location"])
    assert "falsche Nummer. Die Rückrufbitte ist geschlossen." in page.text
    assert "Geschlossen: nicht erreicht" in page.text
    assert 'action="/staff/rueckrufe/' not in page.text  # a finished request: no actions
    assert status_of(container, world, request_.id) == "closed"
    assert _outbox(container, "callback_closed") == ["erika@example.org"]


def test_the_last_failed_attempt_closes_it_and_tells_the_citizen(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")
    limit = container.callbacks.config.max_failed_attempts

    for _ in range(limit):
        response = post(
            client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "not_reached"}
        )
        assert response.status_code == 303

    page = client.get(response.headers["location"])
    assert "Das war der letzte Versuch: Die Rückrufbitte ist geschlossen." in page.text
    assert page.text.count("<td>Nicht erreicht</td>") == limit
    assert status_of(container, world, request_.id) == "closed"
    assert _outbox(container, "callback_closed") == ["erika@example.org"]
    again = post(client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "reached"})
    assert again.status_code == 409
    assert "Diese Rückrufbitte ist bereits erledigt" in again.text


def test_reached_keeps_the_claim(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")
    response = post(client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "reached"})
    assert "Der Anruf ist vermerkt: erreicht." in client.get(response.headers["location"]).text
    assert status_of(container, world, request_.id) == "claimed"


def test_an_unknown_outcome_is_refused(app, request_):
    client = staff_client(app, "hotline@example.org")
    assert (
        post(client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "maybe"}).status_code
        == 422
    )


def test_settle_has_a_confirmation_step(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")

    step = client.get(f"/staff/rueckrufe/{request_.id}/erledigt")
    assert step.status_code == 200
    assert f"Rückrufbitte {request_.reference} als erledigt markieren?" in step.text
    assert f'action="/staff/rueckrufe/{request_.id}/erledigt"' in step.text
    assert status_of(container, world, request_.id) == "open"  # a GET changes nothing

    response = post(client, f"/staff/rueckrufe/{request_.id}/erledigt")

    assert response.headers["location"] == f"/staff/rueckrufe/{request_.id}?erledigt=erledigt"
    page = client.get(response.headers["location"])
    assert "Am Telefon erledigt" in page.text
    assert "/uebernehmen" not in page.text
    assert status_of(container, world, request_.id) == "settled"
    assert _rows(client.get("/staff/rueckrufe").text) == []


def test_the_pages_are_in_english_too(app, request_):
    client = staff_client(app, "hotline@example.org")
    assert "1 request waits. Showing 1 to 1." in client.get("/staff/rueckrufe?lang=en").text
    page = client.get(f"/staff/rueckrufe/{request_.id}?lang=en")
    assert f"Callback request {request_.reference}" in page.text
    assert "Claim the request" in page.text


# -- booking from a request -------------------------------------------------------------------


def _slot_links(html: str) -> list[str]:
    return [u.replace("&amp;", "&") for u in re.findall(r'<a class="slot" href="([^"]+)"', html)]


def test_book_through_the_picker_and_the_confirmation(app, container, world, request_):
    client = staff_client(app, "hotline@example.org")
    post(client, f"/staff/rueckrufe/{request_.id}/versuch", {"outcome": "reached"})

    picker = client.get(f"/staff/rueckrufe/{request_.id}/buchen")
    assert picker.status_code == 200
    links = _slot_links(picker.text)
    assert links
    chosen = next(u for u in links if "2031-01-07T09%3A00" in u)
    assert "kanal=phone" in chosen  # the phone is the default

    confirm = client.get(chosen)
    assert confirm.status_code == 200
    assert f"Diesen Termin für Rückrufbitte {request_.reference} buchen?" in confirm.text
    assert "Erika Mustermann" in confirm.text
    assert 'name="name"' not in confirm.text  # nothing is typed again
    assert status_of(container, world, request_.id) == "claimed"

    response = post(
        client,
        f"/staff/rueckrufe/{request_.id}/buchen",
        {"start": "2031-01-07T09:00:00+01:00", "kanal": "phone", "berater": ""},
    )

    assert response.status_code == 303
    reference = re.fullmatch(
        r"/staff/buchungen/([A-Z0-9-]+)\?neu=true", response.headers["location"]
    )[1]
    booking = container.desk.booking(world.admin, reference)
    assert (booking.name, booking.phone, booking.email, booking.channel) == (
        "Erika Mustermann",
        "0391 123456",
        "erika@example.org",
        "phone",
    )
    assert booking.start == at(9)
    after = container.callbacks.get(world.admin, request_.id)
    assert (after.status, after.booking_id) == ("booked", booking.id)
    page = client.get(f"/staff/rueckrufe/{request_.id}")
    assert f'<a href="/staff/buchungen/{reference}">' in page.text
    assert "/buchen" not in page.text


def test_the_picker_offers_the_channels_of_the_service(app, request_):
    client = staff_client(app, "hotline@example.org")
    page = client.get(f"/staff/rueckrufe/{request_.id}/buchen?kanal=video")
    assert '<option value="video" selected>' in page.text
    assert all("kanal=video" in u for u in _slot_links(page.text))


def test_a_time_taken_meanwhile_leads_back_to_the_picker(
    app, container, service, people, world, request_
):
    client = staff_client(app, "hotline@example.org")
    container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=at(9),
            channel="phone",
            name="Someone Else",
            phone="0391 5",
            email=None,
            advisor_id=people["anna"].id,
        )
    )

    response = post(
        client,
        f"/staff/rueckrufe/{request_.id}/buchen",
        {"start": "2031-01-07T09:00:00+01:00", "kanal": "phone"},
    )

    assert response.status_code == 409
    assert "Diese Zeit wurde gerade vergeben. Bitte wählen Sie eine andere Zeit." in response.text
    assert _slot_links(response.text)
    assert status_of(container, world, request_.id) == "claimed"  # still the agent's


def test_video_without_an_email_address_is_refused(app, container, service, people, world):
    asked = ask(container, service, email=None)
    client = staff_client(app, "hotline@example.org")

    response = post(
        client,
        f"/staff/rueckrufe/{asked.id}/buchen",
        {"start": "2031-01-07T09:00:00+01:00", "kanal": "video"},
    )

    assert response.status_code == 422
    assert "Für einen Videotermin wird eine E-Mail-Adresse gebraucht" in response.text
    assert 'class="error-summary"' in response.text
    assert status_of(container, world, asked.id) == "claimed"


# -- a request taken on the phone ---------------------------------------------------------------

VALID = {
    "name": "Max Anrufer",
    "phone": "0391 777",
    "email": "",
    "language": "de",
    "note": "Ruft wegen Wohngeld an",
    "tag1": "2031-01-07",
    "zeit1": "10-12",
}


def test_the_hotline_takes_a_request_on_the_phone(app, container, world, service, people):
    client = staff_client(app, "hotline@example.org")
    form = client.get("/staff/rueckrufe/neu")
    assert form.status_code == 200
    assert '<label for="field-window1-day">' in form.text
    assert "Name der anrufenden Person" in form.text  # the staff wording of the shared fields

    response = post(client, "/staff/rueckrufe/neu", {**VALID, "anliegen": str(service.id)})

    assert response.status_code == 303
    callback_id = int(
        re.fullmatch(r"/staff/rueckrufe/(\d+)\?erledigt=neu", response.headers["location"])[1]
    )
    made = container.callbacks.get(world.admin, callback_id)
    assert (made.name, made.phone, made.status, made.note) == (
        "Max Anrufer",
        "0391 777",
        "open",
        "Ruft wegen Wohngeld an",
    )
    assert made.windows == ((at(10).astimezone(UTC), at(12).astimezone(UTC)),)
    assert (
        "Die Rückrufbitte ist in der Warteschlange."
        in client.get(response.headers["location"]).text
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"anliegen": ""}, "field-service"),
        ({"anliegen": "999999"}, "field-service"),
        ({"name": ""}, "field-name"),
        ({"phone": ""}, "field-phone"),
        ({"phone": "call me"}, "field-phone"),
        ({"email": "no-address"}, "field-email"),
        ({"tag1": "", "zeit1": ""}, "field-window1-day"),
        ({"zeit1": "25-27"}, "field-window1-day"),
        ({"zeit1": ""}, "field-window1-day"),  # a day without a time
        ({"tag1": "2031-03-01"}, "field-window1-day"),  # beyond 14 days
        ({"tag1": "2031-01-11"}, "field-window1-day"),  # a Saturday
        ({"note": "x" * 501}, "field-note"),
        ({"language": "fr"}, "field-language"),
    ],
)
def test_the_create_form_shows_what_is_wrong(
    app, container, world, service, people, changes, field
):
    client = staff_client(app, "hotline@example.org")

    response = post(
        client, "/staff/rueckrufe/neu", {**VALID, "anliegen": str(service.id), **changes}
    )

    assert response.status_code == 422, response.text
    assert f'<span class="field-error" id="{field}-error">' in response.text
    assert 'class="error-summary"' in response.text
    assert container.callbacks.queue(world.admin) == []


def test_the_create_form_keeps_the_cap_per_person(app, container, service, people):
    client = staff_client(app, "hotline@example.org")
    data = {**VALID, "anliegen": str(service.id)}
    assert post(client, "/staff/rueckrufe/neu", data).status_code == 303
    assert post(client, "/staff/rueckrufe/neu", data).status_code == 303
    third = post(client, "/staff/rueckrufe/neu", data)
    assert third.status_code == 409
    assert 'class="error-summary"' in third.text


def test_a_form_without_the_csrf_token_is_refused(app, request_):
    client = staff_client(app, "hotline@example.org")
    csrf_token(client)
    response = client.post(
        f"/staff/rueckrufe/{request_.id}/uebernehmen", data={}, follow_redirects=False
    )
    assert response.status_code in (400, 403)


# -- the admin's switch -------------------------------------------------------------------------


def test_the_admin_opens_a_queue_to_the_advisors(app, container, service, people):
    admin = staff_client(app, "admin@example.org")
    page = admin.get("/staff/admin")
    assert f'action="/staff/admin/anliegen/{service.id}/rueckrufe"' in page.text
    unchecked = f'id="callbacks-{service.id}" name="advisors_take_callbacks" value="yes">'
    assert f'<input type="checkbox" {unchecked}' in page.text

    response = post(
        admin, f"/staff/admin/anliegen/{service.id}/rueckrufe", {"advisors_take_callbacks": "yes"}
    )

    assert response.status_code == 303
    page = admin.get(response.headers["location"])
    assert "Die Einstellung zur Rückruf-Warteschlange des Anliegens ist gespeichert." in page.text
    assert (
        f'id="callbacks-{service.id}" name="advisors_take_callbacks" value="yes" checked>'
        in page.text
    )
    anna = staff_client(app, "anna@example.org")
    assert anna.get("/staff/rueckrufe").status_code == 200
    assert (
        '<a href="/staff/rueckrufe" aria-current="page">Rückrufe</a>'
        in anna.get("/staff/rueckrufe").text
    )

    post(admin, f"/staff/admin/anliegen/{service.id}/rueckrufe", {})  # unchecked: closed again
    assert anna.get("/staff/rueckrufe").status_code == 403
    assert post(admin, "/staff/admin/anliegen/999999/rueckrufe", {}).status_code == 404


# -- who may do what (table-driven) ---------------------------------------------------------------

ROLES = ["anonymous", "advisor", "advisor_allowed", "hotline", "admin"]
LOGINS = {
    "advisor": "anna@example.org",
    "advisor_allowed": "anna@example.org",
    "hotline": "hotline@example.org",
    "admin": "admin@example.org",
}
# (method, path with {id} and {service}, form data) -> the status per role. 303: done (or, for
# anonymous, to the login page).
PAGES = {
    "queue": ("GET", "/staff/rueckrufe", {}),
    "new": ("GET", "/staff/rueckrufe/neu", {}),
    "create": ("POST", "/staff/rueckrufe/neu", "create"),
    "detail": ("GET", "/staff/rueckrufe/{id}", {}),
    "claim": ("POST", "/staff/rueckrufe/{id}/uebernehmen", {}),
    "release": ("POST", "/staff/rueckrufe/{id}/freigeben", {}),
    "attempt": ("POST", "/staff/rueckrufe/{id}/versuch", {"outcome": "reached"}),
    "settle_step": ("GET", "/staff/rueckrufe/{id}/erledigt", {}),
    "settle": ("POST", "/staff/rueckrufe/{id}/erledigt", {}),
    "picker": ("GET", "/staff/rueckrufe/{id}/buchen", {}),
    "book_step": (
        "GET",
        "/staff/rueckrufe/{id}/buchen?kanal=phone&start=2031-01-07T09:00:00%2B01:00",
        {},
    ),
    "book": (
        "POST",
        "/staff/rueckrufe/{id}/buchen",
        {"start": "2031-01-07T09:00:00+01:00", "kanal": "phone"},
    ),
    "switch": (
        "POST",
        "/staff/admin/anliegen/{service}/rueckrufe",
        {"advisors_take_callbacks": "yes"},
    ),
}
ALLOWED = {"anonymous": 303, "advisor": 404, "advisor_allowed": 200, "hotline": 200, "admin": 200}
EXPECTED = {
    "queue": ALLOWED | {"advisor": 403},
    "new": ALLOWED | {"advisor": 403, "advisor_allowed": 403},
    "create": {
        "anonymous": 303,
        "advisor": 403,
        "advisor_allowed": 403,
        "hotline": 303,
        "admin": 303,
    },
    "detail": ALLOWED,
    "claim": ALLOWED | {"advisor_allowed": 303, "hotline": 303, "admin": 303},
    "release": ALLOWED | {"advisor_allowed": 303, "hotline": 303, "admin": 303},
    "attempt": ALLOWED | {"advisor_allowed": 303, "hotline": 303, "admin": 303},
    "settle_step": ALLOWED,
    "settle": ALLOWED | {"advisor_allowed": 303, "hotline": 303, "admin": 303},
    "picker": ALLOWED,
    "book_step": ALLOWED,
    "book": ALLOWED | {"advisor_allowed": 303, "hotline": 303, "admin": 303},
    "switch": {
        "anonymous": 303,
        "advisor": 403,
        "advisor_allowed": 403,
        "hotline": 403,
        "admin": 303,
    },
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(PAGES))
def test_who_may_open_which_page_and_do_which_action(
    app, container, world, service, people, request_, role, name
):
    if role == "advisor_allowed":
        container.callbacks.open_to_advisors(world.admin, service.id, True)
    if name == "release" and role in ("advisor_allowed", "hotline", "admin"):
        # Something to release: the actor's own claim.
        container.callbacks.claim(_identity(container, LOGINS[role]), request_.id)
    method, path, data = PAGES[name]
    path = path.format(id=request_.id, service=service.id)
    if data == "create":
        data = {**VALID, "anliegen": str(service.id)}
    client = TestClient(app) if role == "anonymous" else staff_client(app, LOGINS[role])

    if method == "GET":
        response = client.get(path, follow_redirects=False)
    else:
        response = post(client, path, data)

    assert response.status_code == EXPECTED[name][role], response.text[:500]
    if role == "anonymous":
        assert response.headers["location"].startswith("/staff/login?next=")
