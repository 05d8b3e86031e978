"""Dead letters (notifications/dead_mail.py): administrators see what the outbox gave up on,
newest first with its error and booking, and send it again; the worker then delivers it to the
real SMTP server, once. Sending again what is not dead changes nothing; each step is audited
without the address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from notifications.dead_mail import PAGE
from notifications.models import OutboxMessage, OutboxStatus
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session, write_session
from scheduler.errors import NotFound, PermissionDenied
from scheduler.models import AuditEntry, Role, Service
from tests.conftest import Clock, World
from tests.notifications.conftest import TUESDAY, SmtpServer, book, deliver_all, outbox
from web.container import Container


@pytest.fixture
def service(world: World) -> Service:
    service = world.service()
    world.advisor([service])
    return service


def _refused(container: Container, smtp: SmtpServer, service: Service, count: int) -> list[str]:
    """`count` confirmations the mail server refused for good: their booking references."""
    smtp.mailbox.rcpt_reply = "550 5.1.1 Mailbox unavailable"
    references = [
        book(
            container, service, TUESDAY + timedelta(minutes=30 * n), email=f"p{n}@example.org"
        ).reference
        for n in range(count)
    ]
    deliver_all(container)
    smtp.mailbox.rcpt_reply = None
    return references


def _audit(container: Container) -> list[tuple[str, int | None, str]]:
    with read_session(container.sessions) as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.booking_id, AuditEntry.detail)
            .where(AuditEntry.action.like("mail_resent%"))
            .order_by(AuditEntry.id)
        )
        return [(action, booking_id, detail) for action, booking_id, detail in rows]


def test_the_list_shows_each_dead_letter_with_its_error_and_booking(
    container: Container, world: World, service: Service, smtp: SmtpServer
):
    references = _refused(container, smtp, service, 2)

    found = container.dead_mail.list(world.admin)

    assert found.total == 2
    assert [letter.reference for letter in found.letters] == references[::-1]  # newest first
    letter = found.letters[0]
    assert letter.kind == "confirmation"
    assert letter.recipient == "p1@example.org"
    assert letter.attempts == 1
    assert "5.1.1 Mailbox unavailable" in (letter.last_error or "")


def test_sent_again_it_is_delivered_once_and_the_step_is_audited(
    container: Container, world: World, service: Service, smtp: SmtpServer, clock: Clock
):
    [reference] = _refused(container, smtp, service, 1)
    [message] = outbox(container, kind="confirmation")
    clock.advance(hours=1)

    assert container.dead_mail.resend(world.admin, message.id) is True
    again = container.dead_mail.resend(world.admin, message.id)  # no longer dead: nothing
    deliver_all(container)

    assert again is False
    assert smtp.per_message_id()[message.message_id] == 1
    [sent] = outbox(container, kind="confirmation")
    assert (sent.status, sent.attempts, sent.last_error) == (OutboxStatus.SENT, 1, None)
    [received] = [r for r in smtp.received if r.message_id == message.message_id]
    assert reference in received.message["Subject"]
    assert _audit(container) == [
        ("mail_resent", message.booking_id, f"outbox message {message.id}")
    ]


def test_all_are_sent_again_at_once(
    container: Container, world: World, service: Service, smtp: SmtpServer
):
    _refused(container, smtp, service, 3)

    assert container.dead_mail.resend_all(world.admin) == 3
    assert container.dead_mail.resend_all(world.admin) == 0  # nothing left: no audit entry
    deliver_all(container)

    confirmations = {m.message_id for m in outbox(container, kind="confirmation")}
    assert {r.message_id for r in smtp.received} >= confirmations
    assert container.dead_mail.list(world.admin).total == 0
    assert _audit(container) == [("mail_resent_all", None, "3 outbox messages")]


def test_an_unknown_message_is_not_found(container: Container, world: World):
    with pytest.raises(NotFound):
        container.dead_mail.resend(world.admin, 999_999)


@pytest.mark.parametrize("role", [Role.ADVISOR, Role.HOTLINE])
def test_only_administrators_see_and_send_again(
    container: Container, world: World, service: Service, smtp: SmtpServer, role: Role
):
    _refused(container, smtp, service, 1)
    [message] = outbox(container, kind="confirmation")
    other = StaffIdentity.of(world.advisor([], role=role))
    for attempt in (
        lambda: container.dead_mail.list(other),
        lambda: container.dead_mail.resend(other, message.id),
        lambda: container.dead_mail.resend_all(other),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert outbox(container, kind="confirmation")[0].status == OutboxStatus.DEAD


def test_the_list_comes_in_pages(
    container: Container, world: World, service: Service, smtp: SmtpServer
):
    [reference] = _refused(container, smtp, service, 1)
    [message] = outbox(container, kind="confirmation")
    # More dead letters than a page holds, older than the real one.
    with write_session(container.sessions) as session:
        for n in range(PAGE):
            session.add(
                OutboxMessage(
                    kind="confirmation",
                    recipient=f"p{n}@example.org",
                    language="de",
                    message_id=f"<dead-{n}@example.org>",
                    status=OutboxStatus.DEAD,
                    attempts=8,
                    not_before=message.not_before,
                    created_at=message.created_at - timedelta(minutes=n + 1),
                    last_error="451 try again",
                )
            )
        session.execute(
            update(OutboxMessage).values(booking_id=None).where(OutboxMessage.id != message.id)
        )

    first = container.dead_mail.list(world.admin)
    second = container.dead_mail.list(world.admin, page=2)
    beyond = container.dead_mail.list(world.admin, page=99)

    assert (first.total, first.pages, len(first.letters)) == (PAGE + 1, 2, PAGE)
    assert first.letters[0].reference == reference
    assert [letter.recipient for letter in second.letters] == [f"p{PAGE - 1}@example.org"]
    assert beyond.page == 2
