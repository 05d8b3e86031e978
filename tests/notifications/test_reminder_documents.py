"""The reminder lists the documents the service names that the citizen has not handed in yet
(documents/requirements.py), with the link to the appointment page's documents section, in
the booking's language, in the text and the HTML part; none when nothing is missing or the
service names none. Delivered to a real SMTP server (aiosmtpd) by the outbox, at its time."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest

from documents.requirements import NamedEntry, Requirements
from scheduler.models import Service
from tests.conftest import Clock, World
from tests.documents.test_document_desk import make_pdf
from tests.notifications.conftest import TUESDAY, SmtpServer, book, deliver_all, text_of
from web.container import Container

WEDNESDAY = TUESDAY + timedelta(days=1)


@pytest.fixture
def service(world: World) -> Service:
    service = world.service()
    world.advisor([service])
    return service


def html_of(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return str(part.get_content())
    raise AssertionError("no text/html part")


def first_reminder(container: Container, smtp: SmtpServer, clock: Clock) -> EmailMessage:
    """The 24-hour reminder of the Wednesday appointment, as it arrived."""
    deliver_all(container)
    before = len(smtp.received)
    clock.now = WEDNESDAY - timedelta(hours=24)
    deliver_all(container)
    [received] = smtp.received[before:]
    assert str(received.message["Subject"]).startswith(("Terminerinnerung", "Appointment rem"))
    return received.message


NAMED = [
    NamedEntry("Letzter Bescheid", "Last notice"),
    NamedEntry("Mietvertrag", "Lease"),
    NamedEntry("Kontoauszüge"),
]


def text(message: EmailMessage) -> str:
    return text_of(message).replace("\r\n", "\n")


def test_the_reminder_lists_the_missing_documents_in_german(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    notice, _, _ = Requirements(container.sessions).replace(service.id, NAMED)
    booking = book(container, service, WEDNESDAY)
    container.documents.hand_in(booking.id, make_pdf(), "bescheid.pdf", requirement_id=notice.id)

    message = first_reminder(container, smtp, clock)

    words = text(message)
    assert "Noch fehlende Unterlagen" in words
    assert "- Mietvertrag\n- Kontoauszüge\n" in words
    assert "Letzter Bescheid" not in words
    assert "/b/" in words
    assert "#unterlagen" in words
    html = html_of(message)
    assert "<li>Mietvertrag</li>" in html
    assert "<li>Kontoauszüge</li>" in html
    assert "Letzter Bescheid" not in html
    assert "#unterlagen" in html
    assert "Unterlagen einreichen" in html


def test_the_reminder_lists_them_in_english_for_an_english_booking(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    Requirements(container.sessions).replace(service.id, NAMED)
    book(container, service, WEDNESDAY, language="en")

    message = first_reminder(container, smtp, clock)

    words = text(message)
    assert "Documents still missing" in words
    # No English name: the German one.
    assert "- Last notice\n- Lease\n- Kontoauszüge\n" in words
    assert "<li>Lease</li>" in html_of(message)
    assert "Hand in documents" in html_of(message)


def test_no_list_when_everything_is_handed_in(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    named = Requirements(container.sessions).replace(
        service.id, [NamedEntry("Mietvertrag"), NamedEntry("Kontoauszüge")]
    )
    booking = book(container, service, WEDNESDAY)
    for entry in named:
        container.documents.hand_in(booking.id, make_pdf(), "a.pdf", requirement_id=entry.id)

    message = first_reminder(container, smtp, clock)

    assert "Noch fehlende Unterlagen" not in text_of(message)
    assert "Noch fehlende Unterlagen" not in html_of(message)
    assert "#unterlagen" not in text_of(message)


def test_no_list_when_the_service_names_no_documents(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    book(container, service, WEDNESDAY)

    message = first_reminder(container, smtp, clock)

    assert "Wir erinnern Sie an Ihren Termin" in text_of(message)
    assert "Unterlagen" not in text_of(message)
    assert "Unterlagen einreichen" not in html_of(message)
