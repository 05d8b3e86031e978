"""The password reset mail (scheduler/credentials.py): written to the outbox in the transaction
of the request, in the staff's language (`staff_language`), and not sent once the link has
expired. The link's secret is in the row only until the row is purged with the outbox."""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from notifications.models import NEW_MESSAGES, OutboxMessage
from notifications.outbox import Composed, MessageComposer, message_row
from scheduler.credentials import ResetRequested

KIND = "password_reset"
RESET_PATH = "/staff/passwort-neu"

# Two languages, one short mail: kept here rather than in the booking mails' catalogue.
_TEXTS = {
    "de": (
        "Neues Passwort für Sprechstunde",
        "Jemand hat für dieses Konto ein neues Passwort angefordert. Mit diesem Link setzen "
        "Sie es, einmal und bis {until} Uhr:",
        "Wenn Sie das nicht waren, ignorieren Sie diese E-Mail; Ihr Passwort bleibt.",
    ),
    "en": (
        "New password for Sprechstunde",
        "Someone asked for a new password for this account. This link sets it, once and "
        "until {until}:",
        "If that was not you, ignore this e-mail; your password stays as it is.",
    ),
}


class ResetMailWriter:
    def __init__(self, base_url: str, language: str) -> None:
        self._domain = urlsplit(base_url).hostname or "localhost"
        self._language = language if language in _TEXTS else "de"

    def __call__(self, session: Session, event: ResetRequested) -> None:
        row = message_row(
            KIND,
            event.email,
            self._language,
            event.at,
            domain=self._domain,
            params={"token": event.secret, "expires_at": event.expires_at.isoformat()},
            expires_at=event.expires_at,
        )
        session.connection().execute(NEW_MESSAGES, [row])
        session.info["outbox_written"] = True


class ResetMailComposer(MessageComposer):
    """Renders the reset mail; every other message goes to the composer it wraps."""

    def __init__(self, inner: MessageComposer, base_url: str, tz: ZoneInfo) -> None:
        # No super().__init__: everything that is no reset mail goes to `inner`.
        self._inner = inner
        self._reset_base = base_url.rstrip("/")
        self._reset_tz = tz

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        if message.kind != KIND:
            return self._inner.compose(session, message, now)
        params = message.params or {}
        token, expires = params.get("token"), params.get("expires_at")
        if not token or not expires:
            return None
        until = datetime.fromisoformat(expires).astimezone(self._reset_tz).strftime("%H:%M")
        subject, intro, outro = _TEXTS.get(message.language, _TEXTS["de"])
        url = f"{self._reset_base}{RESET_PATH}?{urlencode({'token': token})}"
        intro = intro.format(until=until)
        text = f"{intro}\n\n{url}\n\n{outro}\n"
        html = (
            f'<!DOCTYPE html><html lang="{escape(message.language)}"><head><meta charset="utf-8">'
            f"<title>{escape(subject)}</title></head><body><p>{escape(intro)}</p>"
            f'<p><a href="{escape(url)}">{escape(url)}</a></p><p>{escape(outro)}</p></body></html>'
        )
        return Composed(subject, text, html)
