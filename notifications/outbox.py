"""Writing the outbox: the messages each booking change calls for, in its own transaction.

Registered as a listener on `Scheduler.events`; everything here runs inside the transaction of
the change, so a rolled-back change leaves no message and a committed one always has its
messages. Reminders are outbox rows with a later `not_before`; a reschedule, a cancellation or
a re-issued link supersedes the pending ones (and writes new ones where the booking lives on).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from notifications.ics import booking_invite, organizer
from notifications.messages import MailContext, MailRenderer, MessageKind
from notifications.models import OutboxMessage, OutboxStatus
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.models import Booking, Channel
from scheduler.services import Scheduler
from scheduler.views import BookingInfo

REMINDER_KINDS = (MessageKind.REMINDER,)


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    base_url: str
    mail_from: str
    hotline_phone: str
    reminders: Sequence[timedelta] = (timedelta(hours=24), timedelta(hours=1))


class OutboxWriter:
    def __init__(self, scheduler: Scheduler, renderer: MailRenderer, config: OutboxConfig) -> None:
        self._scheduler = scheduler
        self._renderer = renderer
        self._config = config
        self._domain = urlsplit(config.base_url).hostname or "localhost"

    def __call__(self, session: Session, event: BookingEvent) -> None:
        booking = event.booking
        if not booking.email:
            return  # a phone callback booked without an address: nothing to send
        info = BookingInfo.of(booking)
        if event.kind == BookingEventKind.CREATED:
            callback = booking.channel == Channel.PHONE and event.actor_id is not None
            kind = MessageKind.CALLBACK_SCHEDULED if callback else MessageKind.CONFIRMATION
            self._write(session, booking, info, kind, event.at, with_invite=True)
            self._write_reminders(session, booking, info, event.at)
        elif event.kind == BookingEventKind.RESCHEDULED:
            self._supersede_reminders(session, booking.id)
            self._write(
                session,
                booking,
                info,
                MessageKind.RESCHEDULE,
                event.at,
                with_invite=True,
                previous_start=event.previous_start,
            )
            self._write_reminders(session, booking, info, event.at)
        elif event.kind == BookingEventKind.CANCELLED:
            self._supersede_reminders(session, booking.id)
            self._write(
                session, booking, info, MessageKind.CANCELLATION, event.at, with_invite=True
            )
        elif event.kind == BookingEventKind.LINK_REISSUED:
            # Pending reminders carry the old, now dead link: write them anew.
            self._supersede_reminders(session, booking.id)
            self._write(session, booking, info, MessageKind.LINK_REISSUED, event.at)
            self._write_reminders(session, booking, info, event.at)
        session.info["outbox_written"] = True

    def _write_reminders(
        self, session: Session, booking: Booking, info: BookingInfo, now: datetime
    ) -> None:
        for before in self._config.reminders:
            due = booking.start_at - before
            if due > now:  # a reminder whose moment has passed is not sent at all
                self._write(
                    session,
                    booking,
                    info,
                    MessageKind.REMINDER,
                    now,
                    not_before=due,
                    expires_at=booking.start_at,
                )

    def _supersede_reminders(self, session: Session, booking_id: int) -> None:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.booking_id == booking_id,
                OutboxMessage.kind.in_([k.value for k in REMINDER_KINDS]),
                OutboxMessage.status == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.SUPERSEDED)
            .execution_options(synchronize_session=False)
        )

    def _write(
        self,
        session: Session,
        booking: Booking,
        info: BookingInfo,
        kind: MessageKind,
        now: datetime,
        *,
        with_invite: bool = False,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
        previous_start: datetime | None = None,
    ) -> None:
        assert booking.email is not None
        urls = self._scheduler.urls(info, self._config.base_url)
        context = MailContext(
            reference=info.reference,
            service_name=info.service_name,
            channel=info.channel,
            start=info.start,
            end=info.end,
            timezone=self._scheduler.config.timezone,
            citizen_name=info.name,
            manage_url=urls.manage,
            join_url=urls.join,
            connection_test_url=f"{self._config.base_url}/connection-test",
            phone=info.phone,
            address=info.address if info.channel == Channel.IN_PERSON else None,
            team_name=info.team_name,
            hotline_phone=self._config.hotline_phone,
            previous_start=previous_start,
        )
        mail = self._renderer.render(kind, context, info.language)
        invite = None
        if with_invite:
            invite = booking_invite(
                info,
                tz=self._scheduler.tz,
                base_url=self._config.base_url,
                organizer=organizer(info, self._config.mail_from),
                join_url=urls.join,
                now=now,
            )
        session.add(
            OutboxMessage(
                booking_id=booking.id,
                kind=kind.value,
                recipient=booking.email,
                language=info.language,
                subject=mail.subject,
                text_body=mail.text,
                html_body=mail.html,
                ics=invite.content.decode() if invite else None,
                ics_method=invite.method if invite else None,
                message_id=f"<{uuid.uuid4().hex}@{self._domain}>",
                status=OutboxStatus.PENDING,
                not_before=not_before or now,
                expires_at=expires_at,
                created_at=now,
            )
        )
