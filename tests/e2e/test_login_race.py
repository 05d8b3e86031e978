"""24 wrong passwords at once against a running server: the attempts are counted before the
password is checked, under a lock, so exactly as many are checked as the throttle allows (five
per account and address) and the rest are refused unchecked, on SQLite and PostgreSQL alike.
Counting first and inserting afterwards let twice as many through on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx

from bench.common import ADMIN_EMAIL, REQUEST_TIMEOUT, Call, Server, StaffApi, fire_together

GUESSES = 24


def test_parallel_guesses_get_exactly_the_allowed_password_checks(
    database_url: str, tmp_path: Path
) -> None:
    with (
        Server(database_url, tmp_path / "server", migrate=False) as server,
        httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http,
    ):
        StaffApi.bootstrap(server, http)
        guess = {"email": ADMIN_EMAIL, "password": "Falsches-Passwort-1"}

        answers = fire_together(
            server.base_url, [Call("POST", "/api/v1/auth/token", guess) for _ in range(GUESSES)]
        )

        statuses = Counter(answer.status_code for answer in answers)
        assert statuses == {401: 5, 429: GUESSES - 5}, statuses
