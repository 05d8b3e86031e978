"""The callback queue's part of the retention purge (scheduler/retention.py): a request holds
a name, a phone number and maybe an e-mail address; it is deleted, with its attempts, once the
retention period has passed since it ended (booked, settled, closed or withdrawn), or since it
was made if it never ended. A booking made from it keeps its own, longer-lived copy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select

from scheduler.callbacks_models import CallbackAttempt, CallbackRequest
from scheduler.retention import Cutoffs, Eraser


def due_callbacks(cutoffs: Cutoffs) -> Select[Any]:
    return select(CallbackRequest.id).where(_due(cutoffs))


def _due(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return or_(
        CallbackRequest.closed_at <= cutoffs.personal,
        and_(CallbackRequest.closed_at.is_(None), CallbackRequest.created_at <= cutoffs.personal),
    )


# The attempts first: the requests' rows are what they point to.
CALLBACK_ATTEMPTS = Eraser(
    "callback_attempts_deleted",
    CallbackAttempt.id,
    lambda c: CallbackAttempt.callback_id.in_(due_callbacks(c)),
)
CALLBACK_REQUESTS = Eraser("callback_requests_deleted", CallbackRequest.id, _due)

ERASERS = (CALLBACK_ATTEMPTS, CALLBACK_REQUESTS)
