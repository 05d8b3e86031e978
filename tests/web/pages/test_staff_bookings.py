"""Finding a booking and acting on it from its staff page: each action's confirmation step,
the action itself, CSRF, who may, and unknown references."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.models import AuditEntry, BookingStatus, Role
from scheduler.requests import BookingRequest
from tests.web.pages.test_staff_login import field_error, post, staff_client

# MONDAY (6 January 2031) is a public holiday in Saxony-Anhalt: the appointments are on Tuesday.
NINE = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
# Every action: its page (GET, the confirmation step) and its form (POST), with the form's data.
ACTIONS = {
    "absagen": ("/absagen", {}),
    "verschieben": ("/verschieben?start=2031-01-07T10:00:00%2B01:00", {"start": ""}),
    "bestaetigung": ("/bestaetigung", {}),
    "link": ("/link", {}),
    "ergebnis": ("/ergebnis?ergebnis=completed", {"outcome": "completed"}),
    "notiz": ("/notiz", {"note": "Rückruf erbeten", "step": "speichern"}),
}


@pytest.fixture
def service(world):
    return world.service(name="Wohngeld", channels=["video", "phone"])


@pytest.fixture
def people(world, service):
    """anna and bernd advise the service; hotline works the phone."""
    return {
        "anna": world.advisor([service], email="anna@example.org"),
        "bernd": world.advisor([service], email="bernd@example.org"),
        "hotline": world.advisor([], email="hotline@example.org", role=Role.HOTLINE),
    }


@pytest.fixture
def desk(container, world):
    """The desk, as the admin sees it: to check what the pages did."""

    class AdminDesk:
        def booking(self, reference):
            return container.desk.booking(world.admin, reference)

        def notes(self, reference):
            return container.desk.notes(world.admin, reference)

        def cancel(self, reference):
            return container.desk.cancel(world.admin, reference)

    return AdminDesk()


def _book(container, service, advisor, start=NINE, **fields):
    request = BookingRequest(
        service_id=service.id,
        start=start,
        channel=fields.pop("channel", "video"),
        name=fields.pop("name", "Jürgen Müller"),
        email=fields.pop("email", "juergen@example.org"),
        advisor_id=advisor.id,
        **fields,
    )
    placed = container.scheduler.book(request)
    assert placed.booking is not None
    return placed.booking


@pytest.fixture
def booking(container, service, people):
    return _book(container, service, people["anna"], phone="+49 391 1234567")


def _outbox_kinds(container, booking_id):
    with read_session(container.sessions) as session:
        return list(
            session.scalars(
                select(OutboxMessage.kind)
                .where(OutboxMessage.booking_id == booking_id, OutboxMessage.kind != "reminder")
                .order_by(OutboxMessage.id)
            )
        )


# -- finding --------------------------------------------------------------------------------


def test_the_search_page_has_a_labelled_field_and_is_in_the_navigation(app, people):
    page = staff_client(app, "hotline@example.org").get("/staff/buchungen")
    assert page.status_code == 200
    assert '<label for="q">Buchungsnummer, Name, E-Mail oder Telefon</label>' in page.text
    assert '<a href="/staff/buchungen" aria-current="page">Termin finden</a>' in page.text


@pytest.mark.parametrize("typed", ["MÜLLER", "muller", "mueller", "juergen@", "0391 1234"])
def test_the_search_lists_the_hits_with_links(app, booking, typed):
    page = staff_client(app, "hotline@example.org").get("/staff/buchungen", params={"q": typed})
    assert page.status_code == 200
    assert "1 Termin gefunden" in page.text
    assert f'href="/staff/buchungen/{booking.reference}"' in page.text
    assert "Jürgen Müller" in page.text


def test_a_too_short_search_is_answered_at_the_field(app, people):
    page = staff_client(app, "hotline@example.org").get("/staff/buchungen?q=x")
    assert page.status_code == 422
    assert field_error(page.text, "q") == "Bitte geben Sie mindestens 2 Zeichen ein."
    assert 'class="error-summary"' in page.text


def test_an_advisor_finds_only_their_own(app, booking):
    found = staff_client(app, "anna@example.org").get("/staff/buchungen?q=muller").text
    hidden = staff_client(app, "bernd@example.org").get("/staff/buchungen?q=muller").text
    assert booking.reference in found
    assert booking.reference not in hidden
    assert "0 Termine gefunden" in hidden


def test_the_search_page_is_in_english_too(app, booking):
    page = staff_client(app, "hotline@example.org").get("/staff/buchungen?q=muller&lang=en")
    assert "1 appointment found" in page.text


# -- the booking's page -------------------------------------------------------------------------


def test_the_booking_page_offers_every_action_of_a_coming_appointment(app, booking):
    page = staff_client(app, "hotline@example.org").get(f"/staff/buchungen/{booking.reference}")
    assert page.status_code == 200
    for action in ("verschieben", "absagen", "bestaetigung", "link", "notiz"):
        assert f'href="/staff/buchungen/{booking.reference}/{action}"' in page.text
    assert "ergebnis" not in page.text  # not begun yet


def test_without_an_address_nothing_is_offered_to_send(app, container, service, booking, people):
    other = _book(
        container,
        service,
        people["anna"],
        NINE + timedelta(hours=1),
        channel="phone",
        email=None,
        phone="0391 5",
    )
    page = staff_client(app, "hotline@example.org").get(f"/staff/buchungen/{other.reference}")
    assert "/bestaetigung" not in page.text
    assert f"/staff/buchungen/{other.reference}/link" not in page.text


def test_opening_the_booking_page_is_audited(app, container, booking):
    staff_client(app, "hotline@example.org").get(f"/staff/buchungen/{booking.reference}")
    with read_session(container.sessions) as session:
        reads = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "read", AuditEntry.detail == "")
        )
        assert [e.booking_id for e in reads] == [booking.id]


# -- each action: its confirmation step, then the action ------------------------------------------


@pytest.mark.parametrize("action", ["absagen", "bestaetigung", "link"])
def test_the_confirmation_step_changes_nothing_and_has_the_form(
    app, container, booking, action, desk
):
    client = staff_client(app, "hotline@example.org")
    page = client.get(f"/staff/buchungen/{booking.reference}/{action}")
    assert page.status_code == 200
    assert f'action="/staff/buchungen/{booking.reference}/{action}"' in page.text
    assert 'name="csrf_token"' in page.text
    assert 'href="/staff/buchungen/' + booking.reference + '">Nein, zurück zum Termin' in page.text
    after = desk.booking(booking.reference)
    assert (after.status, after.token_version) == ("confirmed", 1)
    assert _outbox_kinds(container, booking.id) == ["confirmation"]


def test_cancel_after_confirming(app, container, booking, desk):
    client = staff_client(app, "hotline@example.org")
    response = post(client, f"/staff/buchungen/{booking.reference}/absagen")
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/buchungen/{booking.reference}?erledigt=abgesagt"
    assert "Der Termin ist abgesagt." in client.get(response.headers["location"]).text
    assert desk.booking(booking.reference).status == "cancelled"
    assert _outbox_kinds(container, booking.id) == ["confirmation", "cancellation"]


def test_resend_the_confirmation_after_confirming(app, container, booking):
    client = staff_client(app, "hotline@example.org")
    response = post(client, f"/staff/buchungen/{booking.reference}/bestaetigung")
    assert response.status_code == 303
    assert _outbox_kinds(container, booking.id) == ["confirmation", "confirmation"]
    assert "Die Bestätigung wird erneut gesendet." in client.get(response.headers["location"]).text


def test_a_new_link_after_confirming_ends_the_old_one(app, container, booking, desk):
    old_manage, _ = container.scheduler.links(booking)
    client = staff_client(app, "hotline@example.org")
    response = post(client, f"/staff/buchungen/{booking.reference}/link")
    assert response.status_code == 303
    assert desk.booking(booking.reference).token_version == 2
    assert _outbox_kinds(container, booking.id) == ["confirmation", "link_reissued"]
    assert client.get(f"/b/{old_manage}", follow_redirects=False).status_code == 410


def test_a_cancelled_booking_cannot_be_confirmed_again(app, container, booking, desk):
    desk.cancel(booking.reference)
    client = staff_client(app, "hotline@example.org")
    response = post(client, f"/staff/buchungen/{booking.reference}/bestaetigung")
    assert response.status_code == 409
    assert "abgesagt" in field_error(response.text, "confirm")


def test_move_with_the_slot_picker_then_confirm(app, container, booking, desk):
    client = staff_client(app, "hotline@example.org")
    picker = client.get(f"/staff/buchungen/{booking.reference}/verschieben?ab=2031-01-07")
    assert picker.status_code == 200
    links = re.findall(
        rf'href="(/staff/buchungen/{booking.reference}/verschieben\?start=[^"]+)"', picker.text
    )
    assert links
    chosen = next(link for link in links if "2031-01-07T10%3A00" in link)
    confirm = client.get(chosen.replace("&amp;", "&"))
    assert confirm.status_code == 200
    assert "Termin " + booking.reference + " verschieben?" in confirm.text
    assert 'value="2031-01-07T10:00:00+01:00"' in confirm.text
    assert desk.booking(booking.reference).start == NINE
    moved = post(
        client,
        f"/staff/buchungen/{booking.reference}/verschieben",
        {"start": "2031-01-07T10:00:00+01:00"},
    )
    assert moved.status_code == 303
    after = desk.booking(booking.reference)
    assert after.start == NINE + timedelta(hours=1)
    assert _outbox_kinds(container, booking.id) == ["confirmation", "reschedule"]


def test_a_move_to_a_taken_time_shows_the_picker_again(
    app, container, service, booking, desk, people
):
    ten = NINE + timedelta(hours=1)
    _book(container, service, people["anna"], ten, name="A", email="a@example.org")
    _book(container, service, people["bernd"], ten, name="B", email="b@example.org")
    client = staff_client(app, "hotline@example.org")
    response = post(
        client,
        f"/staff/buchungen/{booking.reference}/verschieben",
        {"start": "2031-01-07T10:00:00+01:00"},
    )
    assert response.status_code == 409
    assert "Dieser Termin wurde gerade von jemand anderem gebucht." in response.text
    assert desk.booking(booking.reference).start == NINE


def test_an_outcome_before_the_appointment_is_refused_on_the_confirmation_page(app, booking):
    client = staff_client(app, "anna@example.org")
    page = client.get(f"/staff/buchungen/{booking.reference}/ergebnis?ergebnis=no_show")
    assert page.status_code == 200
    assert "als nicht erschienen markieren?" in page.text
    refused = post(client, f"/staff/buchungen/{booking.reference}/ergebnis", {"outcome": "no_show"})
    assert refused.status_code == 409
    assert field_error(refused.text, "confirm")


def test_an_outcome_after_the_appointment_began(app, container, clock, booking, desk):
    clock.advance(days=1, hours=1, minutes=5)
    client = staff_client(app, "anna@example.org")
    page = client.get(f"/staff/buchungen/{booking.reference}").text
    assert f"/staff/buchungen/{booking.reference}/ergebnis?ergebnis=completed" in page
    done = post(client, f"/staff/buchungen/{booking.reference}/ergebnis", {"outcome": "completed"})
    assert done.status_code == 303
    status = desk.booking(booking.reference).status
    assert status == BookingStatus.COMPLETED


@pytest.mark.parametrize("outcome", ["", "cancelled", "confirmed"])
def test_only_held_or_no_show_are_outcomes_here_too(app, clock, booking, outcome):
    clock.advance(days=1, hours=2)
    client = staff_client(app, "anna@example.org")
    page = client.get(f"/staff/buchungen/{booking.reference}/ergebnis?ergebnis={outcome}")
    sent = post(client, f"/staff/buchungen/{booking.reference}/ergebnis", {"outcome": outcome})
    assert (page.status_code, sent.status_code) == (422, 422)


# -- the staff note ----------------------------------------------------------------------------


def test_a_note_is_checked_then_saved_and_shown_to_staff_only(app, container, booking, desk):
    client = staff_client(app, "anna@example.org")
    path = f"/staff/buchungen/{booking.reference}/notiz"
    form = client.get(path)
    assert '<label for="note">Notiz für Mitarbeitende</label>' in form.text
    check = post(client, path, {"note": "Bringt <Bescheid> mit", "step": "pruefen"})
    assert check.status_code == 200
    assert "Diese Notiz speichern?" in check.text
    assert "Bringt &lt;Bescheid&gt; mit" in check.text
    assert desk.notes(booking.reference) == []
    change = post(client, path, {"note": "Bringt <Bescheid> mit", "step": "aendern"})
    assert "Bringt &lt;Bescheid&gt; mit</textarea>" in change.text
    saved = post(client, path, {"note": "Bringt <Bescheid> mit", "step": "speichern"})
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert "Die Notiz ist gespeichert." in page
    assert "Bringt &lt;Bescheid&gt; mit" in page
    # The citizen's side: the confirmation sent again carries no note.
    post(client, f"/staff/buchungen/{booking.reference}/bestaetigung")
    container.outbox.deliver_due()
    with read_session(container.sessions) as session:
        bodies = session.scalars(
            select(OutboxMessage.text_body).where(OutboxMessage.booking_id == booking.id)
        )
        assert all("Bescheid" not in (body or "") for body in bodies)


@pytest.mark.parametrize(
    ("note", "message"),
    [("", "Bitte schreiben Sie die Notiz."), ("x" * 1001, "höchstens 1000 Zeichen")],
)
def test_an_empty_or_too_long_note_is_refused_at_the_field(app, booking, note, message):
    client = staff_client(app, "anna@example.org")
    for step in ("pruefen", "speichern"):
        page = post(
            client, f"/staff/buchungen/{booking.reference}/notiz", {"note": note, "step": step}
        )
        assert page.status_code == 422
        assert message.lower() in field_error(page.text, "note").lower()


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_needs_the_csrf_token(app, booking, action):
    client = staff_client(app, "admin@example.org")
    path = f"/staff/buchungen/{booking.reference}/{action}"
    _, data = ACTIONS[action]
    missing = client.post(path, data=data, follow_redirects=False)
    wrong = client.post(path, data={"csrf_token": "x" * 43, **data}, follow_redirects=False)
    assert (missing.status_code, wrong.status_code) == (403, 403)


# Who may do what with anna's booking: an advisor learns nothing of another's (404).
ROLES = [
    ("admin@example.org", 200),
    ("hotline@example.org", 200),
    ("anna@example.org", 200),
    ("bernd@example.org", 404),
]


@pytest.mark.parametrize(("email", "expected"), ROLES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_who_may_open_each_confirmation_step(app, booking, action, email, expected):
    page, _ = ACTIONS[action]
    client = staff_client(app, email)
    assert client.get(f"/staff/buchungen/{booking.reference}{page}").status_code == expected


@pytest.mark.parametrize(("email", "expected"), [(e, 404) for e, x in ROLES if x == 404])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_another_advisor_cannot_act(app, container, booking, action, email, expected, desk):
    _, data = ACTIONS[action]
    data = {**data, "start": "2031-01-07T10:00:00+01:00"} if "start" in data else data
    response = post(
        staff_client(app, email), f"/staff/buchungen/{booking.reference}/{action}", data
    )
    assert response.status_code == expected
    after = desk.booking(booking.reference)
    assert (after.status, after.start, after.token_version) == ("confirmed", NINE, 1)
    assert desk.notes(booking.reference) == []


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_logged_out_goes_to_the_login(app, client, booking, action):
    page, _ = ACTIONS[action]
    response = client.get(f"/staff/buchungen/{booking.reference}{page}", follow_redirects=False)
    assert response.status_code in (303, 307)
    assert "/staff/login" in response.headers["location"]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_unknown_reference_is_not_found(app, people, action):
    page, data = ACTIONS[action]
    data = {**data, "start": "2031-01-07T10:00:00+01:00"} if "start" in data else data
    client = staff_client(app, "admin@example.org")
    assert client.get(f"/staff/buchungen/ZZZZ-ZZZZ{page}").status_code == 404
    assert post(client, f"/staff/buchungen/ZZZZ-ZZZZ/{action}", data).status_code == 404


def test_an_unknown_action_is_not_found(app, booking):
    client = staff_client(app, "admin@example.org")
    assert client.get(f"/staff/buchungen/{booking.reference}/loeschen").status_code == 404
    assert post(client, f"/staff/buchungen/{booking.reference}/loeschen", {}).status_code == 404
