"""The outbox's part of a citizen's export (scheduler/rights.py): the e-mails about their
booking, to whom and when, with their text as sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
            "text": message.text_body,
        }
        for message in messages
    ]
