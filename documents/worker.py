"""The thread that scans pending documents: every `poll` seconds, at once when woken after a
hand-in, and again without waiting while full batches come back. When clamd gives no verdict
the round stops and the documents stay pending until the next one (fail closed). Several of
them, in several processes, may run at once (`DocumentDesk.scan_pending`)."""

from __future__ import annotations

import logging
import threading

from documents.desk import DocumentDesk, ScanResult

log = logging.getLogger(__name__)


class ScanWorker:
    def __init__(self, desk: DocumentDesk, poll: float = 5.0, batch: int = 50) -> None:
        self._desk = desk
        self._poll = poll
        self._batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="document-scan", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> ScanResult | None:
        try:
            result = self._desk.scan_pending(self._batch)
        except Exception:  # the loop must outlive a database hiccup; the next round retries
            log.exception("document scan failed; retrying")
            return None
        if result.clean or result.rejected:
            log.info("documents scanned: %s clean, %s rejected", result.clean, result.rejected)
        return result

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            result = self.run_once()
            if result is not None and result.more and not result.unavailable:
                continue
            self._wake.wait(self._poll)
