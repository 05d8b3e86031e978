"""The callback queue's part of the retention purge (scheduler/retention.py): a request holds
a name, a phone number and maybe an e-mail address; it is deleted, with its attempts, once the
retention period has passed since it ended (booked, settled, closed or withdrawn), or since it
was made if it never ended. A booking made from it keeps its own, longer-lived copy.

What the statistics need of a request is folded into counters in the transaction that deletes
it (scheduler/statistics_keep.py); so a request goes together with all of its attempts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, or_, select
from sqlalchemy.orm import Session

from scheduler.callbacks_models import CallbackAttempt, CallbackRequest
from scheduler.retention import Cutoffs, Eraser
from scheduler.statistics_keep import delete_rows, keep_callbacks


def due_callbacks(cutoffs: Cutoffs) -> Select[Any]:
    return select(CallbackRequest.id).where(_due(cutoffs))


def _due(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return or_(
        CallbackRequest.closed_at <= cutoffs.personal,
        and_(CallbackRequest.closed_at.is_(None), CallbackRequest.created_at <= cutoffs.personal),
    )


def _delete(session: Session, request_ids: Sequence[int]) -> tuple[int, int]:
    """Fold and delete these requests with all their attempts: (attempts, requests) gone."""
    kept = keep_callbacks(session, request_ids)
    attempts = delete_rows(
        session, delete(CallbackAttempt).where(CallbackAttempt.callback_id.in_(kept))
    )
    return attempts, delete_rows(
        session, delete(CallbackRequest).where(CallbackRequest.id.in_(kept))
    )


def _delete_attempted(session: Session, attempt_ids: Sequence[Any]) -> int:
    request_ids = session.scalars(
        select(CallbackAttempt.callback_id).where(CallbackAttempt.id.in_(attempt_ids)).distinct()
    ).all()
    return _delete(session, request_ids)[0]


# The requests with attempts first, counted by their attempts; then those never attempted.
CALLBACK_ATTEMPTS = Eraser(
    "callback_attempts_deleted",
    CallbackAttempt.id,
    lambda c: CallbackAttempt.callback_id.in_(due_callbacks(c)),
    _delete_attempted,
)
CALLBACK_REQUESTS = Eraser(
    "callback_requests_deleted",
    CallbackRequest.id,
    _due,
    lambda session, ids: _delete(session, ids)[1],
)

ERASERS = (CALLBACK_ATTEMPTS, CALLBACK_REQUESTS)
