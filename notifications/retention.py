"""The outbox's part of the retention purge (scheduler/retention.py): a message repeats its
recipient's address and, once sent, the whole rendered mail."""

from __future__ import annotations

from sqlalchemy import and_, or_

from notifications.models import OutboxMessage
from scheduler.retention import Eraser, due_bookings

# A message about a booking goes with the booking's data; one without a booking counts from
# its own creation.
OUTBOX_MESSAGES = Eraser(
    "outbox_messages_deleted",
    OutboxMessage.id,
    lambda c: or_(
        OutboxMessage.booking_id.in_(due_bookings(c)),
        and_(OutboxMessage.booking_id.is_(None), OutboxMessage.created_at <= c.personal),
    ),
)

ERASERS = (OUTBOX_MESSAGES,)
