"""When the limits' Redis fails, they count in this process for a while instead of asking it.

A Redis that hangs would otherwise hold every limited request for the whole timeout, one
limit after the other. After a failure the limits skip Redis for `pause` seconds; then one
request tries it again (the others keep skipping until it has answered), and if Redis answers,
every request uses it again. What is counted meanwhile is counted per process: weaker than
the shared count, but a bot gets no free pass while Redis is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Seconds the limits count in this process after Redis failed, before one request tries it.
REDIS_PAUSE = 10.0


class Breaker:
    def __init__(self, pause: float = REDIS_PAUSE, clock: Callable[[], float] = time.monotonic):
        self._pause = pause
        self._clock = clock
        self._lock = threading.Lock()
        self._skip_until: float | None = None  # None: Redis answered last time

    def should_try(self) -> bool:
        """Whether this request asks Redis; after a pause, only the first to ask does."""
        if self._skip_until is None:
            return True
        with self._lock:
            now = self._clock()
            if self._skip_until is None or now >= self._skip_until:
                if self._skip_until is not None:
                    self._skip_until = now + self._pause  # the others wait for this one
                return True
            return False

    def succeeded(self) -> None:
        if self._skip_until is not None:
            with self._lock:
                self._skip_until = None
            log.info("Redis answers again: the limits count there again")

    def failed(self) -> None:
        with self._lock:
            first = self._skip_until is None
            self._skip_until = self._clock() + self._pause
        if first:
            log.warning(
                "Redis is unreachable: the limits count in this process for %.0f s", self._pause
            )
