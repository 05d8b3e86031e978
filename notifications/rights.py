"""The outbox's part of a citizen's export and erasure (scheduler/rights.py,
scheduler/people.py): the e-mails about their booking, to whom and when, with their text as
sent; and, when a person is erased, every mail to their addresses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from notifications.contact_mail import WITHHELD_TEXT
from notifications.models import OutboxMessage


def export_mails(session: Session, booking_id: int) -> tuple[str, list[dict[str, Any]]]:
    messages = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.booking_id == booking_id)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    return "emails", [
        {
            "kind": message.kind,
            "recipient": message.recipient,
            "subject": message.subject,
            "status": message.status,
            "created_at": message.created_at.isoformat(),
            "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            # A mail whose link proves a mailbox is not shown to the holder of the booking link.
            "text": None if message.kind in WITHHELD_TEXT else message.text_body,
        }
        for message in messages
    ]


def erase_mails_to(session: Session, addresses: set[str]) -> int:
    """Delete the mails to these (lower-cased) addresses, whatever they were about."""
    if not addresses:
        return 0
    result = session.execute(
        delete(OutboxMessage).where(func.lower(OutboxMessage.recipient).in_(addresses)),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML Result is a CursorResult
