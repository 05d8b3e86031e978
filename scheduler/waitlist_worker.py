"""The thread that runs the offer loop: every `poll` seconds, and at once when woken after a
change that may have freed a slot (a cancellation, a reschedule, new hours, an absence
withdrawn, a declined offer). Several of them, in several processes, may run at once: the
loop is safe for that (`scheduler/waitlist.py`)."""

from __future__ import annotations

import logging
import threading

from scheduler.waitlist import RunResult, Waitlist

log = logging.getLogger(__name__)


class WaitlistWorker:
    def __init__(self, waitlist: Waitlist, poll: float = 60.0) -> None:
        self._waitlist = waitlist
        self._poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="waitlist-offers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> RunResult | None:
        try:
            result = self._waitlist.run()
        except Exception:  # the loop must outlive a database hiccup; the next round retries
            log.exception("waiting-list offer loop failed; retrying")
            return None
        if result.expired or result.offered:
            log.info("waiting list: %s offers expired, %s made", result.expired, result.offered)
        return result

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.run_once()
            self._wake.wait(self._poll)
