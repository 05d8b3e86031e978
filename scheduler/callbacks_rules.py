"""What a callback request must keep, whoever makes it (the citizens' API, the hotline's desk,
later the pages): the rules live here and nowhere else, pure, with `now` passed in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scheduler.errors import CallbackWindowsInvalid, InvalidRequest, NotesTooLong

NOTE_MAX = 500
MAX_WINDOWS = 3
# The coming days: a callback is a short-term promise, not an appointment.
WINDOW_DAYS = 14
# A preferred time is a part of a day: "tomorrow morning", not "next week".
WINDOW_MAX = timedelta(hours=12)
# As the booking API accepts a phone number (web/schemas.py `Phone`).
PHONE_PATTERN = re.compile(r"\+?[0-9 ()/.-]{3,40}")

Window = tuple[datetime, datetime]


def phone_key(phone: str) -> str:
    """The key of a phone number for counting one person's open requests: its digits, with
    the German country code written as the trunk prefix ("+49 391 …" and "0391 …" are one)."""
    digits = re.sub(r"[^0-9]", "", phone)
    if phone.strip().startswith("+"):
        digits = "+" + digits
    for prefix in ("+49", "0049"):
        if digits.startswith(prefix):
            return "0" + digits[len(prefix) :]
    return digits


@dataclass(frozen=True, slots=True)
class CallbackInput:
    service_id: int
    name: str
    phone: str
    windows: Sequence[Window]
    language: str = "de"
    email: str | None = None
    note: str = ""
    created_by_id: int | None = None

    def checked(self, now: datetime) -> CallbackInput:
        """The input as it is stored (trimmed, windows in UTC and in order), or raise."""
        name, phone = self.name.strip(), self.phone.strip()
        if not name:
            raise InvalidRequest("name required", field="name", code="invalid_request")
        if not PHONE_PATTERN.fullmatch(phone):
            raise InvalidRequest("phone invalid", field="phone", code="invalid_request")
        if len(self.note) > NOTE_MAX:
            raise NotesTooLong(field="note", maximum=NOTE_MAX)
        email = (self.email or "").strip() or None
        return CallbackInput(
            service_id=self.service_id,
            name=name,
            phone=phone,
            windows=check_windows(self.windows, now),
            language=self.language,
            email=email,
            note=self.note.strip(),
            created_by_id=self.created_by_id,
        )


def check_windows(windows: Sequence[Window], now: datetime) -> list[Window]:
    """1 to `MAX_WINDOWS` windows, each ending after it starts, not over yet, starting within
    `WINDOW_DAYS` and at most `WINDOW_MAX` long; in UTC, sorted by start."""
    if not 1 <= len(windows) <= MAX_WINDOWS:
        raise CallbackWindowsInvalid(field="windows", maximum=MAX_WINDOWS)
    checked = []
    for start, end in windows:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidRequest("naive time", field="windows", code="naive_time")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if not (start < end <= start + WINDOW_MAX):
            raise CallbackWindowsInvalid(field="windows", maximum=MAX_WINDOWS)
        if end <= now or start > now + timedelta(days=WINDOW_DAYS):
            raise CallbackWindowsInvalid(field="windows", maximum=MAX_WINDOWS)
        checked.append((start, end))
    return sorted(checked)
