"""Offers from the waiting list: the offer loop, and the answers to an offer.

An open offer is a held booking in the advisor's calendar whose hold runs out with the offer
(`waitlist_models`): the database's overlap protection (the exclusion constraint on
PostgreSQL, the write lock on SQLite) keeps it from anybody else, and the slot search does not
show it. Accepting turns that held booking into an ordinary one (its confirmation mail and
invite follow from the `CREATED` booking event); declining or expiry deletes it, and the next
run of the offer loop offers the slot to the next person it suits.

Every state change is a conditional update (`... WHERE status = 'open'`) or runs on a locked
row, so two workers, or an expiry and an acceptance, can run at once: exactly one of them
changes the row.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from scheduler.availability import Slot, find_slots, last_bookable_day
from scheduler.db import conflict_kind, read_session, write_session
from scheduler.errors import (
    Busy,
    NotFound,
    OfferUnavailable,
    SchedulerError,
    TokenInvalid,
    TokenRevoked,
)
from scheduler.events import BookingEvent, BookingEventKind
from scheduler.models import Booking, BookingStatus, Service
from scheduler.placement import new_booking, slot_rules, sweep_expired_holds, take_advisors_turn
from scheduler.references import new_reference
from scheduler.services import Scheduler
from scheduler.tokens import Audience
from scheduler.views import BookingInfo
from scheduler.waitlist_models import (
    LINE_ORDER,
    EntryStatus,
    OfferStatus,
    WaitlistEntry,
    WaitlistOffer,
)
from scheduler.waitlist_rules import OfferTerms, Wishes, offer_expiry, slot_key
from scheduler.waitlist_views import (
    NUDGE,
    OfferInfo,
    Outcome,
    RunResult,
    WaitlistConfig,
    WaitlistEvent,
    WaitlistEventKind,
    WaitlistListener,
)

log = logging.getLogger(__name__)


class OfferDesk:
    """The offers of the waiting list; `scheduler.waitlist.Waitlist` adds the entries."""

    def __init__(self, scheduler: Scheduler, config: WaitlistConfig | None = None) -> None:
        self.scheduler = scheduler
        self.config = config or WaitlistConfig()
        self.terms = OfferTerms(self.config.offer_lifetime, self.config.shortest_offer)
        self._listeners: list[WaitlistListener] = []

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.scheduler.clock

    def subscribe(self, listener: WaitlistListener) -> None:
        self._listeners.append(listener)

    def _emit(self, session: Session, event: WaitlistEvent) -> None:
        for listener in self._listeners:
            listener(session, event)

    def offer_token(self, offer: OfferInfo) -> str:
        lifetime = offer.end + self.config.offer_link_grace - offer.created_at
        return self.scheduler.tokens.issue(
            Audience.OFFER, str(offer.id), 1, offer.created_at, lifetime
        )

    def _entry_id(self, token: str) -> tuple[int, int]:
        claims = self.scheduler.tokens.decode(token, Audience.WAITLIST)
        if not claims.subject.isdigit():
            raise TokenInvalid("malformed subject")
        return int(claims.subject), claims.version

    def _offer_id(self, token: str) -> int:
        claims = self.scheduler.tokens.decode(token, Audience.OFFER)
        if not claims.subject.isdigit() or claims.version != 1:
            raise TokenInvalid("malformed subject")
        return int(claims.subject)

    # -- offers ----------------------------------------------------------------------------

    def offer_for_token(self, token: str) -> OfferInfo:
        offer_id = self._offer_id(token)
        with read_session(self.scheduler.sessions) as session:
            return self._offer_info(session, self._offer_by(session, offer_id))

    def accept(self, token: str) -> BookingInfo:
        """Confirm the offered slot: the held booking becomes the person's appointment.
        Accepting an accepted offer answers with its booking again."""
        offer_id = self._offer_id(token)
        for _ in range(self.scheduler.config.max_attempts):
            try:
                with write_session(self.scheduler.sessions) as session:
                    return self._accept(session, offer_id)
            except IntegrityError as exc:
                if conflict_kind(exc) != "unique":  # a booking reference drawn twice
                    raise
        raise Busy()

    def _accept(self, session: Session, offer_id: int) -> BookingInfo:
        now = self.clock()
        offer = self._offer_by(session, offer_id, lock=True)
        if offer.status == OfferStatus.ACCEPTED and offer.booking_id is not None:
            accepted = self.scheduler.booking_info(session, offer.booking_id)
            if accepted is not None and accepted.status == BookingStatus.CONFIRMED:
                return accepted
        if offer.status != OfferStatus.OPEN or offer.expires_at <= now:
            raise OfferUnavailable(status=self._status(offer, now))
        booking = session.scalar(
            select(Booking)
            .where(Booking.id == offer.booking_id, Booking.status == BookingStatus.HELD)
            .with_for_update(of=Booking)
        )
        entry = session.get(WaitlistEntry, offer.entry_id)
        if booking is None or entry is None:
            raise OfferUnavailable(status="gone")
        booking.status = BookingStatus.CONFIRMED
        booking.reference = new_reference()
        booking.hold_token_hash = booking.hold_expires_at = None
        booking.name, booking.email, booking.email_key = entry.name, entry.email, entry.email_key
        booking.phone, booking.language = entry.phone, entry.language
        booking.created_at = booking.updated_at = now
        booking.created_by_id = entry.created_by_id
        offer.status, offer.decided_at = OfferStatus.ACCEPTED, now
        entry.status, entry.updated_at = EntryStatus.BOOKED, now
        session.flush()
        info = BookingInfo.of(booking)
        self.scheduler.events.emit(session, BookingEvent(BookingEventKind.CREATED, info, now))
        return info

    def decline(self, token: str) -> OfferInfo:
        """Give an offer back: the slot goes to the next person it suits; the entry keeps its
        place for other slots. Declining again, or an offer that has run out, changes nothing."""
        offer_id = self._offer_id(token)
        now = self.clock()
        with write_session(self.scheduler.sessions) as session:
            offer = self._offer_by(session, offer_id, lock=True)
            if offer.status == OfferStatus.ACCEPTED:
                raise OfferUnavailable(status=OfferStatus.ACCEPTED.value)
            if offer.status == OfferStatus.OPEN:
                self._close_offer(session, offer, now, OfferStatus.DECLINED)
                session.flush()
            return self._offer_info(session, offer)

    # -- the offer loop --------------------------------------------------------------------

    def run(self) -> RunResult:
        """One pass of the offer loop: close the offers that have run out, then offer the
        free slots to the people waiting, the longest-waiting first. Safe to run in several
        processes at once."""
        result = RunResult()
        result.expired = self.expire_due()
        for service_id in self._services_waiting():
            result.services += 1
            made = self._offer_service(service_id)
            result.offered += len(made)
            result.offers += made
        return result

    def expire_due(self) -> int:
        now = self.clock()
        with read_session(self.scheduler.sessions) as session:
            due = list(
                session.scalars(
                    select(WaitlistOffer.id).where(
                        WaitlistOffer.status == OfferStatus.OPEN, WaitlistOffer.expires_at <= now
                    )
                )
            )
        expired = 0
        for offer_id in due:
            with write_session(self.scheduler.sessions) as session:
                offer = session.get(WaitlistOffer, offer_id, with_for_update=True)
                if offer is None or offer.status != OfferStatus.OPEN or offer.expires_at > now:
                    continue  # accepted, declined or expired by someone else meanwhile
                entry = self._close_offer(session, offer, now, OfferStatus.EXPIRED)
                if entry is not None:
                    self._emit(
                        session,
                        WaitlistEvent(
                            WaitlistEventKind.OFFER_EXPIRED,
                            entry.id,
                            entry.email,
                            entry.language,
                            now,
                            offer_id=offer.id,
                        ),
                    )
                expired += 1
        return expired

    def _services_waiting(self) -> list[int]:
        with read_session(self.scheduler.sessions) as session:
            oldest = func.min(WaitlistEntry.created_at)
            rows = session.execute(
                select(WaitlistEntry.service_id)
                .where(WaitlistEntry.status == EntryStatus.WAITING)
                .group_by(WaitlistEntry.service_id)
                .order_by(func.max(case((WaitlistEntry.priority, 1), else_=0)).desc(), oldest)
            ).all()
        return [service_id for (service_id,) in rows]

    def _offer_service(self, service_id: int) -> list[int]:
        now = self.clock()
        scheduler = self.scheduler
        placement, tz = scheduler.placement, scheduler.tz
        with read_session(scheduler.sessions) as session:
            try:
                service = placement.service(session, service_id)
            except NotFound:
                return []
            entries = list(
                session.scalars(
                    select(WaitlistEntry)
                    .where(
                        WaitlistEntry.service_id == service_id,
                        WaitlistEntry.status == EntryStatus.WAITING,
                    )
                    .order_by(*LINE_ORDER)
                    .limit(self.config.batch)
                )
            )
            refused: dict[int, set[datetime]] = {}
            for entry_id, start in session.execute(
                select(WaitlistOffer.entry_id, WaitlistOffer.start_at).where(
                    WaitlistOffer.entry_id.in_([e.id for e in entries]),
                    WaitlistOffer.status.in_((OfferStatus.DECLINED, OfferStatus.EXPIRED)),
                )
            ):
                refused.setdefault(entry_id, set()).add(start)
            first = now.astimezone(tz).date()
            last = last_bookable_day(slot_rules(service), now, tz)
            calendars = placement.calendars(session, service, first, last, now)
            closed = placement.closed(session, first, last)
        rules = slot_rules(service)
        slots = find_slots(rules, calendars, first, last, now=now, tz=tz, closed_days=closed)
        min_notice = timedelta(minutes=service.min_notice_minutes)
        candidates = [
            (slot, slot_key(slot.start, tz))
            for slot in slots
            if offer_expiry(now, slot.start, min_notice, self.terms)
        ]
        given: Counter[datetime] = Counter()
        made: list[int] = []
        for entry in entries:
            if entry.channel in service.channels and candidates:
                offer_id = self._first_fit(entry, candidates, given, refused.get(entry.id, set()))
                if offer_id is not None:
                    made.append(offer_id)
        return made

    def _first_fit(
        self,
        entry: WaitlistEntry,
        candidates: list[tuple[Slot, tuple[int, str]]],
        given: Counter[datetime],
        not_again: set[datetime],
    ) -> int | None:
        """Offer `entry` the first free slot that suits it; `given` counts, per start, the
        advisors this run has given away or found taken."""
        wishes = Wishes(entry.weekdays, entry.day_parts)
        tries = 0
        for slot, (weekday, part) in candidates:
            start = slot.start
            if given[start] >= len(slot.advisor_ids) or start in not_again:
                continue
            if not wishes.suit_at(weekday, part):
                continue
            outcome, offer_id = self._offer(entry.id, entry.service_id, entry.channel, slot)
            if outcome is Outcome.OFFERED:
                given[start] += 1
                return offer_id
            if outcome is Outcome.ENTRY_GONE:  # another worker made this person an offer
                return None
            given[start] = len(slot.advisor_ids)  # no advisor is free at that time any more
            tries += 1
            if tries >= self.config.tries_per_entry:
                return None
        return None

    def _offer(
        self, entry_id: int, service_id: int, channel: str, slot: Slot
    ) -> tuple[Outcome, int | None]:
        try:
            with write_session(self.scheduler.sessions) as session:
                return self._make_offer(session, entry_id, service_id, channel, slot.start)
        except SchedulerError:
            return Outcome.SLOT_TAKEN, None  # no longer free, or no longer bookable at all
        except DBAPIError as exc:
            kind = conflict_kind(exc)
            if kind in ("overlap", "deadlock"):
                return Outcome.SLOT_TAKEN, None
            if kind == "unique":
                return Outcome.ENTRY_GONE, None
            raise

    def _make_offer(
        self, session: Session, entry_id: int, service_id: int, channel: str, start: datetime
    ) -> tuple[Outcome, int | None]:
        now = self.clock()
        placement = self.scheduler.placement
        # On the connection: a Core statement, whose result counts the rows it changed.
        claimed = session.connection().execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == entry_id, WaitlistEntry.status == EntryStatus.WAITING)
            .values(status=EntryStatus.OFFERED, updated_at=now)
        )
        if claimed.rowcount != 1:
            return Outcome.ENTRY_GONE, None
        service = placement.service(session, service_id)
        expires = offer_expiry(
            now, start, timedelta(minutes=service.min_notice_minutes), self.terms
        )
        if expires is None:
            raise NotFound("too soon to offer")
        choice = placement.choose(session, service, start, channel, now, None, None)
        booking = new_booking(service, choice.advisor_id, channel, start, BookingStatus.HELD)
        take_advisors_turn(session, choice.advisor_id, booking.start_at)
        sweep_expired_holds(session, choice, booking.start_at, booking.blocked_until, now)
        booking.hold_expires_at = expires
        booking.created_at = booking.updated_at = now
        session.add(booking)
        session.flush()
        offer = WaitlistOffer(
            entry_id=entry_id,
            booking_id=booking.id,
            service_id=service.id,
            advisor_id=choice.advisor_id,
            channel=channel,
            start_at=booking.start_at,
            end_at=booking.end_at,
            expires_at=expires,
            status=OfferStatus.OPEN,
            created_at=now,
        )
        session.add(offer)
        session.flush()
        entry = session.get(WaitlistEntry, entry_id, populate_existing=True)
        assert entry is not None
        self._emit(
            session,
            WaitlistEvent(
                WaitlistEventKind.OFFERED,
                entry_id,
                entry.email,
                entry.language,
                now,
                offer_id=offer.id,
                expires_at=expires,
            ),
        )
        return Outcome.OFFERED, offer.id

    # -- internals -------------------------------------------------------------------------

    def _close_offer(
        self, session: Session, offer: WaitlistOffer, now: datetime, status: OfferStatus
    ) -> WaitlistEntry | None:
        """End an open offer: free its slot, and put a person who still waits back in line
        (at their old place: the list is ordered by the time of joining)."""
        offer.status, offer.decided_at = status, now
        session.info[NUDGE] = True
        if offer.booking_id is not None:
            session.execute(
                delete(Booking)
                .where(Booking.id == offer.booking_id, Booking.status == BookingStatus.HELD)
                .execution_options(synchronize_session=False)
            )
            offer.booking_id = None
        entry = session.get(WaitlistEntry, offer.entry_id, with_for_update=True)
        if entry is not None and entry.status == EntryStatus.OFFERED:
            entry.status, entry.updated_at = EntryStatus.WAITING, now
            return entry
        return None

    def _withdraw_open_offer(
        self, session: Session, entry_id: int, now: datetime, status: OfferStatus
    ) -> None:
        offer = session.scalar(
            select(WaitlistOffer)
            .where(WaitlistOffer.entry_id == entry_id, WaitlistOffer.status == OfferStatus.OPEN)
            .with_for_update()
        )
        if offer is not None:
            self._close_offer(session, offer, now, status)

    def _offer_by(self, session: Session, offer_id: int, lock: bool = False) -> WaitlistOffer:
        query = select(WaitlistOffer).where(WaitlistOffer.id == offer_id)
        offer = session.scalar(query.with_for_update() if lock else query)
        if offer is None:
            raise TokenRevoked()
        return offer

    def _status(self, offer: WaitlistOffer, now: datetime) -> str:
        if offer.status == OfferStatus.OPEN and offer.expires_at <= now:
            return OfferStatus.EXPIRED.value
        return str(offer.status)

    def _offer_info(self, session: Session, offer: WaitlistOffer) -> OfferInfo:
        service_name = session.scalar(select(Service.name).where(Service.id == offer.service_id))
        entry = session.get(WaitlistEntry, offer.entry_id)
        return OfferInfo(
            id=offer.id,
            entry_id=offer.entry_id,
            status=self._status(offer, self.clock()),
            service_id=offer.service_id,
            service_name=service_name or "",
            channel=offer.channel,
            start=offer.start_at,
            end=offer.end_at,
            expires_at=offer.expires_at,
            created_at=offer.created_at,
            booking_id=offer.booking_id,
            name=entry.name if entry else "",
            language=entry.language if entry else "de",
        )
