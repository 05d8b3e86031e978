"""The e-mails to citizens: every kind in German and English, local times, per-channel content,
HTML escaping, no external resources, and complete catalogues."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from notifications.messages import (
    LOCALE_DIR,
    STAFF_KINDS,
    MailContext,
    MailRenderer,
    MessageKind,
    RenderedMail,
)

KINDS = [kind for kind in MessageKind if kind not in STAFF_KINDS]  # the citizen's mails
# The kinds about a booking that still takes place (the cancellations link to no room).
LIVE_KINDS = [
    k for k in KINDS if k not in (MessageKind.CANCELLATION, MessageKind.DISPLACED_CANCELLED)
]
LANGUAGES = ["de", "en"]
START = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # Tuesday, 09:00 in Berlin (CET)
MANAGE_URL = "https://termine.example.org/b/eyJ0eXAi.bWFuYWdl.c2ln"
JOIN_URL = "https://termine.example.org/join/eyJ0eXAi.am9pbg.c2ln"
TEST_URL = "https://termine.example.org/verbindungstest"
URL = re.compile(r"https?://[^\s\"'<>]+")


@pytest.fixture(scope="module")
def renderer() -> MailRenderer:
    return MailRenderer()


def context(**changes: object) -> MailContext:
    base = MailContext(
        reference="K7QM-3XPT",
        service_name="Wohngeld: Erstberatung",
        channel="video",
        start=START,
        end=START + timedelta(minutes=30),
        timezone="Europe/Berlin",
        citizen_name="Erika Mustermann",
        manage_url=MANAGE_URL,
        join_url=JOIN_URL,
        booking_url="https://termine.example.org/",
        connection_test_url=TEST_URL,
        phone=None,
        address=None,
        team_name="Wohngeldstelle",
        hotline_phone="0391 540-0",
        previous_start=START - timedelta(days=1),
    )
    return dataclasses.replace(base, **changes)


def phone_context(**changes: object) -> MailContext:
    return context(**{"channel": "phone", "phone": "0176 1234567", **changes})


def in_person_context(**changes: object) -> MailContext:
    address = "Breiter Weg 222, 39104 Magdeburg"
    return context(**{"channel": "in_person", "join_url": None, "address": address, **changes})


def parts(mail: RenderedMail) -> tuple[str, str, str]:
    return mail.subject, mail.text, mail.html


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs)["href"], ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def links(html: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(html)
    return parser.links


def test_german_and_english_are_available(renderer):
    assert {"de", "en"} <= set(renderer.languages())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_reference_and_service(renderer, kind, language):
    mail = renderer.render(kind, context(), language)
    for part in parts(mail):
        assert part.strip()
        assert "K7QM-3XPT" in part
        assert "Wohngeld: Erstberatung" in part


@pytest.mark.parametrize("kind", KINDS)
def test_german_and_english_differ(renderer, kind):
    german = renderer.render(kind, context(), "de")
    english = renderer.render(kind, context(), "en")
    assert german.subject != english.subject
    assert german.text != english.text
    assert german.html != english.html


def test_confirmation_subject_names_reference_service_and_day(renderer):
    german = renderer.render(MessageKind.CONFIRMATION, context(), "de")
    english = renderer.render(MessageKind.CONFIRMATION, context(), "en")
    assert german.subject == (
        "Terminbestätigung K7QM-3XPT: Wohngeld: Erstberatung am Dienstag, 7. Januar 2031"
    )
    assert english.subject == (
        "Appointment confirmed K7QM-3XPT: Wohngeld: Erstberatung on Tuesday, 7 January 2031"
    )


def test_times_show_weekday_date_start_and_end(renderer):
    german = renderer.render(MessageKind.CONFIRMATION, context(), "de")
    english = renderer.render(MessageKind.CONFIRMATION, context(), "en")
    assert "Dienstag, 7. Januar 2031, 09:00 bis 09:30 Uhr" in german.text
    assert "Dienstag, 7. Januar 2031, 09:00 bis 09:30 Uhr" in german.html
    assert "Tuesday, 7 January 2031, 9:00 AM to 9:30 AM" in english.text
    assert "Tuesday, 7 January 2031, 9:00 AM to 9:30 AM" in english.html


@pytest.mark.parametrize(
    ("start", "german", "english"),
    [
        # Summer time began on Sunday 30 March 2031: 07:00 UTC is 09:00 in Berlin.
        (
            datetime(2031, 3, 31, 7, 0, tzinfo=UTC),
            "Montag, 31. März 2031, 09:00 bis 09:30 Uhr",
            "Monday, 31 March 2031, 9:00 AM to 9:30 AM",
        ),
        (
            datetime(2031, 3, 29, 8, 0, tzinfo=UTC),
            "Samstag, 29. März 2031, 09:00 bis 09:30 Uhr",
            "Saturday, 29 March 2031, 9:00 AM to 9:30 AM",
        ),
    ],
)
def test_times_are_shown_in_local_time_across_daylight_saving(renderer, start, german, english):
    booking = context(start=start, end=start + timedelta(minutes=30))
    assert german in renderer.render(MessageKind.REMINDER, booking, "de").text
    assert english in renderer.render(MessageKind.REMINDER, booking, "en").text


def test_times_given_in_another_zone_are_shown_in_the_booking_zone(renderer):
    start = datetime(2031, 3, 31, 5, 0, tzinfo=ZoneInfo("America/New_York"))  # 09:00 UTC
    booking = context(start=start, end=start + timedelta(minutes=30))
    assert "11:00 bis 11:30 Uhr" in renderer.render(MessageKind.CONFIRMATION, booking, "de").text


def test_naive_times_are_refused(renderer):
    naive = datetime(2031, 1, 7, 9, 0)
    with pytest.raises(ValueError, match="time zone"):
        renderer.render(MessageKind.CONFIRMATION, context(start=naive), "de")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", LIVE_KINDS)
def test_video_mails_link_to_the_room_and_the_connection_test(renderer, kind, language):
    mail = renderer.render(kind, context(), language)
    for part in (mail.text, mail.html):
        assert JOIN_URL in part
        assert TEST_URL in part


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", LIVE_KINDS)
def test_phone_mails_name_the_number_and_no_room(renderer, kind, language):
    mail = renderer.render(kind, phone_context(), language)
    for part in (mail.text, mail.html):
        assert "0176 1234567" in part
        assert JOIN_URL not in part
        assert TEST_URL not in part


@pytest.mark.parametrize(
    ("language", "words"),
    [("de", "Telefonnummer an, die Sie uns genannt haben"), ("en", "the phone number you gave")],
)
def test_phone_mails_without_a_number_refer_to_the_number_given(renderer, language, words):
    mail = renderer.render(MessageKind.CONFIRMATION, phone_context(phone=None), language)
    assert words in mail.text
    assert words in mail.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", LIVE_KINDS)
def test_in_person_mails_give_the_address(renderer, kind, language):
    mail = renderer.render(kind, in_person_context(), language)
    for part in (mail.text, mail.html):
        assert "Breiter Weg 222, 39104 Magdeburg" in part
        assert TEST_URL not in part


def test_address_lines_are_kept_apart_in_html(renderer):
    booking = in_person_context(address="Bürgerbüro\nBreiter Weg 222")
    mail = renderer.render(MessageKind.CONFIRMATION, booking, "de")
    assert "Bürgerbüro\nBreiter Weg 222" in mail.text
    assert "Bürgerbüro<br>Breiter Weg 222" in mail.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", LIVE_KINDS)
def test_mails_link_to_manage_the_booking(renderer, kind, language):
    mail = renderer.render(kind, context(), language)
    assert MANAGE_URL in mail.text
    assert MANAGE_URL in mail.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_cancellation_says_how_to_book_again_instead_of_linking_the_booking(renderer, language):
    mail = renderer.render(MessageKind.CANCELLATION, context(), language)
    for part in (mail.text, mail.html):
        assert MANAGE_URL not in part
        assert JOIN_URL not in part
        assert "https://termine.example.org/" in part
    assert ("Neuen Termin buchen" if language == "de" else "Book a new appointment") in mail.text


@pytest.mark.parametrize(
    ("language", "old", "new"),
    [
        (
            "de",
            "Montag, 6. Januar 2031, 09:00 Uhr",
            "Dienstag, 7. Januar 2031, 09:00 bis 09:30 Uhr",
        ),
        ("en", "Monday, 6 January 2031, 9:00 AM", "Tuesday, 7 January 2031, 9:00 AM to 9:30 AM"),
    ],
)
def test_reschedule_names_old_and_new_time(renderer, language, old, new):
    mail = renderer.render(MessageKind.RESCHEDULE, context(), language)
    for part in (mail.text, mail.html):
        assert old in part
        assert new in part


def test_previous_time_is_only_shown_when_rescheduling(renderer):
    mail = renderer.render(MessageKind.CONFIRMATION, context(), "de")
    assert "Montag, 6. Januar" not in mail.text
    assert "Montag, 6. Januar" not in mail.html


@pytest.mark.parametrize(
    ("kind", "german", "english"),
    [
        (
            MessageKind.REMINDER,
            "Wir erinnern Sie an Ihren Termin am",
            "reminder of your appointment on",
        ),
        (MessageKind.CALLBACK_SCHEDULED, "Hotline", "callback"),
        (MessageKind.LINK_REISSUED, "funktioniert nicht mehr", "no longer works"),
        (MessageKind.CANCELLATION, "abgesagt", "cancelled"),
    ],
)
def test_each_kind_says_what_happened(renderer, kind, german, english):
    assert german in renderer.render(kind, context(), "de").text
    assert english in renderer.render(kind, context(), "en").text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_mail_closes_with_the_hotline(renderer, kind, language):
    mail = renderer.render(kind, context(), language)
    assert "0391 540-0" in mail.text
    assert ("tel:03915400", "0391 540-0") in links(mail.html)


@pytest.mark.parametrize("kind", KINDS)
def test_html_escapes_the_context_and_text_does_not(renderer, kind):
    booking = context(
        citizen_name="<script>alert(1)</script>",
        service_name="Wohngeld & <b>Lastenzuschuss</b>",
        team_name='"Team" <i>',
    )
    mail = renderer.render(kind, booking, "de")
    assert "<script" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "Wohngeld &amp; &lt;b&gt;Lastenzuschuss&lt;/b&gt;" in mail.html
    assert "<script>alert(1)</script>" in mail.text
    assert "Wohngeld & <b>Lastenzuschuss</b>" in mail.text
    assert "&lt;" not in mail.text
    assert "&amp;" not in mail.text


def test_an_address_cannot_inject_markup(renderer):
    booking = in_person_context(address='<img src="https://evil.example/">')
    mail = renderer.render(MessageKind.CONFIRMATION, booking, "de")
    assert "<img" not in mail.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_html_links_only_to_the_booking_and_loads_nothing(renderer, kind, language):
    mail = renderer.render(kind, context(), language)
    allowed = {MANAGE_URL, JOIN_URL, TEST_URL, "https://termine.example.org/"}
    assert set(URL.findall(mail.html)) <= allowed
    for external in ("<img", "src=", "<link", "<script", "url(", "@import", "<style"):
        assert external not in mail.html.lower()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_html_is_a_labelled_document_with_meaningful_links(renderer, kind, language):
    mail = renderer.render(kind, context(), language)
    assert mail.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}" dir="ltr">' in mail.html
    assert '<meta charset="utf-8">' in mail.html
    assert f"<title>{mail.subject}</title>" in mail.html
    assert "<h1" in mail.html
    for href, text in links(mail.html):
        assert text
        assert href not in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_text_part_is_plain(renderer, kind, language):
    text = renderer.render(kind, context(), language).text
    assert "<" not in text
    assert "{" not in text
    assert "%(" not in text
    assert "\n\n\n" not in text


def test_subject_stays_on_one_line(renderer):
    booking = context(service_name="Wohngeld\r\nBcc: everyone@example.org")
    subject = renderer.render(MessageKind.CONFIRMATION, booking, "de").subject
    assert "\n" not in subject
    assert "\r" not in subject


@pytest.mark.parametrize("language", ["fr", "xx", ""])
def test_an_unknown_language_falls_back_to_german(renderer, language):
    german = renderer.render(MessageKind.CONFIRMATION, context(), "de")
    assert renderer.render(MessageKind.CONFIRMATION, context(), language) == german


def test_a_regional_variant_gets_its_language(renderer):
    english = renderer.render(MessageKind.CONFIRMATION, context(), "en")
    assert renderer.render(MessageKind.CONFIRMATION, context(), "en-GB") == english


def read_catalogue(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po)


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_is_translated(language):
    catalogue = read_catalogue(language)
    assert not catalogue.fuzzy
    messages = [message for message in catalogue if message.id]
    assert messages
    for message in messages:
        assert isinstance(message.string, str)
        assert message.string.strip(), message.id
        assert not message.fuzzy, message.id
        assert placeholders(message.string) == placeholders(message.id), message.id


def test_german_texts_differ_from_the_english():
    same = [m.id for m in read_catalogue("de") if m.id and m.string == m.id]
    assert same == []


def test_catalogues_hold_exactly_the_texts_in_code_and_templates():
    package = LOCALE_DIR.parent
    jinja = {
        "extensions": "jinja2.ext.i18n",
        "trimmed": "true",
        "newstyle_gettext": "true",
        "trim_blocks": "true",
        "lstrip_blocks": "true",
    }
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            package,
            [
                ("messages.py", "python"),
                ("templates/**.txt", "jinja2.ext:babel_extract"),
                ("templates/**.html", "jinja2.ext:babel_extract"),
            ],
            {"templates/**.txt": jinja, "templates/**.html": jinja},
            # Jinja hands `{% trans %}` blocks to the extractor as calls of `gettext`.
            keywords={"N_": None, "_": None, "gettext": None},
        )
    }
    for language in LANGUAGES:
        assert {m.id for m in read_catalogue(language) if m.id} == extracted
