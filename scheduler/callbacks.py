"""The callback queue (Rückruf): citizens ask to be called back, staff work the queue.

A request is `open` until a staff member claims it. The claim is one conditional UPDATE
(`WHERE status = 'open'`, or already claimed by the same person) whose row count says who won:
on SQLite the write lock serialises the two, on PostgreSQL the second UPDATE waits for the
first one's row lock and then finds the condition false. Every action on a request (an
attempt, a booking, settling it) takes the claim the same way first, so nobody works a
request another staff member holds.

    open ──claim──> claimed ──release / not reached──> open
                      │ ├── reached, then book ──> booked (`booking_id`)
                      │ ├── settle ──> settled (on the phone)
                      │ └── failed attempts reach the limit / wrong number ──> closed
    open | claimed ──citizen's link──> withdrawn

Who sees what: hotline staff and administrators the whole queue; an advisor only the requests
of their own services whose `advisors_take_callbacks` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import callbacks_intake as intake
from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import (
    PENDING,
    AttemptOutcome,
    CallbackAttempt,
    CallbackRequest,
    CallbackStatus,
)
from scheduler.callbacks_queue import WORKERS, CallbackQueue
from scheduler.callbacks_rules import CallbackInput
from scheduler.callbacks_views import (
    CallbackEvent,
    CallbackEventKind,
    CallbackInfo,
    CallbackListener,
)
from scheduler.db import read_session, write_session
from scheduler.errors import (
    Busy,
    CallbackClaimed,
    CallbackFinished,
    NotFound,
    TokenRevoked,
)
from scheduler.idempotency import Idempotency, recall, remember
from scheduler.models import AuditEntry, Booking, Role, Service, Staff
from scheduler.requests import BookingRequest
from scheduler.services import Scheduler
from scheduler.tokens import Audience
from scheduler.views import BookingInfo


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    # Failed attempts (not reached) after which a request is closed and the citizen told.
    max_failed_attempts: int = 3
    # The withdraw link lives this long after the last preferred window.
    link_grace: timedelta = timedelta(days=14)
    max_queue: int = 500
    # Open requests one person (phone number or e-mail address) may have for one service.
    max_open_per_person: int = 2


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


class CallbackDesk(CallbackQueue):
    def __init__(self, scheduler: Scheduler, config: CallbackConfig | None = None) -> None:
        self.config = config or CallbackConfig()
        super().__init__(scheduler.sessions, self.config.max_queue)
        self._scheduler = scheduler
        self._listeners: list[CallbackListener] = []

    def subscribe(self, listener: CallbackListener) -> None:
        self._listeners.append(listener)

    # -- citizens --------------------------------------------------------------------------

    def request(self, data: CallbackInput, idempotency: Idempotency | None = None) -> CallbackInfo:
        """A new request, `open`; with an e-mail address its confirmation is in the outbox.
        With `idempotency` at most once: the same request again (a form sent twice) gets the
        request it made, and the hotline does not call the citizen twice."""
        now = self._scheduler.clock()
        data = data.checked(now)
        # Retried after a clash of two random references, or of one key sent twice at once
        # (the second then finds the first's request).
        for _ in range(3):
            try:
                with write_session(self._sessions) as session:
                    made = recall(session, idempotency) if idempotency is not None else None
                    if made is not None:
                        return self._made(session, made["reference"])
                    row, service = intake.insert(
                        session, data, now, self.config.max_open_per_person
                    )
                    info = CallbackInfo.of(row, service, None)
                    self._emit(session, CallbackEvent(CallbackEventKind.RECEIVED, info, now))
                    if idempotency is not None:
                        remember(session, idempotency, {"reference": row.reference}, now)
                    return info
            except IntegrityError:
                continue
        raise Busy()

    def _made(self, session: Session, reference: str) -> CallbackInfo:
        row = session.scalar(select(CallbackRequest).where(CallbackRequest.reference == reference))
        if row is None:  # erased since
            raise NotFound("unknown callback request")
        return self._info(session, row)

    def withdraw_token(self, callback: CallbackInfo) -> str:
        """The citizen's link token; it ends `link_grace` after the last preferred window."""
        last = max(end for _, end in callback.windows)
        lifetime = last + self.config.link_grace - callback.created_at
        return self._scheduler.tokens.issue(
            Audience.CALLBACK,
            callback.reference,
            callback.token_version,
            callback.created_at,
            lifetime,
        )

    def callback_info(self, session: Session, callback_id: int) -> CallbackInfo | None:
        """A request as its messages show it (read when the mail is sent)."""
        row = session.get(CallbackRequest, callback_id)
        return self._info(session, row) if row is not None else None

    def for_token(self, token: str) -> CallbackInfo:
        claims = self._scheduler.tokens.decode(token, Audience.CALLBACK)
        with read_session(self._sessions) as session:
            row = self._by_reference(session, claims.subject, claims.version)
            return self._info(session, row)

    def withdraw(self, token: str) -> CallbackInfo:
        """Withdraw through the citizen's link; withdrawing twice changes nothing."""
        claims = self._scheduler.tokens.decode(token, Audience.CALLBACK)
        now = self._scheduler.clock()
        with write_session(self._sessions) as session:
            row = self._by_reference(session, claims.subject, claims.version)
            result = session.connection().execute(
                update(CallbackRequest)
                .where(CallbackRequest.id == row.id, CallbackRequest.status.in_(PENDING))
                .values(status=CallbackStatus.WITHDRAWN, closed_at=now, updated_at=now)
            )
            row = self._reload(session, row.id)
            if _rowcount(result) == 0 and row.status != CallbackStatus.WITHDRAWN:
                raise CallbackFinished(status=row.status)
            return self._info(session, row)

    # -- staff -----------------------------------------------------------------------------

    def create(
        self, actor: StaffIdentity, data: CallbackInput, idempotency: Idempotency | None = None
    ) -> CallbackInfo:
        """A request taken on the phone by hotline staff (or an administrator)."""
        actor.require(Role.ADMIN, Role.HOTLINE)
        return self.request(replace(data, created_by_id=actor.id), idempotency)

    def open_to_advisors(self, actor: StaffIdentity, service_id: int, allowed: bool) -> bool:
        """Admin: whether the advisors of a service see and work its callback queue."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            service = session.get(Service, service_id)
            if service is None:
                raise NotFound("unknown service", field="service_id")
            service.advisors_take_callbacks = allowed
            return allowed

    def get(self, actor: StaffIdentity, callback_id: int) -> CallbackInfo:
        actor.require(*WORKERS)
        with read_session(self._sessions) as session:
            return self._info(session, self._visible(session, actor, callback_id))

    def booking_reference(self, actor: StaffIdentity, callback_id: int) -> str | None:
        """The reference of the appointment booked from the request, if one was."""
        actor.require(*WORKERS)
        with read_session(self._sessions) as session:
            row = self._visible(session, actor, callback_id)
            if row.booking_id is None:
                return None
            return session.scalar(select(Booking.reference).where(Booking.id == row.booking_id))

    def attempts(self, actor: StaffIdentity, callback_id: int) -> list[CallbackAttempt]:
        actor.require(*WORKERS)
        with read_session(self._sessions) as session:
            self._visible(session, actor, callback_id)
            found = session.scalars(
                select(CallbackAttempt)
                .where(CallbackAttempt.callback_id == callback_id)
                .order_by(CallbackAttempt.at, CallbackAttempt.id)
            )
            return list(found)

    def claim(self, actor: StaffIdentity, callback_id: int) -> CallbackInfo:
        """Take the request; claiming it again is harmless. Raises `CallbackClaimed` (naming
        the holder) when another staff member has it."""
        actor.require(*WORKERS)
        with write_session(self._sessions) as session:
            row = self._taken(session, actor, callback_id)
            self._audit(session, actor, "callback_claim", row)
            return self._info(session, row)

    def release(self, actor: StaffIdentity, callback_id: int) -> CallbackInfo:
        """Give the request back to the queue; an administrator may release anyone's."""
        actor.require(*WORKERS)
        now = self._scheduler.clock()
        with write_session(self._sessions) as session:
            row = self._visible(session, actor, callback_id)
            holder = (
                CallbackRequest.claimed_by_id.is_not(None)
                if actor.role == Role.ADMIN
                else CallbackRequest.claimed_by_id == actor.id
            )
            session.connection().execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == row.id,
                    CallbackRequest.status == CallbackStatus.CLAIMED,
                    holder,
                )
                .values(
                    status=CallbackStatus.OPEN, claimed_by_id=None, claimed_at=None, updated_at=now
                )
            )
            row = self._reload(session, row.id)
            if row.status != CallbackStatus.OPEN:
                self._refuse(session, row)
            return self._info(session, row)

    def attempt(
        self, actor: StaffIdentity, callback_id: int, outcome: AttemptOutcome
    ) -> CallbackInfo:
        """Log a call. Not reached: back to the queue, or closed once the failed attempts reach
        `max_failed_attempts`; a wrong number closes it at once (calling it again cannot help).
        A closed request's citizen is told by e-mail, if they gave one."""
        actor.require(*WORKERS)
        outcome = AttemptOutcome(outcome)
        now = self._scheduler.clock()
        with write_session(self._sessions) as session:
            row = self._taken(session, actor, callback_id)
            session.add(
                CallbackAttempt(callback_id=row.id, staff_id=actor.id, outcome=outcome, at=now)
            )
            session.flush()
            row.attempts += 1
            failed = session.scalar(
                select(func.count())
                .select_from(CallbackAttempt)
                .where(
                    CallbackAttempt.callback_id == row.id,
                    CallbackAttempt.outcome != AttemptOutcome.REACHED,
                )
            )
            given_up = outcome == AttemptOutcome.WRONG_NUMBER or (
                outcome == AttemptOutcome.NOT_REACHED
                and (failed or 0) >= self.config.max_failed_attempts
            )
            if given_up:
                row.status, row.closed_at = CallbackStatus.CLOSED, now
            elif outcome == AttemptOutcome.NOT_REACHED:
                row.status, row.claimed_by_id, row.claimed_at = CallbackStatus.OPEN, None, None
            row.updated_at = now
            self._audit(session, actor, f"callback_attempt:{outcome.value}", row)
            session.flush()
            info = self._info(session, row)
            if given_up:
                self._emit(session, CallbackEvent(CallbackEventKind.GIVEN_UP, info, now))
            return info

    def settle(self, actor: StaffIdentity, callback_id: int) -> CallbackInfo:
        """Settled on the phone: nothing left to do."""
        actor.require(*WORKERS)
        now = self._scheduler.clock()
        with write_session(self._sessions) as session:
            row = self._taken(session, actor, callback_id)
            row.status, row.closed_at, row.updated_at = CallbackStatus.SETTLED, now, now
            self._audit(session, actor, "callback_settle", row)
            session.flush()
            return self._info(session, row)

    def book(
        self,
        actor: StaffIdentity,
        callback_id: int,
        start: datetime,
        channel: str,
        advisor_id: int | None = None,
    ) -> tuple[CallbackInfo, BookingInfo]:
        """An appointment for the citizen, through `Scheduler.book` (its guarantees, its
        confirmation and invite), with the citizen's data from the request. The request turns
        `booked` in the booking's own transaction: both happen, or neither."""
        actor.require(*WORKERS)
        with write_session(self._sessions) as session:
            taken = self._info(session, self._taken(session, actor, callback_id))
        request = BookingRequest(
            service_id=taken.service_id,
            start=start,
            channel=channel,
            name=taken.name,
            email=taken.email,
            phone=taken.phone,
            language=taken.language,
            notes=taken.note,
            advisor_id=advisor_id,
            created_by_id=actor.id,
        )

        def mark_booked(session: Session, booking: BookingInfo) -> None:
            now = self._scheduler.clock()
            result = session.connection().execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == taken.id,
                    CallbackRequest.status == CallbackStatus.CLAIMED,
                    CallbackRequest.claimed_by_id == actor.id,
                )
                .values(
                    status=CallbackStatus.BOOKED,
                    booking_id=booking.id,
                    closed_at=now,
                    updated_at=now,
                )
            )
            if _rowcount(result) == 0:  # withdrawn or released meanwhile: no booking either
                self._refuse(session, self._reload(session, taken.id))
            session.add(
                AuditEntry(
                    at=now,
                    actor_id=actor.id,
                    action="create",
                    booking_id=booking.id,
                    detail=f"callback {taken.reference}",
                )
            )

        placed = self._scheduler.book(request, audit=mark_booked)
        assert placed.booking is not None
        with read_session(self._sessions) as session:
            booking = self._scheduler.booking_info(session, placed.booking.id)
            assert booking is not None
            return self._info(session, self._reload(session, taken.id)), booking

    # -- internals -------------------------------------------------------------------------

    def _emit(self, session: Session, event: CallbackEvent) -> None:
        for listener in self._listeners:
            listener(session, event)

    def _info(self, session: Session, row: CallbackRequest) -> CallbackInfo:
        service = session.scalar(select(Service.name).where(Service.id == row.service_id))
        claimer = (
            session.scalar(select(Staff.name).where(Staff.id == row.claimed_by_id))
            if row.claimed_by_id is not None
            else None
        )
        return CallbackInfo.of(row, service or "", claimer)

    def _reload(self, session: Session, callback_id: int) -> CallbackRequest:
        row = session.scalar(
            select(CallbackRequest)
            .where(CallbackRequest.id == callback_id)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    def _visible(self, session: Session, actor: StaffIdentity, callback_id: int) -> CallbackRequest:
        query = select(CallbackRequest).where(CallbackRequest.id == callback_id)
        if actor.role == Role.ADVISOR:
            # An advisor learns nothing of requests outside their queue, not even that they exist.
            query = query.where(CallbackRequest.service_id.in_(self._advisor_services(actor)))
        row = session.scalar(query)
        if row is None:
            raise NotFound("unknown callback request", field="id")
        return row

    def _taken(self, session: Session, actor: StaffIdentity, callback_id: int) -> CallbackRequest:
        """The request, claimed by `actor` in this transaction (see the module docstring)."""
        row = self._visible(session, actor, callback_id)
        now = self._scheduler.clock()
        result = session.connection().execute(
            update(CallbackRequest)
            .where(
                CallbackRequest.id == row.id,
                or_(
                    CallbackRequest.status == CallbackStatus.OPEN,
                    and_(
                        CallbackRequest.status == CallbackStatus.CLAIMED,
                        CallbackRequest.claimed_by_id == actor.id,
                    ),
                ),
            )
            .values(
                status=CallbackStatus.CLAIMED,
                claimed_by_id=actor.id,
                claimed_at=func.coalesce(CallbackRequest.claimed_at, now),
                updated_at=now,
            )
        )
        row = self._reload(session, row.id)
        if _rowcount(result) == 0:
            self._refuse(session, row)
        return row

    def _refuse(self, session: Session, row: CallbackRequest) -> None:
        """Raise what keeps the request from the action: another's claim, or its end."""
        if row.status == CallbackStatus.CLAIMED:
            holder = self._info(session, row)
            raise CallbackClaimed(
                claimed_by=holder.claimed_by_name or "", claimed_by_id=holder.claimed_by_id
            )
        raise CallbackFinished(status=row.status)

    def _by_reference(self, session: Session, reference: str, version: int) -> CallbackRequest:
        row = session.scalar(select(CallbackRequest).where(CallbackRequest.reference == reference))
        if row is None or row.token_version != version:
            raise TokenRevoked()  # erased by the retention purge, or its link revoked
        return row

    def _audit(
        self, session: Session, actor: StaffIdentity, action: str, row: CallbackRequest
    ) -> None:
        session.add(
            AuditEntry(
                at=self._scheduler.clock(),
                actor_id=actor.id,
                action=action[:40],
                booking_id=row.booking_id,
                detail=f"callback {row.reference}",
            )
        )
