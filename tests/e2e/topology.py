"""The city's topology of compose.yaml, started without Docker, all on 127.0.0.1: Caddy with
TLS from its internal CA (deploy/Caddyfile), two `sprechstunde serve` instances on the test's
PostgreSQL and Redis, one `sprechstunde worker`, coturn with TURN over TLS, and aiosmtpd as the
city's mail relay. Each part can be stopped, killed and started again by the tests.

The worker runs on the office clock, or on a clock moved further (`start(ahead=...)`), so that
reminders come due without waiting a day.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from bench.common import Server, free_port
from tests import office_clock
from tests.caddy import Caddy, running_caddy
from tests.notifications.conftest import SmtpServer
from tests.turn import Coturn, running_coturn

WEBSOCKET = '"WebSocket /ws/signaling" [accepted]'


@dataclass
class Worker:
    """`sprechstunde worker` with the instances' settings, on a clock of its own."""

    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "worker.log"

    def start(self, ahead: timedelta = timedelta(0)) -> None:
        offset = office_clock.OFFSET + ahead
        command = [sys.executable, "-m", "tests.office_clock", "--offset"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, str(offset.total_seconds()), "worker"],
                env={**self.env, "PYTHONPATH": str(office_clock.ROOT)},
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class City:
    proxy: Caddy
    apps: list[Server]
    worker: Worker
    smtp: SmtpServer
    coturn: Coturn

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.proxy.base_url, verify=self.proxy.ssl_context(), timeout=20
        )

    def websockets(self) -> list[int]:
        """Per instance: how many signaling WebSockets it has accepted so far."""
        return [app.log().count(WEBSOCKET) for app in self.apps]

    def logs(self) -> str:
        parts = [f"---- {app.workdir.name} ----\n{app.log()[-8000:]}" for app in self.apps]
        parts.append(f"---- worker ----\n{self.worker.log()[-8000:]}")
        parts.append(f"---- caddy ----\n{self.proxy.log()[-4000:]}")
        return "\n".join(parts)


@contextmanager
def running_city(workdir: Path, database_url: str, redis_url: str) -> Iterator[City]:
    https_port = free_port()
    with ExitStack() as stack:
        smtp = stack.enter_context(SmtpServer())
        (workdir / "coturn").mkdir(parents=True)
        coturn = stack.enter_context(running_coturn(workdir / "coturn", tls=True))
        env = {
            "SPRECHSTUNDE_BASE_URL": f"https://localhost:{https_port}",
            "SPRECHSTUNDE_REDIS_URL": redis_url,
            "SPRECHSTUNDE_EMBEDDED_WORKER": "false",
            "SPRECHSTUNDE_SMTP_HOST": "127.0.0.1",
            "SPRECHSTUNDE_SMTP_PORT": str(smtp.port),
            "SPRECHSTUNDE_SMTP_SECURITY": "none",
            "SPRECHSTUNDE_MAIL_RETRY_SECONDS": "1",
            "SPRECHSTUNDE_REMINDER_HOURS": "24",
            # Only over TLS: the relay-only call must take the TLS listener.
            "SPRECHSTUNDE_TURN_URLS": coturn.turns_url,
            "SPRECHSTUNDE_TURN_SECRET": coturn.secret,
            **office_clock.environment(),
        }
        key = secrets.token_urlsafe(32)
        apps = [
            office_clock.server(database_url, workdir / f"app{n}", extra_env=dict(env))
            for n in (1, 2)
        ]
        for app in apps:
            app.secret_key = key  # one application behind the proxy
            stack.callback(app.stop)
            app.start()
        worker = Worker(apps[0].env, workdir / "worker")
        stack.callback(worker.stop)
        worker.start()
        proxy = Caddy(workdir / "caddy", [f"127.0.0.1:{app.port}" for app in apps], https_port)
        stack.enter_context(running_caddy(proxy))
        yield City(proxy, apps, worker, smtp, coturn)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
