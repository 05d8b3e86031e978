"""The page of undeliverable e-mails (web/pages/staff_dead_mail.py): administrators only; each
dead letter with its error and booking; sending one or all again (CSRF-protected) leads back
with a notice; unknown ids 404, bad ones 422; in German and English."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from notifications.models import OutboxMessage, OutboxStatus
from scheduler.db import write_session
from scheduler.models import Role
from tests.conftest import MONDAY, booking_body
from tests.notifications.conftest import outbox
from tests.web.pages.test_staff_login import post, staff_client

PATH = "/staff/admin/unzustellbar"
ERROR = "SMTP 550: 5.1.1 Mailbox unavailable"


@pytest.fixture
def dead(app, client, container, world):
    """A booking whose confirmation the mail server refused for good: the message's id."""
    service = world.service()
    world.advisor([service])
    start = MONDAY.replace(hour=9) + timedelta(days=1)  # Tuesday 10:00 in Berlin
    assert client.post("/api/v1/bookings", json=booking_body(service, start)).status_code == 201
    with write_session(container.sessions) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "confirmation")
            .values(status=OutboxStatus.DEAD, attempts=1, last_error=ERROR)
        )
    [message] = outbox(container, kind="confirmation")
    return message.id


def _client(app, world, role: str) -> TestClient:
    if role == "anonymous":
        return TestClient(app)
    if role == "admin":
        return staff_client(app, "admin@example.org")
    world.advisor([], email=f"{role}@example.org", role=Role(role))
    return staff_client(app, f"{role}@example.org")


@pytest.mark.parametrize(
    ("role", "reading", "sending"),
    [("anonymous", 303, 303), ("advisor", 403, 403), ("hotline", 403, 403), ("admin", 200, 303)],
)
def test_who_may_see_and_send_again(app, world, container, dead, role, reading, sending):
    client = _client(app, world, role)
    if role == "anonymous":
        client.get("/staff/login")  # a CSRF cookie, so that the refusal is about the role
    assert client.get(PATH, follow_redirects=False).status_code == reading
    assert post(client, f"{PATH}/{dead}/senden").status_code == sending
    assert post(client, f"{PATH}/alle-senden").status_code == sending
    status = outbox(container, kind="confirmation")[0].status
    assert status == (OutboxStatus.PENDING if role == "admin" else OutboxStatus.DEAD)


def test_the_page_lists_the_dead_letter_and_the_admin_page_links_to_it(app, dead):
    admin = staff_client(app, "admin@example.org")
    page = admin.get(PATH).text
    assert "Unzustellbare E-Mails" in page
    assert "erika@example.org" in page
    assert ERROR in page
    assert "Bestätigung" in page
    assert f'action="{PATH}/{dead}/senden"' in page
    assert "1 unzustellbare E-Mail." in page
    assert f'href="{PATH}"' in admin.get("/staff/admin").text


def test_sending_again_leads_back_with_a_notice(app, container, dead):
    admin = staff_client(app, "admin@example.org")
    answer = post(admin, f"{PATH}/{dead}/senden")
    again = post(admin, f"{PATH}/{dead}/senden")

    assert answer.headers["location"] == f"{PATH}?gesendet=1"
    assert again.headers["location"] == f"{PATH}?gesendet=0"
    assert "1 E-Mail geht gleich noch einmal hinaus." in admin.get(answer.headers["location"]).text
    assert "nicht mehr unter den unzustellbaren" in admin.get(again.headers["location"]).text
    page = admin.get(PATH).text
    assert "Keine ist unzustellbar" in page


def test_sending_all_again(app, container, dead):
    admin = staff_client(app, "admin@example.org")
    answer = post(admin, f"{PATH}/alle-senden")
    assert answer.headers["location"] == f"{PATH}?gesendet=1"
    assert outbox(container, kind="confirmation")[0].status == OutboxStatus.PENDING


def test_without_the_csrf_token_nothing_is_sent_again(app, container, dead):
    admin = staff_client(app, "admin@example.org")
    answer = admin.post(f"{PATH}/{dead}/senden", follow_redirects=False)
    assert answer.status_code == 403
    assert outbox(container, kind="confirmation")[0].status == OutboxStatus.DEAD


@pytest.mark.parametrize(
    ("path", "status"),
    [(f"{PATH}/999999/senden", 404), (f"{PATH}/abc/senden", 422), (f"{PATH}/-1/senden", 404)],
)
def test_unknown_or_bad_ids(app, dead, path, status):
    admin = staff_client(app, "admin@example.org")
    assert post(admin, path).status_code == status


@pytest.mark.parametrize("query", ["seite=0", "seite=abc", "gesendet=-1"])
def test_bad_queries_are_422(app, dead, query):
    admin = staff_client(app, "admin@example.org")
    assert admin.get(f"{PATH}?{query}").status_code == 422


def test_the_page_in_english(app, dead):
    admin = staff_client(app, "admin@example.org")
    page = admin.get(f"{PATH}?lang=en").text
    assert "Undeliverable e-mails" in page
    assert "Send again" in page
    assert "1 undeliverable e-mail." in page
