"""Delivering the outbox to a real SMTP server (aiosmtpd): what arrives, in which form and
language; STARTTLS with login; and the faults: a server that is down, refuses for good or for
now, a worker that died holding its claim, and two workers at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from notifications.delivery import DeliveryPolicy, Outbox, OutboxWorker, SmtpTransport
from notifications.messages import MessageKind
from notifications.models import OutboxMessage, OutboxStatus
from scheduler.db import call_after_commit, make_engine, make_sessionmaker
from scheduler.models import Service
from tests.conftest import Clock, World, booking_body
from tests.notifications.conftest import (
    CITIZEN,
    TUESDAY,
    Certificate,
    SmtpServer,
    book,
    deliver_all,
    outbox,
    text_of,
)
from web.container import Container
from web.settings import Settings

WEDNESDAY = TUESDAY + timedelta(days=1)
USER, PASSWORD = "mailer", "s3cret-for-smtp"


@pytest.fixture
def service(world: World) -> Service:
    service = world.service()
    world.advisor([service])
    return service


def _only(messages: list[OutboxMessage]) -> OutboxMessage:
    assert len(messages) == 1, messages
    return messages[0]


def _confirmation(container: Container) -> OutboxMessage:
    return _only(outbox(container, kind=MessageKind.CONFIRMATION))


def _plain_outbox(container: Container, smtp: SmtpServer, clock: Clock, **policy: object) -> Outbox:
    """An outbox on the container's database, sending to `smtp`, with its own policy."""
    return Outbox(
        container.sessions,
        SmtpTransport("127.0.0.1", smtp.port, security="none", timeout=10),
        container.settings.mail_from,
        container.outbox.composer,
        policy=DeliveryPolicy(**policy),  # type: ignore[arg-type]
        clock=clock,
    )


# -- what arrives --------------------------------------------------------------------------------


def test_confirmation_goes_from_the_configured_sender_to_the_citizen(
    container: Container, service: Service, smtp: SmtpServer, settings: Settings, clock: Clock
) -> None:
    booking = book(container, service, TUESDAY)

    assert container.outbox.deliver_due() == 1  # the confirmation; the reminders are not due

    [received] = smtp.wait_for(1)
    message = received.message
    assert received.rcpt_tos == [CITIZEN]
    assert message["From"] == settings.mail_from
    assert message["To"] == CITIZEN
    assert message["Subject"].startswith(f"Terminbestätigung {booking.reference}: Beratung am")
    assert message["Auto-Submitted"] == "auto-generated"
    sent = _confirmation(container)
    assert message["Message-ID"] == sent.message_id
    assert sent.status == OutboxStatus.SENT
    assert sent.sent_at == clock.now


