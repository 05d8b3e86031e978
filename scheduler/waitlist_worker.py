"""The thread that runs the offer loop: every `poll` seconds, and at once when woken after a
change that may have freed a slot (a cancellation, a reschedule, new hours, an absence
withdrawn, a declined offer). Several of them, in several processes, may run at once: the
loop is safe for that (`scheduler/waitlist.py`)."""

from __future__ import annotations

import logging

from scheduler.waitlist import RunResult, Waitlist
from scheduler.worker import PollingThread

log = logging.getLogger(__name__)


class WaitlistWorker(PollingThread):
    name = "waitlist-offers"

    def __init__(self, waitlist: Waitlist, poll: float = 60.0) -> None:
        super().__init__(poll)
        self._waitlist = waitlist

    def run_once(self) -> RunResult | None:
        try:
            result = self._waitlist.run()
        except Exception:  # the loop must outlive a database hiccup; the next round retries
            log.exception("waiting-list offer loop failed; retrying")
            return None
        if result.expired or result.offered:
            log.info("waiting list: %s offers expired, %s made", result.expired, result.offered)
        return result

    def round(self) -> bool:
        self.run_once()
        return False
