"""The outbox: which messages a booking change calls for, and what they say when they go out.

`OutboxWriter` is registered on `Scheduler.events` and runs inside the transaction of the
change: a rolled-back change leaves no message, a committed one always has its messages. It
only records what to send and when (a row is cheap); `MessageComposer` renders the mail and
its invite when the worker sends it, from the booking as it is then. So a reminder carries the
current time and link, a superseded reminder is never rendered, and nothing confirms or
reminds of a booking that has been cancelled since. A reschedule, a cancellation or a
re-issued link supersedes the pending reminders and writes new ones where the booking lives on.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from documents.requirements import missing_in
from notifications.ics import booking_invite, organizer
from notifications.messages import MailContext, MailRenderer, MessageKind
from notifications.models import NEW_MESSAGES, OutboxMessage, OutboxStatus
from scheduler.availability import Slot
from scheduler.direct import Direct
from scheduler.errors import SchedulerError
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.models import BookingStatus, Channel
from scheduler.views import BookingInfo

# Messages that carry the calendar invite (REQUEST, or CANCEL for the cancellation).
INVITE_KINDS = frozenset(
    {
        MessageKind.CONFIRMATION,
        MessageKind.CALLBACK_SCHEDULED,
        MessageKind.RESCHEDULE,
        MessageKind.CANCELLATION,
        MessageKind.DISPLACED_MOVED,
        MessageKind.DISPLACED_CANCELLED,
    }
)
# Messages about a cancelled booking: the only ones still sent once it is cancelled.
CANCELLED_KINDS = frozenset({MessageKind.CANCELLATION, MessageKind.DISPLACED_CANCELLED})
_NEW_MESSAGES = Direct(NEW_MESSAGES)
# How many free times the apology for a cancelled appointment offers, from how many days.
FREE_TIMES, FREE_TIMES_DAYS = 3, 14


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    base_url: str
    mail_from: str
    hotline_phone: str
    reminders: Sequence[timedelta] = (timedelta(hours=24), timedelta(hours=1))


class OutboxWriter:
    def __init__(self, config: OutboxConfig) -> None:
        self._config = config
        self._domain = urlsplit(config.base_url).hostname or "localhost"

    def __call__(self, session: Session, event: BookingEvent) -> None:
        booking = event.booking
        if not booking.email:
            return  # a phone callback booked without an address: nothing to send
        rows: list[dict[str, object]] = []
        if event.kind == BookingEventKind.CREATED:
            callback = booking.channel == Channel.PHONE and event.actor_id is not None
            kind = MessageKind.CALLBACK_SCHEDULED if callback else MessageKind.CONFIRMATION
            rows.append(self._row(booking, kind, event.at))
            rows += self._reminders(booking, event.at)
        elif event.kind == BookingEventKind.RESCHEDULED and event.cause:
            # Moved to a colleague at the same time by an absence (scheduler/displacement.py).
            self._supersede_reminders(session, booking.id)
            rows.append(
                self._row(
                    booking, MessageKind.DISPLACED_MOVED, event.at, params={"cause": event.cause}
                )
            )
            rows += self._reminders(booking, event.at)
        elif event.kind == BookingEventKind.RESCHEDULED:
            self._supersede_reminders(session, booking.id)
            previous = event.previous_start.isoformat() if event.previous_start else None
            rows.append(
                self._row(
                    booking, MessageKind.RESCHEDULE, event.at, params={"previous_start": previous}
                )
            )
            rows += self._reminders(booking, event.at)
        elif event.kind == BookingEventKind.CANCELLED:
            self._supersede_reminders(session, booking.id)
            kind = MessageKind.DISPLACED_CANCELLED if event.cause else MessageKind.CANCELLATION
            params: dict[str, str | None] | None = {"cause": event.cause} if event.cause else None
            rows.append(self._row(booking, kind, event.at, params=params))
        elif event.kind == BookingEventKind.LINK_REISSUED:
            rows.append(self._row(booking, MessageKind.LINK_REISSUED, event.at))
        elif event.kind == BookingEventKind.CONFIRMATION_RESENT:
            rows.append(self._row(booking, self._confirmation_kind(session, booking), event.at))
        if rows:
            # One multi-row INSERT for all rows, straight on the driver: the unit of work
            # costs more than the insert. Nothing in this transaction reads them back, so
            # on PostgreSQL they go with the next statement or the commit, in its round trip.
            _NEW_MESSAGES.many(session.connection(), rows, later=True)
            session.info["outbox_written"] = True

    @staticmethod
    def _confirmation_kind(session: Session, booking: BookingInfo) -> MessageKind:
        """The kind of the booking's first confirmation, for sending it again: a callback
        arranged by the hotline is confirmed as such."""
        first = session.scalar(
            select(OutboxMessage.kind)
            .where(
                OutboxMessage.booking_id == booking.id,
                OutboxMessage.kind.in_(
                    [MessageKind.CONFIRMATION.value, MessageKind.CALLBACK_SCHEDULED.value]
                ),
            )
            .order_by(OutboxMessage.id)
            .limit(1)
        )
        return MessageKind(first) if first else MessageKind.CONFIRMATION

    def _reminders(self, booking: BookingInfo, now: datetime) -> list[dict[str, object]]:
        return [
            self._row(booking, MessageKind.REMINDER, now, not_before=due, expires_at=booking.start)
            for due in (booking.start - before for before in self._config.reminders)
            if due > now  # a reminder whose moment has passed is not sent at all
        ]

    def _supersede_reminders(self, session: Session, booking_id: int) -> None:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.booking_id == booking_id,
                OutboxMessage.kind == MessageKind.REMINDER.value,
                OutboxMessage.status == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.SUPERSEDED)
            .execution_options(synchronize_session=False)
        )

    def _row(
        self,
        booking: BookingInfo,
        kind: MessageKind,
        now: datetime,
        *,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
        params: dict[str, str | None] | None = None,
    ) -> dict[str, object]:
        assert booking.email is not None
        return message_row(
            kind.value,
            booking.email,
            booking.language,
            now,
            domain=self._domain,
            booking_id=booking.id,
            params=params,
            not_before=not_before,
            expires_at=expires_at,
        )


class _MessageIds:
    """Message-IDs unique across processes: 128 random bits each, from a generator the system
    seeds once per process (again after a fork). They need not be secret. A uuid4 reads the
    system's randomness for each, a call that lets go of the interpreter lock: three times in
    every booking, each a switch of threads under load (bench/booking_threads.py)."""

    def __init__(self) -> None:
        self._pid = -1
        self._random = random.Random()

    def __call__(self, domain: str) -> str:
        if self._pid != os.getpid():
            self._random, self._pid = random.Random(os.urandom(32)), os.getpid()
        return f"<{self._random.getrandbits(128):032x}@{domain}>"


_new_message_id = _MessageIds()


def message_row(
    kind: str,
    recipient: str,
    language: str,
    now: datetime,
    *,
    domain: str,
    booking_id: int | None = None,
    params: dict[str, str | None] | None = None,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    message_id: str | None = None,
) -> dict[str, object]:
    """An outbox row to insert, pending from `not_before` (default: now). `message_id`: a
    stable one for a message that must be planned once only; else a fresh one."""
    return {
        "booking_id": booking_id,
        "kind": kind,
        "recipient": recipient,
        "language": language,
        "params": params or {},
        "message_id": message_id or _new_message_id(domain),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "not_before": not_before or now,
        "expires_at": expires_at,
        "created_at": now,
    }


@dataclass(frozen=True, slots=True)
class Composed:
    subject: str
    text: str
    html: str
    ics: str | None = None
    ics_method: str | None = None


class BookingReader(Protocol):
    """What composing a message reads of the booking engine (`scheduler.services.Scheduler`)."""

    @property
    def tz(self) -> ZoneInfo:
        """The office's time zone, in which a message shows its times."""
        ...

    def booking_info(self, session: Session, booking_id: int) -> BookingInfo | None: ...

    def slots(
        self, service_id: int, first: date, last: date, channel: str | None = None
    ) -> list[Slot]:
        """The service's free times between two local days (the apology's offers)."""
        ...


