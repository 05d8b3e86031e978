"""The citizen's addresses: `/b/{token}` manages a booking (web/pages/manage.py), `/j/{token}`
joins a video room (web/pages/room.py), `/verbindungstest` tests the connection. The booking
engine issues the tokens of a booking; the paths are ours, so every address is built here, for
the API's answers, the pages and the e-mails (`notifications.outbox.BookingLinks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from scheduler.models import Channel
from scheduler.views import BookingInfo

# A booking's manage token and join token (`Scheduler.links`).
BookingTokens = Callable[[BookingInfo], tuple[str, str]]


class BookingUrls(NamedTuple):
    manage: str
    join: str | None  # only a video appointment has a room to join


class Links:
    def __init__(self, base_url: str, tokens: BookingTokens) -> None:
        self._base_url = base_url
        self._tokens = tokens

    @property
    def start_url(self) -> str:
        return f"{self._base_url}/"

    @property
    def connection_test_url(self) -> str:
        return f"{self._base_url}/verbindungstest"

    def urls(self, booking: BookingInfo) -> BookingUrls:
        """The magic link to manage the booking and, for video, the link to join its room."""
        manage, join = self._tokens(booking)
        return BookingUrls(
            manage=f"{self._base_url}/b/{manage}",
            join=self.join_url(join) if booking.channel == Channel.VIDEO else None,
        )

    def join_url(self, token: str) -> str:
        """The address of a join link or of a room invitation."""
        return f"{self._base_url}/j/{token}"
