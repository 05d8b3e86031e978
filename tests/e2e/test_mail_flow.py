"""Mail end to end: a real `sprechstunde serve` process sends to an SMTP server (aiosmtpd) in
this test process, with its embedded worker or with a separate `sprechstunde worker`; and the
development mailbox exists in development only."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bench.common import (
    REQUEST_TIMEOUT,
    Server,
    StaffApi,
    booking_body,
    first_bookable_day,
)
from tests import office_clock
from tests.notifications.conftest import Received, SmtpServer

pytestmark = pytest.mark.office_clock

ARRIVAL_SECONDS = 5.0


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def launch(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers with more environment; every one is stopped afterwards."""
    servers: list[Server] = []

    def start(**env: str) -> Server:
        server = office_clock.server(
            database_url, tmp_path / f"server{len(servers)}", extra_env=env, migrate=False
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def smtp_env(smtp: SmtpServer, **more: str) -> dict[str, str]:
    return {
        "SPRECHSTUNDE_SMTP_HOST": "127.0.0.1",
        "SPRECHSTUNDE_SMTP_PORT": str(smtp.port),
        "SPRECHSTUNDE_SMTP_SECURITY": "none",
        **more,
    }


@contextmanager
def worker(server: Server) -> Iterator[subprocess.Popen[bytes]]:
    """`sprechstunde worker` with the server's settings; stopped with SIGTERM afterwards."""
    log = server.workdir / "worker.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*server.command, "worker"],
            env=server.env,
            cwd=server.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def book_one(server: Server, email: str, nth: int = 0) -> str:
    """Set up a service (once) and book its `nth` free slot over HTTP; the reference."""
    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        if nth == 0:
            staff = StaffApi.bootstrap(server, http)
            service = staff.create_service("Wohngeld")
            staff.create_advisor("Advisor", "advisor@example.org", [service["id"]])
        service_id = http.get("/api/v1/services").json()[0]["id"]
        first = first_bookable_day(today=office_clock.office_today())
        slots = StaffApi(http, {}).slots(service_id, first, first + timedelta(days=13))
        response = http.post("/api/v1/bookings", json=booking_body(service_id, slots[nth], email))
        assert response.status_code == 201, response.text
        return str(response.json()["reference"])


def arrived(smtp: SmtpServer, count: int, server: Server, timeout: float) -> list[Received]:
    received = smtp.wait_for(count, timeout)
    assert len(received) >= count, f"{len(received)} of {count} arrived:\n{server.log()[-5000:]}"
    return received


def test_serve_delivers_a_confirmation_with_its_embedded_worker(
    launch: Callable[..., Server], smtp: SmtpServer
) -> None:
    server = launch(**smtp_env(smtp))

    started = time.monotonic()
    reference = book_one(server, "erika@example.org")

    [received] = arrived(smtp, 1, server, ARRIVAL_SECONDS)
    assert time.monotonic() - started < ARRIVAL_SECONDS
    assert received.rcpt_tos == ["erika@example.org"]
    assert received.message["Subject"].startswith(f"Terminbestätigung {reference}")
    time.sleep(0.5)
    assert len(smtp.received) == 1  # and only once


@pytest.mark.not_repeated  # its dates are book_one's, repeated in the first test
def test_separate_worker_delivers_when_the_embedded_one_is_off(
    launch: Callable[..., Server], smtp: SmtpServer
) -> None:
    server = launch(**smtp_env(smtp, SPRECHSTUNDE_EMBEDDED_WORKER="false"))
    first = book_one(server, "erika@example.org")
    time.sleep(1.0)
    assert smtp.received == []  # serve itself sends nothing

    with worker(server) as process:
        arrived(smtp, 1, server, 15.0)  # the worker's start-up included
        second = book_one(server, "max@example.org", nth=1)
        received = arrived(smtp, 2, server, 10.0)  # its next poll, at most 5 s away
        process.terminate()
        assert process.wait(timeout=15) == 0

    subjects = [r.message["Subject"] for r in received]
    assert subjects[0].startswith(f"Terminbestätigung {first}")
    assert subjects[1].startswith(f"Terminbestätigung {second}")
    assert len({r.message_id for r in received}) == 2


@pytest.mark.not_repeated  # its dates are book_one's, repeated in the first test
def test_dev_mailbox_lists_the_messages_in_development(launch: Callable[..., Server]) -> None:
    server = launch(SPRECHSTUNDE_ENV="development")  # and no SMTP host: mail is kept
    reference = book_one(server, "erika@example.org")

    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        deadline = time.monotonic() + ARRIVAL_SECONDS
        while True:
            page = http.get("/dev/mail")
            assert page.status_code == 200
            if "kept" in page.text or time.monotonic() > deadline:
                break
            time.sleep(0.1)

    assert reference in page.text
    assert "<td>kept</td>" in page.text


@pytest.mark.not_repeated  # books nothing: no date in it
def test_dev_mailbox_does_not_exist_in_production(
    launch: Callable[..., Server], smtp: SmtpServer
) -> None:
    server = launch(
        SPRECHSTUNDE_ENV="production",
        SPRECHSTUNDE_BASE_URL="https://termine.example.org",  # production refuses http
        **smtp_env(smtp),
    )

    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
        assert http.get("/dev/mail").status_code == 404
        assert http.get("/dev/mail/1").status_code == 404
        assert http.get("/dev/mail/1/invite.ics").status_code == 404
        assert http.get("/readyz").status_code == 200
