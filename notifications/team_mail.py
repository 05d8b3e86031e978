"""Notices to a team's address: a booking of one of its services was made, moved or cancelled.

The admin form promises them ("copies of the team's bookings go here"). They are notices for
staff, not copies of the citizen's mail: no magic link, no invite, no e-mail address or phone
number of the citizen; the link leads to the booking's staff page, which needs a login. They
go out in the office's language through the same outbox, written in the transaction of the
change, and say what is true when they are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from notifications.messages import STAFF_KINDS, MailContext, MailRenderer, MessageKind
from notifications.models import NEW_MESSAGES, OutboxMessage
from notifications.outbox import BookingReader, Composed, MessageComposer, message_row
from scheduler.direct import Direct
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.models import BookingStatus

_NEW_MESSAGES = Direct(NEW_MESSAGES)
TEAM_KINDS = {
    BookingEventKind.CREATED: MessageKind.TEAM_BOOKED,
    BookingEventKind.RESCHEDULED: MessageKind.TEAM_MOVED,
    BookingEventKind.CANCELLED: MessageKind.TEAM_CANCELLED,
}


class TeamNoticeWriter:
    """Registered on `Scheduler.events`: one outbox row per change for the team's address."""

    def __init__(self, base_url: str, language: str) -> None:
        self._domain = urlsplit(base_url).hostname or "localhost"
        self._language = language

    def __call__(self, session: Session, event: BookingEvent) -> None:
        kind = TEAM_KINDS.get(event.kind)
        booking = event.booking
        if kind is None or not booking.team_email:
            return
        previous = event.previous_start.isoformat() if event.previous_start else None
        row = message_row(
            kind.value,
            booking.team_email,
            self._language,
            event.at,
            domain=self._domain,
            booking_id=booking.id,
            params={"previous_start": previous} if kind is MessageKind.TEAM_MOVED else None,
        )
        _NEW_MESSAGES.later(session.connection(), row)
        session.info["outbox_written"] = True


class TeamNoticeComposer(MessageComposer):
    """Renders the team notices; hands every other message to the composer it wraps."""

    def __init__(
        self,
        inner: MessageComposer,
        bookings: BookingReader,
        renderer: MailRenderer,
        staff_url: Callable[[str], str],
        hotline_phone: str,
    ) -> None:
        # No super().__init__: everything that is no team notice goes to `inner`.
        self._inner = inner
        self._team_bookings = bookings
        self._team_renderer = renderer
        self._staff_url = staff_url
        self._team_hotline = hotline_phone

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        if message.kind not in STAFF_KINDS:
            return self._inner.compose(session, message, now)
        kind = MessageKind(message.kind)
        info = (
            self._team_bookings.booking_info(session, message.booking_id)
            if message.booking_id
            else None
        )
        if info is None or not info.team_name:
            return None  # erased, or the service left its team since
        cancelled = info.status == BookingStatus.CANCELLED
        if cancelled != (kind is MessageKind.TEAM_CANCELLED):
            return None  # a notice of a booking or move that a cancellation overtook
        previous = (message.params or {}).get("previous_start")
        context = MailContext(
            reference=info.reference,
            service_name=info.service_name,
            channel=info.channel,
            start=info.start,
            end=info.end,
            timezone=self._team_bookings.tz.key,
            citizen_name=info.name,
            manage_url=self._staff_url(info.reference),
            join_url=None,
            booking_url="",
            connection_test_url="",
            phone=None,
            address=None,
            team_name=info.team_name,
            hotline_phone=self._team_hotline,
            previous_start=datetime.fromisoformat(previous) if previous else None,
            advisor_name=info.advisor_name or None,
        )
        mail = self._team_renderer.render(kind, context, message.language)
        return Composed(mail.subject, mail.text, mail.html)
