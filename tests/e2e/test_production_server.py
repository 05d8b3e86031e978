"""A real `sprechstunde serve` in production, configured through its environment as a
deployment is: what its answers carry, and what it does not serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common import REQUEST_TIMEOUT
from tests import office_clock


@pytest.fixture
def production(database_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    server = office_clock.server(
        database_url,
        tmp_path / "server",
        migrate=False,
        extra_env={
            "SPRECHSTUNDE_ENV": "production",
            "SPRECHSTUNDE_BASE_URL": "https://termine.example.org",
            "SPRECHSTUNDE_SMTP_HOST": "127.0.0.1",  # nothing is sent: no booking is made
            "SPRECHSTUNDE_EMBEDDED_WORKER": "false",
        },
    )
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            yield client
    finally:
        server.stop()


def test_a_production_server_sends_hsts_secure_cookies_and_no_store(production):
    page = production.get("/?lang=en")

    assert page.status_code == 200
    assert page.headers["strict-transport-security"].startswith("max-age=")
    cookies = page.headers.get_list("set-cookie")
    assert {cookie.split("=", 1)[0] for cookie in cookies} == {"lang", "csrf"}
    assert all("; secure" in cookie.lower() for cookie in cookies), cookies
    assert production.get("/api/v1/services").headers["cache-control"] == "no-store"


def test_a_production_server_has_no_api_documentation_and_no_dev_mailbox(production):
    for path in ["/docs", "/openapi.json", "/dev/mail"]:
        assert production.get(path).status_code == 404, path
