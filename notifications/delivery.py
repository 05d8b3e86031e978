"""Delivering the outbox over SMTP: claim, send, and mark, with backoff and a dead letter.

Several workers may run at once (in `serve` processes and `sprechstunde worker`): a message is
claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL (on SQLite the write lock serialises the
claim) and stays claimed for a lease, so no two workers send it. A worker that dies while
sending leaves the lease to expire and the message is tried again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from notifications.models import OutboxMessage, OutboxStatus
from notifications.outbox import Composed, MessageComposer
from scheduler.db import read_session, utcnow, write_session

log = logging.getLogger("sprechstunde.outbox")


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


Send = Callable[[EmailMessage], None]


class Transport(Protocol):
    def connection(self) -> AbstractContextManager[Send]:
        """A way to send several messages, over one connection where the transport has one."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    """SMTP with STARTTLS (default), implicit TLS or none, and login when a user is set.

    One connection serves a whole batch; a connection that breaks is opened again for the
    next message."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout: float = 30.0

    def send(self, message: EmailMessage) -> None:
        with self.connection() as send:
            send(message)

    @contextmanager
    def connection(self) -> Iterator[Send]:
        smtp: smtplib.SMTP | None = None

        def send(message: EmailMessage) -> None:
            nonlocal smtp
            try:
                if smtp is None:
                    smtp = self._open()
                smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                raise DeliveryFailed(_describe(exc), permanent=_all_permanent(exc)) from exc
            except smtplib.SMTPAuthenticationError as exc:
                # Our configuration, not the message, is wrong: keep the message for when the
                # password is fixed instead of dead-lettering every mail in the meantime.
                raise DeliveryFailed(_describe(exc), permanent=False) from exc
            except smtplib.SMTPResponseException as exc:
                raise DeliveryFailed(_describe(exc), permanent=exc.smtp_code >= 500) from exc
            except (OSError, smtplib.SMTPException) as exc:
                _close(smtp)
                smtp = None  # broken: the next message opens a new connection
                raise DeliveryFailed(_describe(exc), permanent=False) from exc

        try:
            yield send
        finally:
            _close(smtp, polite=True)

    def _open(self) -> smtplib.SMTP:
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            _close(smtp)
            raise
        return smtp


def _close(smtp: smtplib.SMTP | None, polite: bool = False) -> None:
    if smtp is None:
        return
    with suppress(OSError, smtplib.SMTPException):
        if polite:
            smtp.quit()
    smtp.close()


