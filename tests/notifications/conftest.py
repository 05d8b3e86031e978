"""Fixtures for the notification tests: a real SMTP server (aiosmtpd on 127.0.0.1), the app
wired to it, and helpers to book, read the outbox and take received mail apart.

The outbox is delivered explicitly with `container.outbox.deliver_due()` (the embedded worker
is off in the test settings); the clock is the settable one of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from bench.common import free_port
from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.models import Service
from scheduler.requests import BookingRequest
from scheduler.views import BookingInfo
from web.container import Container
from web.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
# The first working day after the holiday "now" of the test clock (Monday 2031-01-06 07:00 UTC).
TUESDAY = datetime(2031, 1, 7, 9, 0, tzinfo=BERLIN)
CITIZEN = "erika@example.org"
ACCEPTED = "250 Message accepted for delivery"


@dataclass(frozen=True)
class Received:
    """One DATA transaction the server saw, with the answer it gave."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    reply: str
    tls: bool  # after STARTTLS
    authenticated: bool
    peer: tuple[str, int] = ("", 0)  # the client's address: one per SMTP connection

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("250")


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every message and can be told to refuse at RCPT or DATA."""

    rcpt_reply: str | None = None  # e.g. "550 5.1.1 No such user"
    data_reply: str | None = None  # e.g. "451 4.3.0 Try again later"
    transactions: list[Received] = field(default_factory=list)
    # While cleared, each RCPT hangs (a mail server stuck mid-dialogue) and `stuck` is set;
    # `hold_after` clears it once that many RCPTs went through.
    flowing: threading.Event = field(default_factory=threading.Event)
    stuck: threading.Event = field(default_factory=threading.Event)
    hold_after: int | None = None
    rcpts: int = 0
    _arrived: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def __post_init__(self) -> None:
        self.flowing.set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.hold_after is not None and self.rcpts >= self.hold_after:
            self.flowing.clear()
            self.hold_after = None
        self.rcpts += 1
        if not self.flowing.is_set():
            self.stuck.set()
            await asyncio.to_thread(self.flowing.wait, 60)
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.data_reply or ACCEPTED
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        with self._arrived:
            self.transactions.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,  # type: ignore[arg-type]
                    reply=reply,
                    tls=session.ssl is not None,
                    authenticated=bool(session.authenticated),
                    peer=tuple(session.peer[:2]),
                )
            )
            self._arrived.notify_all()
        return reply

    @property
    def received(self) -> list[Received]:
        """The messages the server accepted."""
        with self._arrived:
            return [t for t in self.transactions if t.accepted]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """At least `count` accepted messages, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len([t for t in self.transactions if t.accepted]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return [t for t in self.transactions if t.accepted]


class SmtpServer:
    """aiosmtpd on 127.0.0.1 and one fixed port: `stop()` and `start()` again keep the port and
    the mailbox, as a mail server that is down for a while and comes back."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self._tls_context = tls_context
        self._credentials = credentials
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpServer:
        assert self._controller is None, "already running"
        options: dict[str, Any] = {}
        if self._tls_context is not None:
            options.update(tls_context=self._tls_context, require_starttls=True)
        if self._credentials is not None:
            options.update(auth_required=True, authenticator=self._authenticate)
        # A loop of its own each time: aiosmtpd closes the loop when the controller stops.
        controller = Controller(
            self.mailbox,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            ready_timeout=10,
            **options,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self._credentials is not None
        user, password = self._credentials
        success = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=success, handled=False)

    # -- what arrived ---------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        return self.mailbox.received

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        return self.mailbox.wait_for(count, timeout)

    def per_message_id(self) -> Counter[str]:
        return Counter(r.message_id for r in self.received)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """The test settings, sending to the `smtp` server without TLS."""
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none"}
    )


@pytest.fixture
def make_container(
    settings: Settings, clock: Callable[[], datetime]
) -> Iterator[Callable[..., Container]]:
    """Another container on the same database (its own engine), with settings changed;
    every engine is disposed of afterwards."""
    built: list[Container] = []

    def make(**changes: Any) -> Container:
        container = Container.build(settings.model_copy(update=changes), clock=clock)
        built.append(container)
        return container

    yield make
    for container in built:
        container.worker.stop()
        container.engine.dispose()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return Certificate(cert, key)


# -- booking and reading the outbox -------------------------------------------------------------


def book(container: Container, service: Service, start: datetime, **changes: Any) -> BookingInfo:
    """A booking through the scheduler, as the public API makes it."""
    fields: dict[str, Any] = {
        "service_id": service.id,
        "start": start,
        "channel": "video",
        "name": "Erika Mustermann",
        "email": CITIZEN,
    }
    fields.update(changes)
    placed = container.scheduler.book(BookingRequest(**fields))
    assert placed.booking is not None
    return placed.booking


def outbox(container: Container, **where: Any) -> list[OutboxMessage]:
    """The outbox rows, oldest first, optionally filtered by column values."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for column, value in where.items():
        query = query.where(getattr(OutboxMessage, column) == value)
    with read_session(container.sessions) as session:
        return list(session.scalars(query))


def deliver_all(container: Container) -> int:
    """Deliver until nothing is due (at the clock's current time); the number handled."""
    total = 0
    while handled := container.outbox.deliver_due():
        total += handled
    return total


def calendar_part(message: EmailMessage) -> EmailMessage:
    """The text/calendar alternative of a received message."""
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part  # type: ignore[return-value]
    raise AssertionError("no text/calendar part")


def ics_of(message: EmailMessage) -> str:
    return str(calendar_part(message).get_content())


def text_of(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_content())
    raise AssertionError("no text/plain part")


def unfold(ics: str) -> str:
    """iCalendar text with its folded lines joined (RFC 5545 §3.1)."""
    return ics.replace("\r\n ", "").replace("\r\n\t", "")
