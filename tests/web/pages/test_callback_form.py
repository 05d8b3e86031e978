"""The citizen's callback request form (`/rueckruf`) without JavaScript: the concern from the
query, the office days and time blocks offered, each field's error at its field and in the
summary, the engine's cap as a 409 page, CSRF and the proof of work, the success page with the
link to the request's own page, and the links into the form from the booking pages.

The app runs on the tests' fixed clock (Monday 6 January 2031, 08:00 in Berlin, a public
holiday in Saxony-Anhalt): nothing here depends on today's date.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.callbacks_models import CallbackRequest, CallbackStatus
from scheduler.db import read_session
from scheduler.errors import CallbackWindowsInvalid, InvalidRequest, NotesTooLong, NotFound
from tests.web.pages.test_citizen_flow import open_page, read
from tests.web.pages.test_manage_pages import api_booking
from tests.web.pages.test_staff_login import field_error
from web.pages.callback_fields import TIME_BLOCKS, CallbackEntry, office_days
from web.pages.once import ONCE_FIELD

BERLIN = ZoneInfo("Europe/Berlin")
HOLIDAY = date(2031, 1, 6)  # the clock's "today": Epiphany, closed
TUESDAY = date(2031, 1, 7)
WEDNESDAY = date(2031, 1, 8)


@pytest.fixture
def service(world):
    return world.service(name="Wohngeld: Erstberatung", channels=["video", "phone"])


def _form(client, service, **fields):
    page = open_page(client, "/rueckruf", anliegen=str(service.id))
    data = {
        "csrf_token": page.inputs["csrf_token"],
        ONCE_FIELD: page.inputs[ONCE_FIELD],
        "anliegen": str(service.id),
        "name": "Erika Mustermann",
        "phone": "0391 123456",
        "tag1": TUESDAY.isoformat(),
        "zeit1": "10-12",
        "language": "de",
        "note": "Wohngeld, Bescheid unklar",
    }
    return {k: v for k, v in (data | fields).items() if v is not None}


def _requests(container):
    with read_session(container.sessions) as session:
        return list(session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def _mails(container, recipient):
    with read_session(container.sessions) as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient))
        )


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BERLIN)


# -- the form ----------------------------------------------------------------------------------


def test_the_form_in_german_preselects_the_concern_from_the_query(client, service, world):
    other = world.service(name="Pflege")

    page = open_page(client, "/rueckruf", anliegen=str(service.id))

    assert page.status == 200
    assert page.inputs[f"option:{service.id}"] == "selected"
    assert f"option:{other.id}" not in page.inputs
    assert "Um Rückruf bitten" in page.text
    assert "Wunschzeit 1" in page.text
    assert "Wunschzeit 3 (freiwillig)" in page.text
    for autocomplete in ('autocomplete="name"', 'autocomplete="tel"', 'autocomplete="email"'):
        assert autocomplete in page.html
    assert page.html.count("<fieldset") == 3
    assert page.html.count("<legend>") == 3


def test_the_form_in_english(client, service):
    client.get("/?lang=en")
    page = open_page(client, "/rueckruf", anliegen=str(service.id))
    assert page.status == 200
    assert "Ask for a callback" in page.text
    assert "Preferred time 2 (optional)" in page.text
    assert "Tuesday, 7 January 2031" in page.text


@pytest.mark.parametrize("anliegen", ["", "abc", "999999", "-1", "²", "1" * 25, "x" * 500, "1.0"])
def test_an_unknown_concern_in_the_query_preselects_nothing(client, service, anliegen):
    page = open_page(client, "/rueckruf", anliegen=anliegen)
    assert page.status == 200
    assert not [k for k in page.inputs if k.startswith("option:") and k != "option:de"]


def test_the_days_offered_are_the_coming_office_days(client, service, container):
    page = open_page(client, "/rueckruf")
    days = office_days(container.scheduler)

    # Today is a public holiday, the weekend is closed; two weeks ahead at most.
    assert days[0] == TUESDAY
    assert HOLIDAY not in days
    assert all(d.weekday() < 5 for d in days)
    assert days[-1] <= HOLIDAY + timedelta(days=13)
    assert len(days) == 9  # Tue 7 to Fri 17 January without the weekend
    for day in days:
        assert f'value="{day.isoformat()}"' in page.html
    for start, end in TIME_BLOCKS:
        assert f'value="{start:02d}-{end:02d}"' in page.html
    assert "08:00 bis 10:00" in page.text


def test_today_is_offered_while_a_block_is_ahead(container, clock):
    clock.now = _at(TUESDAY, 15)
    assert office_days(container.scheduler)[0] == TUESDAY
    clock.now = _at(TUESDAY, 18)
    assert office_days(container.scheduler)[0] == WEDNESDAY


# -- sending it ----------------------------------------------------------------------------------


def test_a_request_with_an_email_address_is_stored_and_confirmed(client, service, container):
    answer = read(
        client.post(
            "/rueckruf",
            data=_form(
                client,
                service,
                email="erika@example.org",
                tag2=WEDNESDAY.isoformat(),
                zeit2="14-16",
            ),
        )
    )

    assert answer.status == 200, answer.html
    [stored] = _requests(container)
    assert stored.status == CallbackStatus.OPEN
    assert (stored.name, stored.phone, stored.email) == (
        "Erika Mustermann",
        "0391 123456",
        "erika@example.org",
    )
    assert stored.note == "Wohngeld, Bescheid unklar"
    with read_session(container.sessions) as session:
        callback = container.callbacks.callback_info(session, stored.id)
    assert callback is not None
    assert list(callback.windows) == [
        (_at(TUESDAY, 10), _at(TUESDAY, 12)),
        (_at(WEDNESDAY, 14), _at(WEDNESDAY, 16)),
    ]
    assert "Wir rufen Sie zurück" in answer.text
    assert stored.reference in answer.text
    assert "Wohngeld: Erstberatung" in answer.text
    assert "Dienstag, 7. Januar 2031, 10:00–12:00" in answer.text
    assert "Mittwoch, 8. Januar 2031, 14:00–16:00" in answer.text
    assert "Bestätigung mit dem Link zu Ihrer Bitte per E-Mail geschickt" in answer.text
    assert len(_mails(container, "erika@example.org")) == 1

    [link] = answer.hrefs("/r/")
    own = open_page(client, link)
    assert own.status == 200
    assert stored.reference in own.text
    assert own.html.count(f'action="{link}/zuruecknehmen"') == 1


def test_a_request_without_an_email_address_sends_no_mail(client, service, container):
    answer = read(client.post("/rueckruf", data=_form(client, service, email="")))

    assert answer.status == 200, answer.html
    [stored] = _requests(container)
    assert stored.email is None
    assert "per E-Mail geschickt" not in answer.text
    assert "notieren Sie die Nummer" in answer.text
    with read_session(container.sessions) as session:
        assert session.scalars(select(OutboxMessage)).first() is None
    [link] = answer.hrefs("/r/")
    assert open_page(client, link).status == 200


def test_a_request_in_english(client, service, container):
    client.get("/?lang=en")
    answer = read(client.post("/rueckruf", data=_form(client, service, language="en")))
    assert answer.status == 200
    assert "We will call you back" in answer.text
    assert "Tuesday, 7 January 2031, 10:00–12:00" in answer.text
    assert _requests(container)[0].language == "en"


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"name": ""}, "field-name", "Geben Sie Ihren Namen ein."),
        ({"name": "x" * 201}, "field-name", "200 Zeichen"),
        ({"phone": ""}, "field-phone", "Telefonnummer"),
        ({"phone": "abc"}, "field-phone", "Telefonnummer"),
        ({"tag1": "", "zeit1": ""}, "field-window1-day", "mindestens einen Tag"),
        ({"zeit1": ""}, "field-window1-day", "oder keins von beiden"),
        ({"tag2": WEDNESDAY.isoformat()}, "field-window2-day", "oder keins von beiden"),
        ({"tag1": "2031-01-11"}, "field-window1-day", "aus den Listen"),  # a Saturday
        ({"tag1": "2031-02-04"}, "field-window1-day", "aus den Listen"),  # too far
        ({"tag1": "morgen"}, "field-window1-day", "aus den Listen"),
        ({"zeit1": "07-09"}, "field-window1-day", "aus den Listen"),
        ({"tag3": "2031-01-03", "zeit3": "16-18"}, "field-window3-day", "vorbei"),  # a Friday
        ({"note": "x" * 501}, "field-note", "höchstens 500 Zeichen"),
        ({"email": "nope"}, "field-email", "name@beispiel.de"),
        ({"anliegen": "999999"}, "field-service", "Wählen Sie Ihr Anliegen."),
        ({"language": "fr"}, "field-language", "Sprache"),
    ],
)
def test_form_errors_are_shown_at_their_fields_and_in_the_summary(
    client, service, container, fields, field_id, message
):
    answer = client.post("/rueckruf", data=_form(client, service, **fields))

    assert answer.status_code == 422
    assert message in field_error(answer.text, field_id)
    assert f'href="#{field_id}"' in answer.text
    assert "<title>Fehler:" in answer.text
    assert f'aria-describedby="{field_id}-error"' in answer.text or (
        f'{field_id}-error"' in answer.text and 'aria-invalid="true"' in answer.text
    )
    assert _requests(container) == []
    # What was typed is kept.
    assert 'value="Erika Mustermann"' in answer.text or "name" in fields


def test_a_note_of_500_characters_is_fine(client, service, container):
    answer = client.post("/rueckruf", data=_form(client, service, note="x" * 500))
    assert answer.status_code == 200
    assert len(_requests(container)[0].note) == 500


def test_a_block_already_over_today_is_refused(client, service, container, clock):
    clock.now = _at(TUESDAY, 11)
    page = open_page(client, "/rueckruf")
    assert f'value="{TUESDAY.isoformat()}"' in page.html  # blocks are still ahead today

    over = client.post("/rueckruf", data=_form(client, service, zeit1="08-10"))
    running = client.post(
        "/rueckruf", data=_form(client, service, zeit1="10-12", email="a@example.org")
    )

    assert over.status_code == 422
    assert "schon vorbei" in field_error(over.text, "field-window1-day")
    assert running.status_code == 200  # 10 to 12 has not ended yet
    assert len(_requests(container)) == 1


def test_an_inactive_concern_is_refused_at_the_field(client, service, container, world):
    data = _form(client, service)
    with container.sessions.begin() as session:
        session.get(type(service), service.id).active = False
    answer = client.post("/rueckruf", data=data)
    assert answer.status_code == 422
    assert "Wählen Sie Ihr Anliegen." in field_error(answer.text, "field-service")


@pytest.mark.parametrize(
    ("error", "field"),
    [
        (CallbackWindowsInvalid(field="windows", maximum=3), "window1"),
        (NotesTooLong(field="note", maximum=500), "note"),
        (InvalidRequest("phone invalid", field="phone"), "phone"),
        (NotFound("unknown service", field="service_id"), "service"),
    ],
)
def test_the_engines_refusals_are_put_at_their_fields(error, field):
    entry = CallbackEntry()
    assert entry.refused(error)
    assert list(entry.errors) == [field]


def test_a_refusal_the_form_has_no_words_for_is_not_swallowed():
    assert not CallbackEntry().refused(InvalidRequest("naive", field="x", code="naive_time"))


def test_beyond_the_cap_the_page_says_so(client, service, container):
    for _ in range(container.callbacks.config.max_open_per_person):
        assert client.post("/rueckruf", data=_form(client, service)).status_code == 200

    # The same number written differently is the same person.
    again = read(client.post("/rueckruf", data=_form(client, service, phone="+49 391 123456")))

    assert again.status == 409
    assert "Sie haben schon 2 offene Bitten um Rückruf für dieses Anliegen." in again.text
    assert "<title>Fehler:" in again.html
    assert 'value="+49 391 123456"' in again.html
    assert len(_requests(container)) == 2


def test_without_the_csrf_token_nothing_is_requested(client, service, container):
    data = _form(client, service)
    del data["csrf_token"]
    assert client.post("/rueckruf", data=data).status_code == 403
    data["csrf_token"] = "forged-forged-forged-forged"
    assert client.post("/rueckruf", data=data).status_code == 403
    assert _requests(container) == []


def test_a_bad_proof_of_work_is_shown_at_the_check(client, service, container):
    answer = read(client.post("/rueckruf", data=_form(client, service, altcha="eyJmb3JnZWQiOjF9")))
    assert answer.status == 422
    assert "#field-altcha" in answer.hrefs("#")
    assert answer.attributes["field-altcha"]["tag"] == "div"
    assert _requests(container) == []


# -- the links into it ---------------------------------------------------------------------------


def test_the_start_page_links_each_concern_to_the_form(client, service, world):
    other = world.service(name="Pflege")
    links = open_page(client, "/").hrefs("/rueckruf")
    assert f"/rueckruf?anliegen={service.id}" in links
    assert f"/rueckruf?anliegen={other.id}" in links


def test_no_free_times_links_to_the_form(client, service):
    page = open_page(client, f"/buchen/{service.id}/zeit", kanal="video")
    assert "keine freien Termine" in page.text
    assert f"/rueckruf?anliegen={service.id}" in page.hrefs("/rueckruf")


def test_the_manage_page_links_to_the_form_before_and_after_cancelling(client, world):
    from tests.web.pages.test_citizen_flow import make_service

    service = make_service(world)
    token = api_booking(client, service)["manage_url"].rsplit("/", 1)[1]
    client.get(f"/b/{token}")
    booked = open_page(client, "/termin")
    assert "Fragen vor Ihrem Termin?" in booked.text
    assert f"/rueckruf?anliegen={service.id}" in booked.hrefs("/rueckruf")
    confirm = open_page(client, "/termin/absagen")
    client.post("/termin/absagen", data={"csrf_token": confirm.inputs["csrf_token"]})
    page = open_page(client, "/termin")
    assert f"/rueckruf?anliegen={service.id}" in page.hrefs("/rueckruf")
