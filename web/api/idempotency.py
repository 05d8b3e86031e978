"""The `Idempotency-Key` header of the booking endpoints: the same key with the same body gives
the same booking, never a second one."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import Header
from pydantic import BaseModel

from scheduler.idempotency import Idempotency

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]
# How a replayed answer says so.
REPLAYED = {"Idempotent-Replayed": "true"}


def idempotency(key: str | None, body: BaseModel, scope: str = "") -> Idempotency | None:
    """The key of a request with its body's fingerprint; `scope` keeps one caller's keys apart
    from another's."""
    if key is None:
        return None
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True)
    return Idempotency(f"{scope}{key}", hashlib.sha256(canonical.encode()).hexdigest())
