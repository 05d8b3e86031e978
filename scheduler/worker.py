"""A background thread that runs one round of work every `poll` seconds, at once when woken
(after a commit that gave it something to do), and again without waiting while a round says
there is more. `stop` wakes it and waits for it to end."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class PollingThread(ABC):
    name = "worker"

    def __init__(self, poll: float) -> None:
        self._poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def round(self) -> bool:
        """One round of work; True when there is more to do at once."""

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            if not self.round():
                self._wake.wait(self._poll)