class BookingLinks(Protocol):
    """The citizen's addresses of a booking; their paths are the web's (`web.links.Links`)."""

    def urls(self, booking: BookingInfo) -> tuple[str, str | None]:
        """The link to manage the booking and, for a video appointment, the one to join it."""
        ...

    @property
    def start_url(self) -> str:
        """The start page, where a new appointment is booked."""
        ...

    @property
    def connection_test_url(self) -> str:
        """The page that tests camera, microphone and connection."""
        ...


class MessageComposer:
    """Renders an outbox message from its booking as it is at sending time."""

    def __init__(
        self,
        bookings: BookingReader,
        links: BookingLinks,
        renderer: MailRenderer,
        config: OutboxConfig,
    ) -> None:
        self._bookings = bookings
        self._links = links
        self._renderer = renderer
        self._config = config

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        """The mail, or None when there is nothing left to say (booking gone or cancelled)."""
        info = (
            self._bookings.booking_info(session, message.booking_id) if message.booking_id else None
        )
        if info is None:
            return None
        kind = MessageKind(message.kind)
        cancelled = info.status == BookingStatus.CANCELLED
        if cancelled != (kind in CANCELLED_KINDS):
            return None  # no confirmation or reminder of a cancelled booking
        manage_url, join_url = self._links.urls(info)
        previous = message.params.get("previous_start") if message.params else None
        cause = message.params.get("cause") if message.params else None
        context = MailContext(
            reference=info.reference,
            service_name=info.service_name,
            channel=info.channel,
            start=info.start,
            end=info.end,
            timezone=self._bookings.tz.key,
            citizen_name=info.name,
            manage_url=manage_url,
            join_url=join_url,
            booking_url=self._links.start_url,
            connection_test_url=self._links.connection_test_url,
            phone=info.phone,
            address=info.address if info.channel == Channel.IN_PERSON else None,
            team_name=info.team_name,
            hotline_phone=self._config.hotline_phone,
            previous_start=datetime.fromisoformat(previous) if previous else None,
            advisor_name=info.advisor_name or None,
            cause=cause,
        )
        if kind == MessageKind.DISPLACED_CANCELLED:
            context = self._apology(context, info, now, self.place_url(session, info))
        if kind == MessageKind.REMINDER:
            missing = missing_in(session, info.id)
            names = tuple(named.display_name(message.language) for named in missing)
            context = replace(context, missing_documents=names)
        mail = self._renderer.render(kind, context, message.language)
        if kind not in INVITE_KINDS:
            return Composed(mail.subject, mail.text, mail.html)
        invite = booking_invite(
            info,
            tz=self._bookings.tz,
            base_url=self._config.base_url,
            organizer=organizer(info, self._config.mail_from),
            join_url=join_url,
            now=now,
        )
        return Composed(mail.subject, mail.text, mail.html, invite.content.decode(), invite.method)

    def place_url(self, session: Session, info: BookingInfo) -> str | None:
        """The page of the citizen's place first in line on the waiting list, which the office
        gave them when it cancelled (notifications/waitlist_mail.py knows the list)."""
        return None

    def _apology(
        self, context: MailContext, info: BookingInfo, now: datetime, place_url: str | None
    ) -> MailContext:
        """What a citizen whose appointment the office cancelled can do, in this order: wait
        for the new time held for them first (`place_url`, their place at the head of the
        waiting list), take one of the next free times (read now, when the mail goes out),
        join the waiting list (when they are not on it), or ask for a callback (the pages
        `/warteliste` and `/rueckruf` of the start page)."""
        base, service = self._config.base_url, info.service_id
        first = now.astimezone(self._bookings.tz).date()
        try:
            slots = self._bookings.slots(service, first, first + timedelta(days=FREE_TIMES_DAYS))
        except SchedulerError:
            slots = []  # the service is gone or inactive: the other ways remain
        channel = info.channel
        free = tuple(
            (
                slot.start,
                f"{base}/buchen/{service}/angaben?"
                + urlencode(
                    {
                        "kanal": channel,
                        "start": slot.start.astimezone(self._bookings.tz).isoformat(),
                    }
                ),
            )
            for slot in slots[:FREE_TIMES]
        )
        return replace(
            context,
            free_times=free,
            more_times_url=f"{base}/buchen/{service}/zeit?" + urlencode({"kanal": channel}),
            place_url=place_url,
            waitlist_url=None if place_url else f"{base}/warteliste?anliegen={service}",
            callback_url=f"{base}/rueckruf?anliegen={service}",
        )
