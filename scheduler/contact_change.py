"""A citizen corrects their name, phone number and e-mail address through the booking's magic
link (DSGVO Art. 16).

Name and phone change at once, checked as a booking's are. The e-mail address never changes
directly: whoever holds the link (a forwarded mail, a shared computer) could otherwise move the
booking, its reminders and its video link to a mailbox of their own. A signed token goes to the
NEW address (`Audience.EMAIL_CHANGE`, 24 hours), naming the booking, its link version and the
address key it was asked from (`was`); confirming it sets the address, unless the booking's
address changed meanwhile (which also makes a used token worthless) or the new address already
holds as many open appointments of the service as one person may. The OLD address is then told.
The mails go through the outbox: listeners (`subscribe`) write them inside the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler import queries
from scheduler.addresses import cap_key
from scheduler.db import read_session, write_session
from scheduler.errors import (
    Conflict,
    EmailRequired,
    InvalidRequest,
    PhoneRequired,
    TokenExpired,
    TokenRevoked,
    TooManyOpenBookings,
)
from scheduler.models import Booking, BookingStatus, Channel
from scheduler.search import search_key
from scheduler.services import Scheduler
from scheduler.tokens import Audience
from scheduler.views import BookingInfo

EMAIL_CHANGE_LIFETIME = timedelta(hours=24)
NAME_MAX = 200  # bookings.name
EMAIL_MAX = 320
# The JSON API's rules for a booking (web/schemas.py `Name`, `Phone`), kept here for the domain.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9 ()/.-]{3,40}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


class ContactInvalid(InvalidRequest):
    """A name, phone number or e-mail address that a booking would not take."""

    code = "contact_invalid"


class EmailChangeStale(Conflict):
    """The booking's address is no longer the one the change was asked from: confirmed
    already, or changed another way since."""

    code = "email_change_stale"


class ContactEventKind(StrEnum):
    EMAIL_CHANGE_REQUESTED = "email_change"  # to the new address: confirm it
    EMAIL_CHANGED = "email_changed"  # to the old address: it was changed


@dataclass(frozen=True, slots=True)
class ContactEvent:
    kind: ContactEventKind
    booking_id: int
    recipient: str
    language: str
    at: datetime
    params: dict[str, str] = field(default_factory=dict)


Listener = Callable[[Session, ContactEvent], None]


@dataclass(frozen=True, slots=True)
class Corrected:
    booking: BookingInfo
    changed: bool  # name or phone
    confirm_sent_to: str | None  # the new address the confirmation went to

    @property
    def sent(self) -> bool:
        return self.confirm_sent_to is not None


@dataclass(frozen=True, slots=True)
class EmailChange:
    """An e-mail change token, read: which booking, to which address."""

    reference: str
    email: str
    expires_at: datetime


def _name(value: str) -> str:
    name = value.strip()
    if not name or len(name) > NAME_MAX or _CONTROL.search(name):
        raise ContactInvalid(field="name", code="contact_name_invalid", maximum=NAME_MAX)
    return name


def _phone(value: str, channel: str) -> str | None:
    phone = value.strip()
    if not phone:
        if channel == Channel.PHONE:
            raise PhoneRequired(field="phone")
        return None
    if not _PHONE.fullmatch(phone):
        raise ContactInvalid(field="phone", code="contact_phone_invalid")
    return phone


def check_email(value: str) -> str:
    email = value.strip()
    if not email:
        raise EmailRequired(field="email", code="contact_email_required")
    if len(email) > EMAIL_MAX or _CONTROL.search(email) or not _EMAIL.fullmatch(email):
        raise ContactInvalid(field="email", code="contact_email_invalid")
    return email


class ContactChange:
    def __init__(self, scheduler: Scheduler, lifetime: timedelta = EMAIL_CHANGE_LIFETIME) -> None:
        self._scheduler = scheduler
        self._lifetime = lifetime
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def correct(self, token: str, name: str, phone: str, email: str) -> Corrected:
        """Set name and phone now, and ask the new address to confirm a new e-mail address.
        Everything is checked before anything is written."""
        info = self._scheduler.booking_for_token(token)
        new_name, new_phone = _name(name), _phone(phone, info.channel)
        new_email = check_email(email) if email.strip() or info.email else None
        now = self._scheduler.clock()
        with write_session(self._scheduler.sessions) as session:
            booking = self._locked(session, info.reference, info.token_version)
            changed = (booking.name, booking.phone) != (new_name, new_phone)
            if changed:
                booking.name, booking.phone = new_name, new_phone
                booking.search_key = search_key(
                    booking.reference, new_name, booking.email, new_phone
                )
                booking.updated_at = now
            asked = new_email is not None and new_email != booking.email
            if asked:
                assert new_email is not None
                self._emit(
                    session,
                    ContactEvent(
                        ContactEventKind.EMAIL_CHANGE_REQUESTED,
                        booking.id,
                        new_email,
                        booking.language,
                        now,
                        {"email": new_email, "was": booking.email_key or ""},
                    ),
                )
            session.flush()
            result = BookingInfo.of(booking)
        return Corrected(result, changed, new_email if asked else None)

    def email_token(self, booking: BookingInfo, email: str, was: str, issued_at: datetime) -> str:
        """The token of the confirmation mail, valid `lifetime` from when it was asked."""
        return self._scheduler.tokens.issue(
            Audience.EMAIL_CHANGE,
            booking.reference,
            booking.token_version,
            issued_at,
            self._lifetime,
            extra={"email": email, "was": was},
        )

    def read(self, token: str) -> EmailChange:
        """What a token asks, if it still may: `TokenError`s, `EmailChangeStale`."""
        with read_session(self._scheduler.sessions) as session:
            booking, email = self._claimed(session, token)
            return EmailChange(booking.reference or "", email, self._expiry(token))

    def confirm(self, token: str) -> BookingInfo:
        """Set the address the token names; the old address is told."""
        now = self._scheduler.clock()
        with write_session(self._scheduler.sessions) as session:
            booking, email = self._claimed(session, token, lock=True)
            key = cap_key(email)
            if booking.status == BookingStatus.CONFIRMED and booking.start_at > now:
                # The person's lock on PostgreSQL, as a booking takes it (scheduler/services.py).
                self._scheduler.placement.service(session, booking.service_id, person=key)
                open_count = session.connection().scalar(
                    queries.OPEN_BOOKINGS,
                    {"email_key": key, "service_id": booking.service_id, "now": now},
                )
                maximum = self._scheduler.config.max_open_per_email
                if (open_count or 0) >= maximum:
                    raise TooManyOpenBookings(maximum=maximum)
            old = booking.email
            booking.email, booking.email_key = email, key
            booking.search_key = search_key(booking.reference, booking.name, email, booking.phone)
            booking.updated_at = now
            if old:
                self._emit(
                    session,
                    ContactEvent(
                        ContactEventKind.EMAIL_CHANGED,
                        booking.id,
                        old,
                        booking.language,
                        now,
                        {"email": email},
                    ),
                )
            session.flush()
            return BookingInfo.of(booking)

    def _claimed(self, session: Session, token: str, *, lock: bool = False) -> tuple[Booking, str]:
        claims = self._scheduler.tokens.decode(token, Audience.EMAIL_CHANGE)
        email, was = claims.extra.get("email"), claims.extra.get("was")
        if not isinstance(email, str) or not isinstance(was, str):
            raise EmailChangeStale()
        if lock:
            booking = self._locked(session, claims.subject, claims.version)
        else:
            found = session.scalar(select(Booking).where(Booking.reference == claims.subject))
            if found is None or found.token_version != claims.version:
                raise TokenRevoked()
            booking = found
        if booking.erased:
            raise TokenExpired()
        if (booking.email_key or "") != was:
            raise EmailChangeStale()
        return booking, email

    def _expiry(self, token: str) -> datetime:
        return self._scheduler.tokens.decode(token, Audience.EMAIL_CHANGE).expires_at

    def _locked(self, session: Session, reference: str, version: int) -> Booking:
        booking = session.scalar(
            select(Booking).where(Booking.reference == reference).with_for_update(of=Booking)
        )
        if booking is None or booking.token_version != version:
            raise TokenRevoked()
        if booking.erased:
            raise TokenExpired()
        return booking

    def _emit(self, session: Session, event: ContactEvent) -> None:
        for listener in self._listeners:
            listener(session, event)
