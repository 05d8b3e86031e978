"""A citizen's rights through the magic link, as pages without JavaScript: everything held,
shown and downloaded; name and phone corrected at once; a new e-mail address confirmed through
a link sent to it; the data erased once the appointment is over or cancelled."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.addresses import cap_key
from scheduler.contact_change import EMAIL_CHANGE_LIFETIME
from scheduler.db import read_session
from scheduler.models import Booking
from tests.web.pages.test_citizen_flow import TUESDAY, at, make_service, open_page
from tests.web.pages.test_manage_pages import api_booking

EMAIL = "erika@example.org"
NEW = "erika.neu@example.net"


@pytest.fixture
def service(world):
    return make_service(world)


@pytest.fixture
def booking(client, service):
    return api_booking(client, service, phone="0391 123456")


@pytest.fixture
def token(booking):
    return booking["manage_url"].rsplit("/", 1)[1]


@pytest.fixture
def linked(client, token):
    client.get(f"/b/{token}")
    return client


def row(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        return session.scalars(select(Booking).where(Booking.reference == reference)).one()


def delivered(container, kind: str) -> list[OutboxMessage]:
    container.outbox.deliver_due()
    with read_session(container.sessions) as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def confirm_link(container) -> str:
    [mail] = delivered(container, "email_change")
    assert mail.recipient == NEW
    line = next(word for word in mail.text_body.split() if "/termin/email-bestaetigen?" in word)
    return line[line.index("/termin/") :]


def csrf(page) -> str:
    return page.inputs["csrf_token"]


def change(client, **fields: str):
    page = open_page(client, "/termin/daten/aendern")
    values = {"name": "Erika Mustermann", "phone": "0391 123456", "email": EMAIL} | fields
    return client.post(
        "/termin/daten/aendern", data=values | {"csrf_token": csrf(page)}, follow_redirects=False
    )


def ask_for_new_address(client, container) -> str:
    answer = change(client, email=NEW)
    assert answer.status_code == 303
    return confirm_link(container)


def confirm(client, link: str):
    page = open_page(client, link)
    assert page.status == 200, page.text
    data = {"csrf_token": csrf(page), "token": page.inputs["token"]}
    return client.post("/termin/email-bestaetigen", data=data, follow_redirects=False)


# -- seeing and downloading ------------------------------------------------------------------


def test_the_data_page_shows_every_section_in_local_time(linked, booking):
    page = open_page(linked, "/termin/daten")

    assert page.status == 200
    for heading in ("Dieser Termin", "E-Mails, die wir Ihnen geschickt haben", "Unterlagen"):
        assert heading in page.text
    assert booking["reference"] in page.text
    assert EMAIL in page.text
    assert "0391 123456" in page.text
    assert "Dienstag, 7. Januar 2031, 09:00" in page.text  # 08:00 UTC, shown in Berlin


def test_the_data_page_speaks_english(linked):
    page = open_page(linked, "/termin/daten", lang="en")

    assert "Your data" in page.text
    assert "Tuesday, 7 January 2031" in page.text


def test_the_appointment_page_links_to_the_data(linked):
    page = open_page(linked, "/termin")

    assert "/termin/daten" in page.hrefs("/termin/daten")


def test_the_download_is_the_api_export_as_an_attachment(linked, token):
    answer = linked.get("/termin/daten.json")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["cache-control"] == "no-store"
    api = linked.get("/api/v1/booking/export", headers={"Authorization": f"Bearer {token}"})
    assert json.loads(answer.content) == api.json()


def test_the_data_pages_need_the_link(client):
    assert client.get("/termin/daten").status_code == 401
    assert client.get("/termin/daten.json").status_code == 401


# -- correcting name and phone ---------------------------------------------------------------


def test_name_and_phone_change_at_once_and_are_found_by_search(linked, container, booking):
    answer = change(linked, name="Erika Musterfrau", phone="+49 391 654321")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/termin/daten?erfolg=geaendert"
    stored = row(container, booking["reference"])
    assert (stored.name, stored.phone, stored.email) == (
        "Erika Musterfrau",
        "+49 391 654321",
        EMAIL,
    )
    assert "musterfrau" in stored.search_key
    assert "391654321" in stored.search_key
    page = open_page(linked, answer.headers["location"])
    assert "Ihr Name und Ihre Telefonnummer wurden geändert." in page.text
    assert delivered(container, "email_change") == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "data-name"),
        ({"name": "x" * 201}, "data-name"),
        ({"phone": "call me maybe"}, "data-phone"),
        ({"email": "not an address"}, "data-email"),
        ({"email": ""}, "data-email"),
    ],
)
def test_bad_entries_are_refused_with_a_summary(linked, container, booking, fields, field):
    answer = change(linked, **fields)

    assert answer.status_code == 422
    assert f'href="#{field}"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert row(container, booking["reference"]).name == "Erika Mustermann"


def test_a_phone_appointment_keeps_a_number(client, container, service):
    booked = api_booking(client, service, channel="phone", phone="0391 1")
    client.get(f"/b/{booked['manage_url'].rsplit('/', 1)[1]}")

    answer = change(client, phone="")

    assert answer.status_code == 422
    assert row(container, booked["reference"]).phone == "0391 1"


def test_the_form_needs_its_csrf_token(linked):
    answer = linked.post("/termin/daten/aendern", data={"name": "X", "email": EMAIL})

    assert answer.status_code == 403


# -- changing the e-mail address -------------------------------------------------------------


def test_a_new_address_is_only_set_once_confirmed_and_the_old_one_is_told(
    linked, container, booking
):
    link = ask_for_new_address(linked, container)

    assert row(container, booking["reference"]).email == EMAIL  # not yet
    page = open_page(linked, link)  # what a mail scanner does: nothing changes
    assert NEW in page.text
    assert row(container, booking["reference"]).email == EMAIL

    answer = confirm(linked, link)

    assert answer.headers["location"] == "/termin/email-bestaetigt"
    stored = row(container, booking["reference"])
    assert (stored.email, stored.email_key) == (NEW, cap_key(NEW))
    assert "erika.neu@example.net" in stored.search_key
    [notice] = delivered(container, "email_changed")
    assert notice.recipient == EMAIL
    assert "e***@example.net" in notice.text_body
    assert NEW not in notice.text_body


def test_the_confirmation_works_without_the_link_cookie(linked, client, container, app):
    link = ask_for_new_address(linked, container)
    linked.cookies.clear()

    assert confirm(linked, link).status_code == 303


def test_a_confirmation_link_works_once(linked, container, booking):
    link = ask_for_new_address(linked, container)
    confirm(linked, link)

    page = open_page(linked, link)

    assert page.status == 409
    assert row(container, booking["reference"]).email == NEW


def test_a_link_asked_before_another_change_is_refused(linked, container, booking):
    first = ask_for_new_address(linked, container)
    change(linked, email="third@example.com")
    [_, second] = delivered(container, "email_change")
    second_link = next(w for w in second.text_body.split() if "email-bestaetigen" in w)
    confirm(linked, second_link[second_link.index("/termin/") :])

    answer = confirm_post(linked, first)

    assert answer.status_code == 409
    assert row(container, booking["reference"]).email == "third@example.com"


def confirm_post(client, link: str):
    token = parse_qs(urlsplit(link).query, keep_blank_values=True)["token"][0]
    data = {"csrf_token": client.cookies["csrf"], "token": token}
    return client.post("/termin/email-bestaetigen", data=data, follow_redirects=False)


def test_an_expired_link_is_refused(linked, container, clock, booking):
    link = ask_for_new_address(linked, container)
    clock.advance(seconds=EMAIL_CHANGE_LIFETIME.total_seconds() + 1)

    page = open_page(linked, link)

    assert page.status == 410
    assert confirm_post(linked, link).status_code == 410
    assert row(container, booking["reference"]).email == EMAIL


def test_a_forged_or_foreign_token_is_refused(linked, container, booking):
    link = ask_for_new_address(linked, container)
    token = parse_qs(urlsplit(link).query)["token"][0]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    manage = booking["manage_url"].rsplit("/", 1)[1]

    for bad in (forged, manage, "", "x" * 5000):
        assert open_page(linked, "/termin/email-bestaetigen", token=bad).status == 404
        assert confirm_post(linked, f"/termin/email-bestaetigen?token={bad}").status_code == 404
    assert row(container, booking["reference"]).email == EMAIL


def test_a_change_token_opens_no_booking(linked, container):
    """Its audience is its own: the token mailed to the new address cannot manage the booking."""
    link = ask_for_new_address(linked, container)
    token = parse_qs(urlsplit(link).query)["token"][0]
    linked.cookies.clear()

    assert linked.get(f"/b/{token}").status_code == 404
    assert (
        linked.get(
            "/api/v1/booking/export", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )


def test_an_address_with_too_many_open_appointments_is_refused(
    linked, client, container, service, booking
):
    api_booking(client, service, at(TUESDAY, 10), email=NEW)
    api_booking(client, service, at(TUESDAY, 11), email=NEW)
    link = ask_for_new_address(linked, container)

    answer = confirm(linked, link)

    assert answer.status_code == 409
    assert "2" in answer.text
    assert row(container, booking["reference"]).email == EMAIL


def test_no_confirmation_goes_out_once_the_address_changed_meanwhile(
    linked, container, clock, booking, token
):
    change(linked, email=NEW)
    # Changed another way before the worker sent the mail.
    info = container.scheduler.booking_for_token(token)
    other = container.contact_change.email_token(info, "third@example.com", cap_key(EMAIL), clock())
    container.contact_change.confirm(other)

    container.outbox.deliver_due()

    with read_session(container.sessions) as session:
        first = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == NEW)).one()
    assert first.text_body is None  # not rendered: the link could only be refused


# -- erasing ---------------------------------------------------------------------------------


def erase(client):
    page = open_page(client, "/termin/daten/loeschen")
    return page, client.post(
        "/termin/daten/loeschen",
        data={"csrf_token": csrf(page) if "csrf_token" in page.inputs else ""},
        follow_redirects=False,
    )


def test_erasing_is_not_offered_before_the_appointment(linked, container, booking):
    page, answer = erase(linked)

    assert page.status == 200
    assert "/termin/absagen" in page.hrefs("/termin/absagen")
    assert "csrf_token" not in page.inputs
    assert answer.status_code == 403  # no form, no token


def test_erasing_is_refused_before_the_appointment_even_when_posted(linked, container, booking):
    page = open_page(linked, "/termin/daten/aendern")  # any page, for the token

    answer = linked.post("/termin/daten/loeschen", data={"csrf_token": csrf(page)})

    assert answer.status_code == 409
    assert row(container, booking["reference"]).name == "Erika Mustermann"


def test_after_cancelling_the_data_can_be_erased_and_the_link_stops(
    linked, container, booking, token
):
    cancel = open_page(linked, "/termin/absagen")
    linked.post("/termin/absagen", data={"csrf_token": csrf(cancel)})

    page, answer = erase(linked)

    assert "Yes, erase my data" in page.text or "Ja, meine Daten löschen" in page.text
    assert answer.status_code == 303
    assert answer.headers["location"] == "/termin/daten/geloescht"
    assert "booking_link=" in answer.headers["set-cookie"]
    assert open_page(linked, "/termin/daten/geloescht").status == 200
    assert row(container, booking["reference"]).erased
    assert linked.get(f"/b/{token}").status_code == 410
    api = linked.get("/api/v1/booking/export", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


def test_after_the_appointment_the_data_can_be_erased(linked, container, clock, booking):
    clock.now = at(TUESDAY, 10).astimezone(clock.now.tzinfo)

    _, answer = erase(linked)

    assert answer.status_code == 303
    assert row(container, booking["reference"]).erased
    assert linked.get("/termin/daten").status_code == 401


def test_a_change_link_is_worthless_after_erasure(linked, container, clock, booking):
    link = ask_for_new_address(linked, container)
    clock.now = at(TUESDAY, 10).astimezone(clock.now.tzinfo) + timedelta(minutes=1)
    erase(linked)

    assert open_page(linked, link).status == 410


def test_states_and_channels_are_shown_in_words(linked):
    page = open_page(linked, "/termin/daten")

    assert "Gebucht" in page.text
    assert "Videoberatung" in page.text
    assert "confirmed" not in page.text


def test_the_mails_speak_the_booking_language(client, container, service):
    booked = api_booking(client, service, at(TUESDAY, 10), language="en")
    client.get(f"/b/{booked['manage_url'].rsplit('/', 1)[1]}")
    change(client, email=NEW)

    [mail] = delivered(container, "email_change")

    assert mail.subject == (
        f"Please confirm your new e-mail address for appointment {booked['reference']}"
    )
    assert "The link works until Tuesday, 7 January 2031, 8:00 AM." in mail.text_body
    assert "it to go to this address from now on.\n\nIf it was you" in mail.text_body
    assert 'lang="en"' in mail.html_body


def test_the_export_does_not_reveal_the_confirmation_link(linked, container):
    link = ask_for_new_address(linked, container)

    exported = linked.get("/termin/daten.json").json()

    [mail] = [m for m in exported["emails"] if m["kind"] == "email_change"]
    assert mail["recipient"] == NEW
    assert mail["text"] is None
    assert parse_qs(urlsplit(link).query)["token"][0] not in json.dumps(exported)
    assert parse_qs(urlsplit(link).query)["token"][0] not in linked.get("/termin/daten").text