def test_message_is_alternatives_with_text_calendar_plus_an_ics_attachment(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    book(container, service, TUESDAY)
    container.outbox.deliver_due()

    message = smtp.wait_for(1)[0].message
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()  # type: ignore[misc]
    assert alternative.get_content_type() == "multipart/alternative"
    text, html, calendar = alternative.get_payload()
    assert [text.get_content_type(), html.get_content_type(), calendar.get_content_type()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert calendar.get_param("method") == "REQUEST"
    assert "METHOD:REQUEST" in calendar.get_content()
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content().decode() == calendar.get_content()


def test_message_is_german_by_default(
    container: Container, service: Service, smtp: SmtpServer, client: TestClient
) -> None:
    response = client.post("/api/v1/bookings", json=booking_body(service, TUESDAY))
    assert response.status_code == 201, response.text
    container.outbox.deliver_due()

    message = smtp.wait_for(1)[0].message
    assert message["Content-Language"] == "de"
    assert message["Subject"].startswith("Terminbestätigung ")
    assert "Ihr Termin ist bestätigt" in text_of(message)
    assert "Dienstag, 7. Januar 2031, 09:00 bis 09:30 Uhr" in text_of(message)


def test_message_is_english_when_the_booking_is_english(
    container: Container, service: Service, smtp: SmtpServer, client: TestClient
) -> None:
    response = client.post("/api/v1/bookings", json=booking_body(service, TUESDAY, language="en"))
    assert response.status_code == 201, response.text
    container.outbox.deliver_due()

    message = smtp.wait_for(1)[0].message
    assert message["Content-Language"] == "en"
    assert message["Subject"].startswith("Appointment confirmed ")
    assert "Your appointment is confirmed" in text_of(message)
    assert "Tuesday, 7 January 2031" in text_of(message)
    assert "Termin" not in text_of(message)


def test_message_id_stays_the_same_across_a_retry(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    book(container, service, TUESDAY)
    smtp.mailbox.data_reply = "451 4.3.0 Try again later"
    container.outbox.deliver_due()
    smtp.mailbox.data_reply = None
    clock.advance(seconds=30)
    container.outbox.deliver_due()

    first, second = smtp.mailbox.transactions
    assert (first.accepted, second.accepted) == (False, True)
    assert first.message_id == second.message_id == _confirmation(container).message_id


# -- STARTTLS and login ------------------------------------------------------------------------


@pytest.fixture
def tls_smtp(certificate: Certificate) -> Iterator[SmtpServer]:
    """A server that requires STARTTLS and then a login."""
    server = SmtpServer(tls_context=certificate.server_context(), credentials=(USER, PASSWORD))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _tls_container(
    make_container: Callable[..., Container], server: SmtpServer, password: str
) -> Container:
    return make_container(
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        smtp_security="starttls",
        smtp_username=USER,
        smtp_password=password,
    )


@pytest.fixture
def trusted_certificate(certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> Certificate:
    """The transport verifies the server with the default trust store: trust our own CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    return certificate


def test_starttls_with_login_delivers(
    container: Container,
    service: Service,
    tls_smtp: SmtpServer,
    make_container: Callable[..., Container],
    trusted_certificate: Certificate,
) -> None:
    mailer = _tls_container(make_container, tls_smtp, PASSWORD)
    book(container, service, TUESDAY)

    assert mailer.outbox.deliver_due() == 1

    [received] = tls_smtp.wait_for(1)
    assert received.tls
    assert received.authenticated
    assert received.rcpt_tos == [CITIZEN]
    assert _confirmation(container).status == OutboxStatus.SENT


def test_wrong_smtp_password_sends_nothing_and_keeps_the_message_for_a_retry(
    container: Container,
    service: Service,
    tls_smtp: SmtpServer,
    make_container: Callable[..., Container],
    trusted_certificate: Certificate,
) -> None:
    mailer = _tls_container(make_container, tls_smtp, "wrong password")
    book(container, service, TUESDAY)

    mailer.outbox.deliver_due()

    assert tls_smtp.mailbox.transactions == []
    message = _confirmation(container)
    assert message.status == OutboxStatus.PENDING
    assert message.last_error is not None
    assert message.last_error.startswith("SMTP 535")


def test_untrusted_certificate_sends_nothing_and_retries_later(
    container: Container,
    service: Service,
    tls_smtp: SmtpServer,
    make_container: Callable[..., Container],
    clock: Clock,
) -> None:
    mailer = _tls_container(make_container, tls_smtp, PASSWORD)
    book(container, service, TUESDAY)

    mailer.outbox.deliver_due()

    assert tls_smtp.mailbox.transactions == []
    message = _confirmation(container)
    assert message.status == OutboxStatus.PENDING
    assert "CERTIFICATE_VERIFY_FAILED" in (message.last_error or "")
    assert message.not_before == clock.now + timedelta(seconds=30)


# -- faults --------------------------------------------------------------------------------------


def _book_three(container: Container, service: Service) -> None:
    for hour in (9, 10, 11):
        book(container, service, TUESDAY.replace(hour=hour), email=f"c{hour}@example.org")


def test_server_down_leaves_messages_pending_with_a_growing_backoff(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.stop()
    _book_three(container, service)

    assert container.outbox.deliver_due() == 3
    first = outbox(container, kind=MessageKind.CONFIRMATION)
    clock.advance(seconds=30)
    assert container.outbox.deliver_due() == 3
    second = outbox(container, kind=MessageKind.CONFIRMATION)

    for message in first:
        assert message.status == OutboxStatus.PENDING
        assert message.attempts == 1
        assert "ConnectionRefusedError" in (message.last_error or "")
        assert message.not_before == clock.now  # 30 s after the first attempt
    for message in second:
        assert message.status == OutboxStatus.PENDING
        assert message.attempts == 2
        assert message.not_before == clock.now + timedelta(seconds=60)
    assert container.outbox.deliver_due() == 0  # nothing is due before its retry


def test_server_back_after_an_outage_gets_every_message_exactly_once(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.stop()
    _book_three(container, service)
    for seconds in (0, 30, 60, 120):  # four attempts while the server is down
        clock.advance(seconds=seconds)
        assert container.outbox.deliver_due() == 3
    smtp.start()
    deliver_all(container)  # not due yet: the next try is 4 min after the last one
    assert smtp.received == []

    clock.advance(minutes=4)
    deliver_all(container)
    for hour in (9, 10, 11):  # and the reminders, each just before its appointment begins
        clock.now = TUESDAY.replace(hour=hour) - timedelta(minutes=1)
        deliver_all(container)

    written = {m.message_id: m for m in outbox(container)}
    assert len(written) == 9  # three confirmations, six reminders
    assert smtp.per_message_id() == dict.fromkeys(written, 1)
    assert {m.status for m in written.values()} == {OutboxStatus.SENT}


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_permanent_rejection_dead_letters_after_one_attempt(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock, stage: str
) -> None:
    setattr(smtp.mailbox, f"{stage}_reply", "550 5.1.1 Mailbox unavailable")
    book(container, service, TUESDAY)

    container.outbox.deliver_due()
    clock.advance(hours=3)
    container.outbox.deliver_due()

    message = _confirmation(container)
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 1
    assert "550" in (message.last_error or "")
    assert "5.1.1 Mailbox unavailable" in (message.last_error or "")
    assert smtp.received == []


def test_temporary_rejection_is_retried_with_backoff_then_dead_letters(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.mailbox.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    mailer = _plain_outbox(container, smtp, clock, max_attempts=4)
    book(container, service, TUESDAY)

    waits = []
    for _ in range(10):
        before = clock.now
        mailer.deliver_due()
        message = _confirmation(container)
        if message.status != OutboxStatus.PENDING:
            break
        waits.append(message.not_before - before)
        clock.now = message.not_before

    assert waits == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 4
    assert message.last_error == "SMTP 451: 4.3.0 Mail server temporarily rejected message"
    assert [t.message_id for t in smtp.mailbox.transactions] == [message.message_id] * 4
    assert smtp.received == []


def test_message_of_a_worker_that_died_while_sending_is_sent_once_after_its_lease(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    book(container, service, TUESDAY)
    [claimed] = container.outbox._claim()  # a worker claims it and dies
    assert claimed.kind == MessageKind.CONFIRMATION

    assert container.outbox.deliver_due() == 0
    clock.advance(minutes=5)  # the lease is five minutes: still held at its last moment
    assert container.outbox.deliver_due() == 0
    clock.advance(seconds=1)
    assert container.outbox.deliver_due() == 1
    clock.advance(minutes=10)
    assert container.outbox.deliver_due() == 0

    assert smtp.per_message_id() == {claimed.message_id: 1}
    message = _confirmation(container)
    assert (message.status, message.attempts) == (OutboxStatus.SENT, 2)


def test_a_claim_whose_lease_is_nearly_over_is_not_sent_but_left_to_the_next_claim(
    container: Container, service: Service, smtp: SmtpServer, clock: Clock
) -> None:
    """A batch that took long (a hanging server) must not send past its lease: a second
    worker may already own the message."""
    book(container, service, TUESDAY)
    [claimed] = container.outbox._claim()
    clock.advance(minutes=4)  # only one minute of the five-minute lease is left
    transport = SmtpTransport("127.0.0.1", smtp.port, security="none", timeout=10)
    with transport.connection() as send:
        container.outbox._deliver(claimed, send)
    assert smtp.per_message_id() == {}

    clock.advance(minutes=1, seconds=1)
    assert container.outbox.deliver_due() == 1
    assert smtp.per_message_id() == {claimed.message_id: 1}


def test_a_batch_goes_out_over_one_smtp_connection(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    _book_three(container, service)

    assert container.outbox.deliver_due() == 3

    assert len(smtp.received) == 3
    assert len({received.peer for received in smtp.received}) == 1


def test_two_workers_at_once_send_each_message_exactly_once(
    container: Container, world: World, smtp: SmtpServer, clock: Clock, settings: Settings
) -> None:
    service = world.service()
    for _ in range(10):
        world.advisor([service])
    times = [WEDNESDAY.replace(hour=h, minute=m) for h in (9, 10, 11) for m in (0, 30)]
    times += [WEDNESDAY.replace(hour=h, minute=m) for h in (13, 14) for m in (0, 30)]
    for n, start in enumerate(t for t in times for _ in range(10)):
        book(container, service, start, email=f"citizen{n}@example.org")
    clock.now = WEDNESDAY.replace(hour=0)  # the confirmations and the 24-hour reminders
    due = [m.message_id for m in outbox(container) if m.not_before <= clock.now]
    assert len(due) == 200

    handled = [0, 0]
    failures: list[BaseException] = []
    start_together = threading.Barrier(2)

    def work(index: int) -> None:
        engine = make_engine(settings.database_url)
        try:
            worker = Outbox(
                make_sessionmaker(engine),
                SmtpTransport("127.0.0.1", smtp.port, security="none", timeout=10),
                settings.mail_from,
                container.outbox.composer,
                policy=DeliveryPolicy(batch=5),
                clock=clock,
            )
            start_together.wait(10)
            while count := worker.deliver_due():
                handled[index] += count
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert smtp.per_message_id() == dict.fromkeys(due, 1)
    assert sum(handled) == 200
    assert all(handled), handled  # both took part
    sent = outbox(container, status=OutboxStatus.SENT)
    assert sorted(m.message_id for m in sent) == sorted(due)


def test_worker_is_woken_by_a_booking_commit(
    container: Container, service: Service, smtp: SmtpServer
) -> None:
    container.worker.start()
    try:
        time.sleep(0.2)  # its first round is over (nothing due); the next poll is 5 s away
        book(container, service, TUESDAY)
        arrived = smtp.wait_for(1, timeout=1.0)
    finally:
        container.worker.stop()

    assert [r.message_id for r in arrived] == [_confirmation(container).message_id]


def test_worker_gives_way_to_requests_being_answered_but_not_for_longer_than_its_limit(
    container: Container, clock: Clock, service: Service, smtp: SmtpServer
) -> None:
    """While `give_way` says requests are being answered, the mail waits. Past `max_delay`
    from the wake-up, a message that has waited that long goes out although requests are still
    being answered, a younger one waits for its own time; once quiet, everything goes at once.
    How long a message has waited is told by the office clock, set by the test."""
    busy = threading.Event()
    busy.set()
    worker = OutboxWorker(container.outbox, poll=30.0, give_way=busy.is_set, max_delay=1.5)
    _wake_on_commit(container, worker)
    worker.start()
    try:
        time.sleep(0.2)
        book(container, service, TUESDAY)
        woken = time.monotonic()
        assert smtp.wait_for(1, timeout=0.7) == []  # still busy, limit not reached
        clock.advance(seconds=1)
        book(container, service, TUESDAY + timedelta(hours=1))  # a second later
        clock.advance(seconds=0.6)  # the first has waited 1.6 s, the second 0.6 s

        arrived = smtp.wait_for(1, timeout=3.0)  # the limit passed: the first sent although busy
        waited = time.monotonic() - woken
        assert len(smtp.wait_for(2, timeout=1.5)) == 1  # the second is younger: it waits
        clock.advance(seconds=1)
        assert len(smtp.wait_for(2, timeout=2.5)) == 2  # its time passed too: sent although busy

        book(container, service, TUESDAY + timedelta(hours=2), email="other@example.org")
        time.sleep(0.3)
        assert len(smtp.wait_for(3, timeout=0.1)) == 2  # busy: waiting
        busy.clear()
        assert len(smtp.wait_for(3, timeout=1.0)) == 3  # quiet: sent
    finally:
        worker.stop()

    assert len(arrived) == 1
    assert waited < 1.5 + 1.0  # the limit counts from the start of the round it woke


def _wake_on_commit(container: Container, worker: OutboxWorker) -> None:
    """Route the commits' wake-ups to `worker` instead of the container's own."""
    call_after_commit(container.sessions, "outbox_written", worker.wake)
