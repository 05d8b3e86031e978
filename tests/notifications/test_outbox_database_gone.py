"""The database goes away in the middle of a batch of mail (a restart, a failover): what the
worker had claimed stays its own and goes out in its next round, not minutes later when its
lease has run out, and a message sent whose outcome could not be written is not sent again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email.message import EmailMessage

import pytest
from sqlalchemy.exc import OperationalError

from notifications.delivery import Outbox, Send, SmtpTransport
from notifications.messages import MessageKind
from notifications.models import OutboxStatus
from scheduler.models import Service
from tests.conftest import POSTGRES_URL, Clock, World
from tests.notifications.conftest import TUESDAY, SmtpServer, book, outbox
from tests.pg_backends import database_away, named
from web.container import Container
from web.settings import Settings

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="about a database server that goes away"
)

NAME = "sprechstunde-outbox-gone"  # the application name of this test's connections


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return named(settings, NAME)


class AwayAfter:
    """SMTP for real; once the `n`th message is accepted, the database goes away until
    `back()`."""

    def __init__(self, smtp: SmtpServer, n: int) -> None:
        self._smtp = SmtpTransport("127.0.0.1", smtp.port, security="none", timeout=10)
        self._n = n
        self._sent = 0
        self._away = ExitStack()

    @contextmanager
    def connection(self) -> Iterator[Send]:
        with self._smtp.connection() as send:

            def sending(message: EmailMessage) -> None:
                send(message)
                self._sent += 1
                if self._sent == self._n:
                    assert POSTGRES_URL is not None
                    self._away.enter_context(database_away(POSTGRES_URL, NAME))

            yield sending

    def back(self) -> None:
        self._away.close()


def test_a_batch_cut_by_the_database_goes_on_in_the_next_round_and_sends_nothing_twice(
    container: Container, world: World, smtp: SmtpServer, clock: Clock
) -> None:
    service: Service = world.service()
    world.advisor([service])
    for hour in (9, 10, 11):
        book(container, service, TUESDAY.replace(hour=hour), email=f"c{hour}@example.org")
    transport = AwayAfter(smtp, 2)
    mail = Outbox(
        container.sessions,
        transport,
        container.settings.mail_from,
        container.outbox.composer,
        clock=clock,
    )

    try:
        with pytest.raises(OperationalError):
            mail.deliver_due()  # the second sent, its outcome unwritten; the third not begun
    finally:
        transport.back()
    assert len(smtp.received) == 2
    assert mail.deliver_due() == 1  # at once: the clock has not moved

    written = outbox(container, kind=MessageKind.CONFIRMATION)
    assert smtp.per_message_id() == {m.message_id: 1 for m in written}
    assert {(m.status, m.attempts) for m in written} == {(OutboxStatus.SENT, 1)}
