"""A real `sprechstunde serve` process and staff-API helpers, shared by the benchmarks and the
end-to-end tests.

The server runs from the virtualenv of the current interpreter (the `sprechstunde` script next
to `sys.executable`), listens on 127.0.0.1 only, writes stdout and stderr to one log file, and is
always terminated by `stop()`. Test data goes through the real HTTP API.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, create_engine, func, make_url, select, text

from notifications.models import OutboxMessage, OutboxStatus

SCRIPT = Path(sys.executable).with_name("sprechstunde")
BERLIN = ZoneInfo("Europe/Berlin")
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery staple"
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
OCCUPYING = ("held", "confirmed", "completed", "no_show")
STARTUP_SECONDS = 30.0
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Monday to Friday, 09:00-16:00 local time.
WEEKDAY_HOURS = [{"weekday": day, "start": "09:00", "end": "16:00"} for day in range(5)]


def fresh_postgres(name: str) -> str:
    """The URL of a new, empty database `name` on this machine's PostgreSQL (any old one of
    that name is dropped first)."""
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{POSTGRES_SERVER}/{name}"


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` (0 to 1) of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, base_url: str, secret_key: str) -> dict[str, str]:
    """The environment of a server process: ours, without any inherited SPRECHSTUNDE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPRECHSTUNDE_")}
    env.update(
        PYTHONUNBUFFERED="1",  # the access log must reach the log file as it happens
        SPRECHSTUNDE_ENV="test",
        SPRECHSTUNDE_DATABASE_URL=database_url,
        SPRECHSTUNDE_SECRET_KEY=secret_key,
        SPRECHSTUNDE_BASE_URL=base_url,
        # Benchmarks and tests send hundreds of bookings from this machine; the limits are
        # tested with addresses given in X-Forwarded-For (loopback is a trusted proxy).
        SPRECHSTUNDE_RATE_LIMIT_EXEMPT="127.0.0.1,::1",
    )
    return env


class ServerFailed(RuntimeError):
    pass


