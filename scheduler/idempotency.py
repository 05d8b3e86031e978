"""At most once: a booking made with an idempotency key stores its answer under the key, in
the booking's own transaction, and the same key with the same request gets that answer back.

The record keeps the outcome only (the answer's body); how a transport answers a replay
(the status code, a header saying so) is the transport's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.errors import IdempotencyKeyReused
from scheduler.models import IdempotencyRecord


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str
    fingerprint: str  # of the request: the same key with another request is refused


def recall(session: Session, idempotency: Idempotency) -> dict[str, Any] | None:
    """The answer stored under the key, or None when the key is new."""
    record = session.get(IdempotencyRecord, idempotency.key)
    if record is None:
        return None
    if record.request_hash != idempotency.fingerprint:
        raise IdempotencyKeyReused()
    return record.response


def remember(
    session: Session, idempotency: Idempotency, response: dict[str, Any], now: datetime
) -> None:
    """Store the answer under the key; a second request with the key that raced this one
    fails on the key's uniqueness and rolls back its whole booking."""
    session.add(
        IdempotencyRecord(
            key=idempotency.key,
            request_hash=idempotency.fingerprint,
            response=response,
            created_at=now,
        )
    )
    session.flush()
