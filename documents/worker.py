"""The thread that scans pending documents: every `poll` seconds, at once when woken after a
hand-in, and again without waiting while full batches come back. When clamd gives no verdict
the round stops and the documents stay pending until the next one (fail closed). Several of
them, in several processes, may run at once (`DocumentDesk.scan_pending`)."""

from __future__ import annotations

import logging

from documents.desk import DocumentDesk, ScanResult
from scheduler.worker import PollingThread

log = logging.getLogger(__name__)


class ScanWorker(PollingThread):
    name = "document-scan"

    def __init__(self, desk: DocumentDesk, poll: float = 5.0, batch: int = 50) -> None:
        super().__init__(poll)
        self._desk = desk
        self._batch = batch

    def run_once(self) -> ScanResult | None:
        try:
            result = self._desk.scan_pending(self._batch)
        except Exception:  # the loop must outlive a database hiccup; the next round retries
            log.exception("document scan failed; retrying")
            return None
        if result.clean or result.rejected:
            log.info("documents scanned: %s clean, %s rejected", result.clean, result.rejected)
        return result

    def round(self) -> bool:
        result = self.run_once()
        return result is not None and result.more and not result.unavailable
