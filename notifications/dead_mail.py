"""The messages the outbox gave up on (dead letters: refused for good by the mail server, or
out of attempts), for administrators to see and send again once the cause is fixed (a typo in
an address corrected by the citizen, a mail relay that was down for hours).

Sending again puts a message back as new: pending, due now, its attempts counted from zero.
The worker renders it from the booking as it is then, so a confirmation shows the current time
of the appointment, and a reminder whose appointment has begun meanwhile is dropped as
expired. Each step is written to the audit log without the address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from notifications.models import OutboxMessage, OutboxStatus
from scheduler.db import read_session, write_session
from scheduler.errors import NotFound
from scheduler.models import AuditEntry, Booking, Role

if TYPE_CHECKING:
    from scheduler.accounts import StaffIdentity

PAGE = 50


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    kind: str
    recipient: str
    language: str
    attempts: int
    last_error: str | None
    created_at: datetime
    reference: str | None  # the booking's, when the message is about one


@dataclass(frozen=True, slots=True)
class DeadLetters:
    total: int
    page: int
    pages: int
    letters: list[DeadLetter]


class DeadMail:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def list(self, actor: StaffIdentity, page: int = 1) -> DeadLetters:
        """The dead letters, newest first, `PAGE` to a page (a page past the end: the last)."""
        actor.require(Role.ADMIN)
        dead = OutboxMessage.status == OutboxStatus.DEAD
        with read_session(self._sessions) as session:
            total = session.scalar(select(func.count()).where(dead)) or 0
            pages = max(1, -(-total // PAGE))
            page = min(max(page, 1), pages)
            rows = session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.kind,
                    OutboxMessage.recipient,
                    OutboxMessage.language,
                    OutboxMessage.attempts,
                    OutboxMessage.last_error,
                    OutboxMessage.created_at,
                    Booking.reference,
                )
                .outerjoin(Booking, Booking.id == OutboxMessage.booking_id)
                .where(dead)
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                .limit(PAGE)
                .offset((page - 1) * PAGE)
            ).all()
        return DeadLetters(total, page, pages, [DeadLetter(*row) for row in rows])

    def resend(self, actor: StaffIdentity, message_id: int) -> bool:
        """Put one dead letter back; False when it is not dead (any more): nothing changes."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            found = session.execute(
                select(OutboxMessage.booking_id).where(OutboxMessage.id == message_id)
            ).first()
            if found is None:
                raise NotFound("unknown message", field="message")
            if not self._revive(session, OutboxMessage.id == message_id):
                return False
            session.add(
                AuditEntry(
                    at=self._clock(),
                    actor_id=actor.id,
                    action="mail_resent",
                    booking_id=found.booking_id,
                    detail=f"outbox message {message_id}",
                )
            )
            return True

    def resend_all(self, actor: StaffIdentity) -> int:
        """Put every dead letter back; how many."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            count = self._revive(session, OutboxMessage.status == OutboxStatus.DEAD)
            if count:
                session.add(
                    AuditEntry(
                        at=self._clock(),
                        actor_id=actor.id,
                        action="mail_resent_all",
                        detail=f"{count} outbox messages",
                    )
                )
            return count

    def _revive(self, session: Session, which: ColumnElement[bool]) -> int:
        result = session.execute(
            update(OutboxMessage)
            .where(which, OutboxMessage.status == OutboxStatus.DEAD)
            .values(
                status=OutboxStatus.PENDING,
                attempts=0,
                not_before=self._clock(),
                locked_until=None,
                last_error=None,
            )
        )
        return int(cast("CursorResult[Any]", result).rowcount or 0)