def _all_permanent(exc: smtplib.SMTPRecipientsRefused) -> bool:
    return all(code >= 500 for code, _ in exc.recipients.values())


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"[:1000]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = "; ".join(
            f"SMTP {code}: {_text(reply)} ({recipient})"
            for recipient, (code, reply) in exc.recipients.items()
        )
        return refusals[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 8
    first_retry: timedelta = timedelta(seconds=30)
    longest_retry: timedelta = timedelta(hours=2)
    lease: timedelta = timedelta(minutes=5)
    # The longest one send may take (SMTP timeouts are 30 s a step); a claimed message is only
    # sent while this much of its lease is left.
    send_time: timedelta = timedelta(minutes=2)
    batch: int = 20

    def retry_after(self, attempts: int) -> timedelta:
        """Exponential backoff: 30 s, 1 min, 2 min, … at most two hours."""
        return min(self.first_retry * 2 ** max(attempts - 1, 0), self.longest_retry)


def build_email(
    message: OutboxMessage, composed: Composed, mail_from: str, now: datetime
) -> EmailMessage:
    """multipart/alternative (text, HTML, text/calendar with its METHOD) plus the .ics file:
    the form in which Outlook, Gmail and Apple Calendar update one event instead of adding a
    second (RFC 6047 §2.4)."""
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.recipient
    email["Subject"] = composed.subject
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(now)
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(composed.text)
    email.add_alternative(composed.html, subtype="html")
    if composed.ics and composed.ics_method:
        email.add_alternative(
            composed.ics, subtype="calendar", params={"method": composed.ics_method}
        )
        email.add_attachment(
            composed.ics.encode(), maintype="application", subtype="ics", filename="invite.ics"
        )
    # Last: set_content() drops every Content-* header, and making the message multipart moves
    # them into the first part.
    email["Content-Language"] = message.language
    return email


class Outbox:
    """Claims due messages and hands them to the transport; `transport=None` keeps them
    (development without SMTP: they are shown at /dev/mail). One thread delivers (the
    worker's).

    When the database fails in the middle of a batch (a restart, a failover), what the worker
    had claimed and not yet handled stays its own and goes first in the next round, instead of
    waiting for its lease to run out (minutes); an outcome it could not record (a message
    sent) is recorded then, and that message is not sent again."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: Transport | None,
        mail_from: str,
        composer: MessageComposer,
        policy: DeliveryPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self._mail_from = mail_from
        self.composer = composer
        self._policy = policy or DeliveryPolicy()
        self._clock = clock
        # Called before each round: they add the messages of a time of day (the agendas).
        self.planners: list[Callable[[], object]] = []
        self._held: list[OutboxMessage] = []
        self._unrecorded: list[tuple[OutboxMessage, OutboxStatus, dict[str, object]]] = []

    def deliver_due(self, held_back: timedelta = timedelta(0)) -> int:
        """Send what is due now, one batch; the number of messages handled. With `held_back`,
        only messages that have been due for at least that long."""
        for plan in self.planners:
            try:
                plan()
            except Exception:  # what is planned already still goes out; the next round retries
                log.exception("planning messages failed")
        while self._unrecorded:
            self._record(*self._unrecorded[0])
            self._unrecorded.pop(0)
        if not self._held:
            self._held = self._claim(held_back)
        handled = 0
        if not self._held:
            return handled
        with self._transport.connection() if self._transport else nullcontext() as send:
            while self._held:
                self._deliver(self._held[0], send)
                self._held.pop(0)
                handled += 1
        return handled

    def _claim(self, held_back: timedelta = timedelta(0)) -> list[OutboxMessage]:
        now = self._clock()
        due = or_(
            and_(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.not_before <= now - held_back,
            ),
            and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.locked_until < now),
        )
        with write_session(self._sessions) as session:
            messages = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(due)
                    .order_by(OutboxMessage.not_before, OutboxMessage.id)
                    .limit(self._policy.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            for message in messages:
                message.status = OutboxStatus.SENDING
                message.locked_until = now + self._policy.lease
                message.attempts += 1
            return messages

    def _deliver(self, message: OutboxMessage, send: Send | None) -> None:
        now = self._clock()
        assert message.locked_until is not None
        if now + self._policy.send_time >= message.locked_until:
            # Too little of the lease is left to finish: another worker may claim the message
            # once the lease has run out, and must be the only one to send it.
            return
        if message.expires_at is not None and now >= message.expires_at:
            # A reminder that could not go out before the appointment began is worthless.
            self._finish(message, OutboxStatus.SUPERSEDED, last_error="expired before sending")
            return
        with read_session(self._sessions) as session:
            composed = self.composer.compose(session, message, now)
        if composed is None:
            self._finish(message, OutboxStatus.SUPERSEDED, last_error="booking cancelled or gone")
            return
        record = {
            "subject": composed.subject,
            "text_body": composed.text,
            "html_body": composed.html,
            "ics": composed.ics,
            "ics_method": composed.ics_method,
            "sent_at": now,
        }
        if send is None:
            self._finish(message, OutboxStatus.KEPT, **record)
            return
        try:
            send(build_email(message, composed, self._mail_from, now))
        except DeliveryFailed as failure:
            self._failed(message, failure)
            return
        self._finish(message, OutboxStatus.SENT, **record)

    def _failed(self, message: OutboxMessage, failure: DeliveryFailed) -> None:
        if failure.permanent or message.attempts >= self._policy.max_attempts:
            log.warning(
                "outbox message %s dead after %s attempts: %s",
                message.id,
                message.attempts,
                failure.reason,
            )
            self._finish(message, OutboxStatus.DEAD, last_error=failure.reason)
            return
        retry_at = self._clock() + self._policy.retry_after(message.attempts)
        self._finish(message, OutboxStatus.PENDING, last_error=failure.reason, not_before=retry_at)

    def _finish(self, message: OutboxMessage, status: OutboxStatus, **values: object) -> None:
        try:
            self._record(message, status, values)
        except DBAPIError:
            log.warning("outbox message %s: its outcome is recorded later", message.id)
            self._unrecorded.append((message, status, values))

    def _record(
        self, message: OutboxMessage, status: OutboxStatus, values: dict[str, object]
    ) -> None:
        """Record the outcome, but only while our claim (its lease) is still the one held."""
        with write_session(self._sessions) as session:
            # On the session's connection: the ORM's bulk-update bookkeeping costs more than
            # the statement, and nothing here is held in the session.
            session.connection().execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message.id,
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.locked_until == message.locked_until,
                )
                .values(status=status, locked_until=None, **values)
            )


class OutboxWorker:
    """A thread that delivers the outbox: woken at once after a commit that wrote messages,
    and every `poll` seconds for reminders and retries.

    With `give_way` (inside a `serve` process: "requests are being answered"), mail waits while
    that holds, each message at most `max_delay` seconds: in a rush of bookings the citizens'
    answers come first and their mails a little later, instead of both slowing down on one
    interpreter. A rush longer than that gets its mail in the order it was written, each message
    once it has waited its time, never the whole backlog at once while the rush goes on.
    """

    def __init__(
        self,
        outbox: Outbox,
        poll: float = 5.0,
        give_way: Callable[[], bool] | None = None,
        max_delay: float = 20.0,
    ) -> None:
        self._outbox = outbox
        self._poll = poll
        self.give_way = give_way
        self._max_delay = max_delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="outbox-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._deliver_round(time.monotonic() + self._max_delay)
            except Exception:  # the worker must outlive a database hiccup; it retries
                log.exception("outbox delivery failed; retrying")
            self._wake.wait(self._poll)

    def _deliver_round(self, latest: float) -> None:
        """Batch after batch until nothing is due. Still busy at `latest`: only the messages
        that have waited `max_delay`, then a look again a second later (a claim each time,
        not one every moment of a long rush)."""
        held_back = timedelta(seconds=self._max_delay)
        while not self._stop.is_set():
            if self._busy_until(latest):
                if not self._outbox.deliver_due(held_back):
                    latest = time.monotonic() + 1.0
            elif not self._outbox.deliver_due():
                return

    def _busy_until(self, latest: float) -> bool:
        """Wait while requests are being answered, until `latest`; whether they still are."""
        give_way = self.give_way
        if give_way is None:
            return False
        while give_way():
            if time.monotonic() >= latest or self._stop.is_set():
                return True
            self._stop.wait(0.02)
        return False
