"""The development mailbox: without SMTP, delivered messages are kept and shown at /dev/mail;
a production deployment has no such page."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import escape
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import select

from notifications.models import OutboxMessage, OutboxStatus
from scheduler.db import read_session
from tests.conftest import World, booking_body
from web.app import create_app
from web.container import Container
from web.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def book(client: TestClient, world: World, **overrides: Any) -> Any:
    service = world.service()
    world.advisor([service])
    response = client.post(
        "/api/v1/bookings", json=booking_body(service, at(TUESDAY, 9), **overrides)
    )
    assert response.status_code == 201, response.text
    return response.json()


def messages(container: Container) -> list[OutboxMessage]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def delivered_confirmation(client: TestClient, world: World, container: Container) -> OutboxMessage:
    """Book, deliver what is due, and return the confirmation as stored afterwards."""
    book(client, world)
    assert container.outbox.deliver_due() == 1  # the reminders are not due yet
    (confirmation,) = [m for m in messages(container) if m.kind == "confirmation"]
    return confirmation


class Iframes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.found.append(dict(attrs))


def iframes(html: str) -> list[dict[str, str | None]]:
    parser = Iframes()
    parser.feed(html)
    return parser.found


def test_without_smtp_delivered_messages_are_kept(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)

    assert confirmation.status == OutboxStatus.KEPT
    assert confirmation.attempts == 1
    assert confirmation.sent_at is not None
    assert confirmation.last_error is None


def test_the_mailbox_lists_kept_messages(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)

    response = client.get("/dev/mail")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f'<a href="/dev/mail/{confirmation.id}">{escape(confirmation.subject)}</a>' in page
    assert "<td>kept</td>" in page
    assert "<td>erika@example.org</td>" in page


def test_the_mailbox_lists_pending_reminders_too(
    client: TestClient, world: World, container: Container
) -> None:
    delivered_confirmation(client, world, container)
    reminders = [m for m in messages(container) if m.kind == "reminder"]

    page = client.get("/dev/mail").text

    assert len(reminders) == 2
    for reminder in reminders:
        assert f'href="/dev/mail/{reminder.id}"' in page
    assert page.count("<td>pending</td>") == 2


def test_the_mailbox_escapes_what_it_shows(
    client: TestClient, world: World, container: Container
) -> None:
    service = world.service(name="<script>alert(1)</script> Beratung")
    world.advisor([service])
    body = booking_body(service, at(TUESDAY, 9))
    assert client.post("/api/v1/bookings", json=body).status_code == 201
    container.outbox.deliver_due()

    page = client.get("/dev/mail").text

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_message_page_shows_the_text(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)

    response = client.get(f"/dev/mail/{confirmation.id}")

    assert response.status_code == 200
    assert f"<pre>{escape(confirmation.text_body)}</pre>" in response.text
    assert escape(confirmation.message_id) in response.text


def test_a_message_page_shows_the_html_in_a_sandboxed_iframe(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)

    (frame,) = iframes(client.get(f"/dev/mail/{confirmation.id}").text)

    assert frame["sandbox"] in ("", None)  # present and empty: scripts, forms, top navigation off
    srcdoc = frame["srcdoc"] or ""
    assert confirmation.subject in srcdoc
    assert f'<link rel="stylesheet" href="/dev/mail/{confirmation.id}/mail.css">' in srcdoc


def test_the_framed_mail_has_no_inline_style_which_the_policy_would_block(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)
    assert ' style="' in confirmation.html_body

    (frame,) = iframes(client.get(f"/dev/mail/{confirmation.id}").text)

    assert " style=" not in (frame["srcdoc"] or "")
    assert "<style" not in (frame["srcdoc"] or "")


def test_the_mails_styles_come_as_a_stylesheet_of_our_origin(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)
    (frame,) = iframes(client.get(f"/dev/mail/{confirmation.id}").text)
    marked = re.search(r'<h1 data-mail-style="(\d+)"', frame["srcdoc"] or "")
    assert marked is not None

    response = client.get(f"/dev/mail/{confirmation.id}/mail.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    rule = f'[data-mail-style="{marked.group(1)}"] {{ font-size: 1.5em !important;'
    assert rule in response.text


def test_a_message_page_links_its_invite(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)

    page = client.get(f"/dev/mail/{confirmation.id}").text

    assert f'href="/dev/mail/{confirmation.id}/invite.ics"' in page
    assert "(REQUEST)" in page


def test_the_invite_is_text_calendar(
    client: TestClient, world: World, container: Container
) -> None:
    confirmation = delivered_confirmation(client, world, container)

    response = client.get(f"/dev/mail/{confirmation.id}/invite.ics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "method=REQUEST" in response.headers["content-type"]
    assert response.content.decode() == confirmation.ics
    calendar = Calendar.from_ical(response.content)
    assert all(component.errors == [] for component in calendar.walk())
    assert str(calendar["method"]) == "REQUEST"


def test_an_unknown_message_is_404_json(client: TestClient, world: World) -> None:
    response = client.get("/dev/mail/4711")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_the_invite_of_an_unknown_message_is_404_json(client: TestClient, world: World) -> None:
    response = client.get("/dev/mail/4711/invite.ics")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_message_without_an_invite_has_no_invite_ics(
    client: TestClient, world: World, container: Container
) -> None:
    delivered_confirmation(client, world, container)
    reminder = next(m for m in messages(container) if m.kind == "reminder")
    assert reminder.ics is None

    response = client.get(f"/dev/mail/{reminder.id}/invite.ics")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_mailbox_is_not_in_the_api_description(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert not [path for path in paths if path.startswith("/dev")]


def test_in_production_there_is_no_mailbox(settings: Settings) -> None:
    production = settings.model_copy(
        update={
            "env": "production",
            "secret_key": "a-production-secret-of-at-least-32-characters",
            "smtp_host": "127.0.0.1",
        }
    )
    app = create_app(production)
    try:
        with TestClient(app) as client:
            for path in ("/dev/mail", "/dev/mail/1", "/dev/mail/1/invite.ics"):
                response = client.get(path)
                assert response.status_code == 404, path
                assert response.json()["code"] == "unknown_path"
    finally:
        app.state.container.engine.dispose()
