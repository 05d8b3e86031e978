"""The waiting list's e-mails: joined, an offer, an offer passed on.

`WaitlistOutboxWriter` is registered on `Waitlist` and writes the outbox row in the transaction
of the change, as `OutboxWriter` does for bookings; the mail is rendered when it is sent, from
the entry and the offer as they are then: an offer that has been answered or has run out is not
mailed any more. The templates are `templates/waitlist_*` and `templates/offer*` (the subject
too, in `waitlist_subject.txt`), their texts in the mails' one catalogue, `messages.po`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel import Locale
from sqlalchemy.orm import Session

from notifications.messages import MailRenderer, _Dates, _tidy_text
from notifications.models import NEW_MESSAGES, OutboxMessage
from notifications.outbox import Composed, MessageComposer, OutboxConfig, message_row
from scheduler.views import BookingInfo
from scheduler.waitlist import EntryInfo, OfferInfo, Waitlist, WaitlistEvent, WaitlistEventKind
from scheduler.waitlist_models import EntryStatus, OfferStatus

# The paths of the public contract: `{base_url}/o/{token}` for an offer; ours for an entry.
OFFER_PATH = "/o/"
ENTRY_PATH = "/w/"

KIND_JOINED = "waitlist_joined"
KIND_OFFER = "waitlist_offer"
KIND_OFFER_EXPIRED = "waitlist_offer_expired"
KINDS = {
    WaitlistEventKind.JOINED: KIND_JOINED,
    WaitlistEventKind.OFFERED: KIND_OFFER,
    WaitlistEventKind.OFFER_EXPIRED: KIND_OFFER_EXPIRED,
}
_TEMPLATES = {
    KIND_JOINED: "waitlist_joined",
    KIND_OFFER: "offer",
    KIND_OFFER_EXPIRED: "offer_expired",
}


class WaitlistUrls:
    """The citizen's addresses of an entry and of an offer."""

    def __init__(self, base_url: str, waitlist: Waitlist) -> None:
        self._base_url = base_url
        self._waitlist = waitlist

    def entry(self, entry: EntryInfo) -> str:
        return f"{self._base_url}{ENTRY_PATH}{self._waitlist.entry_token(entry)}"

    def offer(self, offer: OfferInfo) -> str:
        return f"{self._base_url}{OFFER_PATH}{self._waitlist.offer_token(offer)}"


class WaitlistOutboxWriter:
    def __init__(self, config: OutboxConfig) -> None:
        self._domain = urlsplit(config.base_url).hostname or "localhost"

    def __call__(self, session: Session, event: WaitlistEvent) -> None:
        if not event.email:
            return
        row = message_row(
            KINDS[event.kind],
            event.email,
            event.language,
            event.at,
            domain=self._domain,
            params={
                "entry_id": str(event.entry_id),
                "offer_id": str(event.offer_id) if event.offer_id is not None else None,
            },
            # An offer mail that could not go out before the offer ran out is worthless.
            expires_at=event.expires_at,
        )
        session.connection().execute(NEW_MESSAGES, [row])
        session.info["outbox_written"] = True


class WaitlistMailRenderer(MailRenderer):
    """The booking mails' renderer (catalogues, one environment per language), with the
    waiting list's templates."""

    def render_waitlist(
        self, kind: str, language: str, values: dict[str, Any], tz: ZoneInfo
    ) -> tuple[str, str, str]:
        language = self._language(language)
        dates = _Dates(self._translations[language], Locale.parse(language), tz)
        values = {**values, "language": language, "fmt": dates}
        offer: OfferInfo | None = values.get("offer")
        environment = self._environments[language]
        subject = environment.get_template("waitlist_subject.txt").render(
            kind=kind,
            service=values["entry"].service_name,
            date=dates.date(offer.start) if offer else "",
        )
        # A line break in a header would start a new header: keep the subject on one line.
        subject = " ".join(subject.split())
        name = _TEMPLATES[kind]
        text = environment.get_template(f"{name}.txt").render(values, subject=subject)
        html = environment.get_template(f"{name}.html").render(values, subject=subject)
        return subject, _tidy_text(text), html


class ComposerWithWaitlist(MessageComposer):
    """The booking messages' composer, which also renders the waiting list's mails."""

    def __init__(
        self,
        *args: Any,
        waitlist: Waitlist,
        urls: WaitlistUrls,
        hotline_phone: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._waitlist = waitlist
        self._urls = urls
        self._hotline_phone = hotline_phone
        self._waitlist_renderer = WaitlistMailRenderer()

    def place_url(self, session: Session, info: BookingInfo) -> str | None:
        entry = self._waitlist.priority_place(session, info.service_id, info.email)
        return self._urls.entry(entry) if entry is not None else None

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        if message.kind not in _TEMPLATES:
            return super().compose(session, message, now)
        params = message.params or {}
        entry_id, offer_id = params.get("entry_id"), params.get("offer_id")
        if not entry_id:
            return None
        found = self._waitlist.mail_view(
            session, int(entry_id), int(offer_id) if offer_id else None
        )
        if found is None:
            return None
        entry, offer = found
        if entry.status not in (EntryStatus.WAITING, EntryStatus.OFFERED):
            return None  # left, removed or booked since: nothing more to tell
        if message.kind == KIND_OFFER and (offer is None or offer.status != OfferStatus.OPEN):
            return None
        values = {
            "entry": entry,
            "offer": offer,
            "entry_url": self._urls.entry(entry),
            "offer_url": self._urls.offer(offer) if offer else None,
            "hotline_phone": self._hotline_phone,
        }
        subject, text, html = self._waitlist_renderer.render_waitlist(
            message.kind, message.language, values, self._waitlist.scheduler.tz
        )
        return Composed(subject, text, html)


__all__ = [
    "ComposerWithWaitlist",
    "WaitlistMailRenderer",
    "WaitlistOutboxWriter",
    "WaitlistUrls",
]
