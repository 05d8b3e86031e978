"""The documents' own retention: erased (records and bytes, counts kept) a while after the
appointment ended or was cancelled, sooner than the booking's personal data. The retention
purge of `scheduler.retention` runs it as one of its sweeps."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from documents.desk import DocumentDesk

BATCH_SIZE = 200


class DocumentSweep:
    name = "documents_erased"

    def __init__(self, desk: DocumentDesk, retention: timedelta) -> None:
        self._desk = desk
        self.retention = retention

    def sweep(self, now: datetime, dry_run: bool, stop: threading.Event | None = None) -> int:
        cutoff = now - self.retention
        if dry_run:
            return self._desk.erasure.count_due(cutoff)
        total = 0
        while stop is None or not stop.is_set():
            due = self._desk.erasure.bookings_due(cutoff, BATCH_SIZE)
            erased = self._desk.erasure.erase_for_bookings(due)
            total += erased
            # Fewer than a batch: done. Nothing erased: another process holds them right now.
            if len(due) < BATCH_SIZE or not erased:
                break
        self._desk.sweep_store()
        return total

    def erase_bookings(self, booking_ids: Sequence[int]) -> int:
        return self._desk.erasure.erase_for_bookings(booking_ids)
