"""Forms that book at most once: a double click, a reload that sends the form again, or a retry
after the busy page sends the same POST twice. Each such form as rendered carries a key of its
own in a hidden field; the booking is stored with its idempotency record (as the API's
`Idempotency-Key`), and the same form sent again gets the booking it made. A form changed after
it booked (the back button, other details) is a booking of its own."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import TypeVar

from starlette.datastructures import FormData

from scheduler.errors import IdempotencyKeyReused
from scheduler.idempotency import Idempotency

T = TypeVar("T")

# The hidden field that carries the form's key.
ONCE_FIELD = "vorgang"
# The key itself and the proof of work, which a form sent again solves anew.
_UNSIGNED = {ONCE_FIELD, "altcha"}


def once_key() -> str:
    """The key of a form about to be rendered."""
    return secrets.token_urlsafe(16)


def idempotency_of(form: FormData, scope: str) -> Idempotency | None:
    """The form's idempotency, under `scope` (whose forms these are), or None without a key."""
    key = form.get(ONCE_FIELD)
    if not isinstance(key, str) or not key:
        return None
    sent = sorted((name, value) for name, value in form.multi_items() if name not in _UNSIGNED)
    fingerprint = hashlib.sha256(json.dumps(sent, default=str).encode()).hexdigest()
    return Idempotency(f"{scope}:{key}", fingerprint)


def at_most_once(form: FormData, scope: str, act: Callable[[Idempotency | None], T]) -> T:
    """`act` under the form's key; a form sent before and changed since (the back button, other
    details) acts anew, without it."""
    try:
        return act(idempotency_of(form, scope))
    except IdempotencyKeyReused:
        return act(None)
