"""The mails about callback requests, through the same outbox as the booking mails.

`CallbackMailWriter` listens to `CallbackDesk` and writes the outbox row inside the transaction
of the change (a request that is rolled back sends nothing). `CallbackComposer` renders such a
row when the worker sends it, from the request as it is then: a request withdrawn before its
confirmation went out gets none. Every other row is the booking composer's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from notifications.messages import CallbackMailContext, CallbackMailKind, MailRenderer
from notifications.models import NEW_MESSAGES, OutboxMessage
from notifications.outbox import (
    BookingLinks,
    Composed,
    MessageComposer,
    OutboxConfig,
    message_row,
)
from scheduler.callbacks_models import PENDING, CallbackStatus
from scheduler.callbacks_views import CallbackEvent, CallbackEventKind, CallbackInfo

_KINDS = {
    CallbackEventKind.RECEIVED: CallbackMailKind.CALLBACK_RECEIVED,
    CallbackEventKind.GIVEN_UP: CallbackMailKind.CALLBACK_CLOSED,
}
# Which states of the request a mail still fits when it is sent.
_STILL_TRUE: dict[CallbackMailKind, tuple[str, ...]] = {
    CallbackMailKind.CALLBACK_RECEIVED: tuple(PENDING),
    CallbackMailKind.CALLBACK_CLOSED: (CallbackStatus.CLOSED,),
}


class CallbackReader(Protocol):
    """What composing reads of the callback queue (`scheduler.callbacks.CallbackDesk`)."""

    def callback_info(self, session: Session, callback_id: int) -> CallbackInfo | None: ...

    def withdraw_token(self, callback: CallbackInfo) -> str: ...


class CallbackMailWriter:
    def __init__(self, config: OutboxConfig) -> None:
        self._domain = urlsplit(config.base_url).hostname or "localhost"

    def __call__(self, session: Session, event: CallbackEvent) -> None:
        callback = event.callback
        if not callback.email:
            return  # asked on the phone, or without an address: nothing to send
        row = message_row(
            _KINDS[event.kind].value,
            callback.email,
            callback.language,
            event.at,
            domain=self._domain,
            params={"callback_id": str(callback.id)},
        )
        session.connection().execute(NEW_MESSAGES, [row])
        session.info["outbox_written"] = True


class CallbackComposer(MessageComposer):
    """Renders the callback mails and hands every other message to the composer it wraps (the
    booking composer, or one that wraps it in turn)."""

    def __init__(
        self,
        inner: MessageComposer,
        renderer: MailRenderer,
        config: OutboxConfig,
        links: BookingLinks,
        zone: ZoneInfo,
        callbacks: CallbackReader,
        withdraw_url: Callable[[str], str],
    ) -> None:
        # No super().__init__: everything that is no callback mail goes to `inner`.
        self._inner = inner
        self._callback_renderer = renderer
        self._hotline_phone = config.hotline_phone
        self._start_url = links.start_url
        self._zone = zone
        self._callbacks = callbacks
        self._withdraw_url = withdraw_url

    def compose(self, session: Session, message: OutboxMessage, now: datetime) -> Composed | None:
        if message.kind not in _STILL_TRUE:
            return self._inner.compose(session, message, now)
        kind = CallbackMailKind(message.kind)
        callback_id = (message.params or {}).get("callback_id")
        info = self._callbacks.callback_info(session, int(callback_id)) if callback_id else None
        if info is None or info.status not in _STILL_TRUE[kind]:
            return None  # withdrawn, booked or erased since: nothing left to tell
        context = CallbackMailContext(
            reference=info.reference,
            service_name=info.service_name,
            citizen_name=info.name,
            phone=info.phone,
            windows=info.windows,
            timezone=self._zone.key,
            withdraw_url=self._withdraw_url(self._callbacks.withdraw_token(info)),
            booking_url=self._start_url,
            hotline_phone=self._hotline_phone,
        )
        mail = self._callback_renderer.render_callback(kind, context, message.language)
        return Composed(mail.subject, mail.text, mail.html)