@dataclass
class Server:
    """`sprechstunde migrate`, then `sprechstunde serve` on a free port of 127.0.0.1."""

    database_url: str
    workdir: Path
    workers: int = 1
    # False for a database known to be migrated already (the tests' own): one process less.
    migrate: bool = True
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # How `sprechstunde` is started: tests put it on their office clock (tests/office_clock.py).
    command: tuple[str, ...] = (str(SCRIPT),)
    port: int = 0
    # More environment for the server and its commands, e.g. SPRECHSTUNDE_SMTP_HOST.
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path = field(init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def env(self) -> dict[str, str]:
        return {**server_env(self.database_url, self.base_url, self.secret_key), **self.extra_env}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `sprechstunde <args>` with the server's settings; raise on failure."""
        result = subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=self.workdir,  # no stray .env file is read
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ServerFailed(
                f"sprechstunde {args[0]} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, attempts: int = 3) -> Self:
        if self.migrate:
            self.cli("migrate")
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self._launch()
                return self
            except ServerFailed:
                self.stop()
                # Another process may have taken the port between probe and bind: retry.
                if attempt == attempts - 1 or "address already in use" not in self.log().lower():
                    raise
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        command = [*self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers != 1:
            command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise ServerFailed(
                        f"server exited with {self._process.returncode}:\n{self.log()}"
                    )
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServerFailed(f"server not ready after {STARTUP_SECONDS} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: nothing is closed or said goodbye to."""
        assert self._process is not None, "not started"
        self._process.kill()
        self._process.wait(timeout=15)

    def wait(self, timeout: float) -> int:
        """The exit code, once the process has ended on its own (a signal sent to `pid`)."""
        assert self._process is not None, "not started"
        return self._process.wait(timeout=timeout)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def fire_together(base_url: str, calls: Sequence[Call]) -> list[httpx.Response]:
    """Send all `calls` at once, each on its own connection, and return the answers in order.

    The connections are opened first; then every request waits on one event, so they leave
    together rather than as fast as a loop can create them.
    """

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=len(calls))
        async with httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT
        ) as client:
            await asyncio.gather(*(client.get("/healthz") for _ in calls))
            go = asyncio.Event()

            async def one(call: Call) -> httpx.Response:
                await go.wait()
                return await client.request(
                    call.method, call.path, json=call.json, headers=call.headers
                )

            tasks = [asyncio.create_task(one(call)) for call in calls]
            await asyncio.sleep(0)
            go.set()
            answers = await asyncio.gather(*tasks, return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers  # type: ignore[return-value]  # exceptions were raised above

    return asyncio.run(run())


# -- test data through the HTTP API ---------------------------------------------------------


@dataclass
class StaffApi:
    """An administrator's session with the staff API."""

    client: httpx.Client
    headers: dict[str, str]

    @classmethod
    def bootstrap(cls, server: Server, client: httpx.Client) -> StaffApi:
        """Create the first administrator with the command line, then log in over HTTP."""
        server.cli(
            "create-user",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
            "--role",
            "admin",
            "--name",
            "Admin",
        )
        return cls.log_in(client)

    @classmethod
    def log_in(cls, client: httpx.Client) -> StaffApi:
        """Log in as the administrator `bootstrap` created (also on a restored copy)."""
        response = client.post(
            "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        _expect(response, 200)
        return cls(client, {"Authorization": f"Bearer {response.json()['access_token']}"})

    def create_service(self, name: str, **spec: Any) -> dict[str, Any]:
        body = {"name": name, "duration_minutes": 30, "channels": ["video", "phone"], **spec}
        response = self.client.post("/api/v1/services", json=body, headers=self.headers)
        return _expect(response, 201)

    def create_advisor(
        self,
        name: str,
        email: str,
        service_ids: Sequence[int],
        hours: Sequence[dict[str, Any]] = WEEKDAY_HOURS,
    ) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/advisors",
            json={"name": name, "email": email, "service_ids": list(service_ids)},
            headers=self.headers,
        )
        advisor = _expect(response, 201)
        response = self.client.put(
            f"/api/v1/advisors/{advisor['id']}/weekly-hours", json=list(hours), headers=self.headers
        )
        _expect(response, 200)
        return advisor

    def slots(self, service_id: int, first: date, last: date) -> list[str]:
        response = self.client.get(
            f"/api/v1/services/{service_id}/slots",
            params={"start": first.isoformat(), "end": last.isoformat()},
        )
        return [slot["start"] for slot in _expect(response, 200)["slots"]]

    def bookings(self, first: date, last: date | None = None) -> list[dict[str, Any]]:
        response = self.client.get(
            "/api/v1/staff/bookings",
            params={"start": first.isoformat(), "end": (last or first).isoformat()},
            headers=self.headers,
        )
        return _expect(response, 200)


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path}: expected {status}, "
            f"got {response.status_code}: {response.text}"
        )
    return response.json()


def first_bookable_day(days_ahead: int = 4, today: date | None = None) -> date:
    """A local date a few days after `today` (by default the real one, the server's)."""
    return (today or datetime.now(BERLIN).date()) + timedelta(days=days_ahead)


def booking_body(service_id: int, start: str, email: str, **extra: Any) -> dict[str, Any]:
    return {
        "service_id": service_id,
        "start": start,
        "channel": "video",
        "name": "Erika Mustermann",
        "email": email,
        **extra,
    }


# -- the database, directly -----------------------------------------------------------------


def reset_postgres(url: str) -> None:
    """Create the database of `url` if missing and give it an empty `public` schema.

    Everything in that database is dropped: point this at a database of its own.
    """
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not exists:
                quoted = connection.dialect.identifier_preparer.quote(str(target.database))
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()
    engine = create_engine(target)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


OVERLAPS_SQL = f"""
SELECT a.id, b.id, a.advisor_id, a.start_at, b.start_at
FROM bookings a JOIN bookings b
  ON a.advisor_id = b.advisor_id AND a.id < b.id
 AND a.start_at < b.blocked_until AND b.start_at < a.blocked_until
WHERE a.status IN {OCCUPYING} AND b.status IN {OCCUPYING}
"""  # noqa: S608 - constants only


def double_bookings(url: str) -> tuple[int, list[tuple[Any, ...]]]:
    """(number of occupying bookings, pairs of one advisor's overlapping bookings)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            total = connection.scalar(
                text(f"SELECT count(*) FROM bookings WHERE status IN {OCCUPYING}")  # noqa: S608
            )
            pairs = [tuple(row) for row in connection.execute(text(OVERLAPS_SQL))]
    finally:
        engine.dispose()
    return int(total or 0), pairs


def unsent_mail(engine: Engine) -> int:
    """Outbox messages due now and not yet handled (pending or being sent)."""
    due = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
            OutboxMessage.not_before <= datetime.now(UTC),
        )
    )
    with engine.connect() as connection:
        return int(connection.scalar(due) or 0)
