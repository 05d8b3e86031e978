"""The mails of a citizen's e-mail change (scheduler/contact_change.py): the link that confirms
the new address, sent to it, and the notice to the old address once it has been changed.

`ContactMailWriter` listens to `ContactChange` and writes the outbox row inside the transaction
of the change. `ContactComposer` renders it when the worker sends it: the confirmation link is
signed then, valid from when it was asked, and is not sent at all when the booking's address
changed meanwhile (the link could only be refused) or the booking has been erased. The texts are
in the mails' catalogue (`locale/*/LC_MESSAGES/messages.po`), the templates `email_change*`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from babel import Locale
from sqlalchemy.orm import Session

from notifications.messages import MailRenderer, _Dates, _tidy_text
from notifications.models import NEW_MESSAGES, OutboxMessage
from notifications.outbox import BookingReader, Composed, MessageComposer, message_row
from scheduler.addresses import cap_key
from scheduler.contact_change import EMAIL_CHANGE_LIFETIME, ContactEvent, ContactEventKind
from scheduler.views import BookingInfo

KINDS = frozenset(kind.value for kind in ContactEventKind)
# Its link proves control of the new mailbox: whoever holds the booking's link must not read it
# in the export (notifications/rights.py), or they could confirm an address they do not own.
WITHHELD_TEXT = frozenset({ContactEventKind.EMAIL_CHANGE_REQUESTED.value})
CONFIRM_PATH = "/termin/email-bestaetigen"


def masked(email: str) -> str:
    """An address as the old mailbox is told it: enough to recognise, not to copy
    ("erika@example.org" → "e***@example.org")."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


class ContactMailWriter:
    def __init__(self, base_url: str) -> None:
        self._domain = urlsplit(base_url).hostname or "localhost"

    def __call__(self, session: Session, event: ContactEvent) -> None:
        expires = None
        if event.kind == ContactEventKind.EMAIL_CHANGE_REQUESTED:
            expires = event.at + EMAIL_CHANGE_LIFETIME  # a link past its time is worthless
        row = message_row(
            event.kind.value,
            event.recipient,
            event.language,
            event.at,
            domain=self._domain,
            booking_id=event.booking_id,
            params=dict(event.params),
            expires_at=expires,
        )
        session.connection().execute(NEW_MESSAGES, [row])
        session.info["outbox_written"] = True


class ContactComposer(MessageComposer):
    """Renders the e-mail change mails; every other message goes to the composer it wraps."""

    def __init__(
        self,
        inner: MessageComposer,
        bookings: BookingReader,
        base_url: str,
        hotline_phone: str,
        email_token: Callable[[BookingInfo, str, str, datetime], str],
    ) -> None:
        # No super().__init__: everything that is no contact mail goes to `inner`.
        self._inner = inner
        self._contact_bookings = bookings
        self._base_url = base_url.rstrip("/")
        self._contact_hotline = hotline_phone
        self._email_token = email_token
        self._contact_renderer = MailRenderer()

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        if message.kind not in KINDS:
            return self._inner.compose(session, message, now)
        info = (
            self._contact_bookings.booking_info(session, message.booking_id)
            if message.booking_id
            else None
        )
        params = message.params or {}
        email = params.get("email") or ""
        if info is None or not info.name or not email:
            return None  # erased since
        values: dict[str, object] = {"booking": info, "hotline_phone": self._contact_hotline}
        if message.kind == ContactEventKind.EMAIL_CHANGE_REQUESTED:
            was = params.get("was") or ""
            if (cap_key(info.email) if info.email else "") != was:
                return None  # changed meanwhile: the link could only be refused
            token = self._email_token(info, email, was, message.created_at)
            values |= {
                "email": email,
                "confirm_url": f"{self._base_url}{CONFIRM_PATH}?{urlencode({'token': token})}",
                "expires_at": message.created_at + EMAIL_CHANGE_LIFETIME,
            }
        else:
            values |= {"email": masked(email), "changed_at": message.created_at}
        return self._render(message.kind, message.language, values)

    def _render(self, kind: str, language: str, values: dict[str, object]) -> Composed:
        renderer = self._contact_renderer
        language = renderer._language(language)
        zone = self._contact_bookings.tz
        dates = _Dates(renderer._translations[language], Locale.parse(language), zone)
        environment = renderer._environments[language]
        context = {**values, "language": language, "fmt": dates, "kind": kind}
        subject = environment.get_template("email_change_subject.txt").render(context)
        subject = " ".join(subject.split())  # a line break would start a new header
        text = environment.get_template(f"{kind}.txt").render(context, subject=subject)
        html = environment.get_template(f"{kind}.html").render(context, subject=subject)
        return Composed(subject, _tidy_text(text), html)
