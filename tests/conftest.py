"""Shared fixtures: a real database (SQLite by default, PostgreSQL when
SPRECHSTUNDE_TEST_DATABASE_URL is set), a settable clock, the app, and data builders."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select, text
from zxcvbn import zxcvbn

from scheduler import accounts
from scheduler.accounts import StaffIdentity
from scheduler.catalogue import AdvisorSpec, HoursSpec, ServiceSpec
from scheduler.db import Base, read_session, write_session
from scheduler.models import Role, Service, Staff
from web.app import create_app
from web.container import Container
from web.database import engine_for, migrate
from web.settings import Settings

if TYPE_CHECKING:
    from tests.own_redis import OwnRedis
    from tests.turn import Coturn

# The product's default environment is production; the tests ask for "test", for every
# Settings() they build without naming one. Servers and commands the tests start get theirs
# from bench/common.py's server_env or their own environment.
os.environ.setdefault("SPRECHSTUNDE_ENV", "test")

POSTGRES_URL = os.environ.get("SPRECHSTUNDE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SPRECHSTUNDE_TEST_REDIS_URL")
# A Monday in winter, far enough ahead that "now" never catches up with the test data.
MONDAY = datetime(2031, 1, 6, 7, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass
class Clock:
    now: datetime = MONDAY

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a SQLite file to copy, or the PostgreSQL schema to truncate."""
    if POSTGRES_URL:
        engine = engine_for(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        migrate(engine)
        engine.dispose()
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = engine_for(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return str(path)


def _emptying(connection: Connection) -> str:
    """Every table emptied and every id counting from 1 again: DELETE, children first, is
    ten times faster than TRUNCATE on the few rows a test leaves (TRUNCATE rewrites each
    table's files, and a test run empties the database thousands of times)."""
    global _EMPTYING
    if _EMPTYING is None:
        sequences = connection.execute(
            text("SELECT sequence_name FROM information_schema.sequences")
        ).scalars()
        _EMPTYING = ";".join(
            [f"DELETE FROM {t.name}" for t in reversed(Base.metadata.sorted_tables)]
            + [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
        )
    return _EMPTYING


_EMPTYING: str | None = None


@pytest.fixture(scope="session")
def _emptier(database_template: str) -> Iterator[Engine | None]:
    """One connection that empties the PostgreSQL database before each test: a new one would
    cost PostgreSQL a new backend process each time."""
    if not POSTGRES_URL:
        yield None
        return
    engine = engine_for(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, _emptier: Engine | None, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database for one test."""
    if _emptier is not None:
        with _emptier.begin() as connection:
            connection.exec_driver_sql(_emptying(connection))
        yield database_template
        return
    path = tmp_path / "test.db"
    shutil.copyfile(database_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def workers_redis_url() -> str:
    """A Redis for `serve --workers 2`, which refuses to start without one (the processes share
    their limits through it): the suite's, else this machine's on loopback."""
    url = REDIS_URL or "redis://127.0.0.1:6379/9"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail(f"no Redis at {url} for serve --workers")
        pytest.skip(f"no Redis at {url} for serve --workers")
    return url


@pytest.fixture(scope="session")
def _base_settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url="sqlite://",  # each test's own, below
        base_url="http://testserver",
        secret_key="test-secret-key-that-is-long-enough-0123",
        redis_url=REDIS_URL,
        # Tests deliver the outbox themselves (`container.outbox.deliver_due()`), or start
        # the worker where the worker is what they test.
        embedded_worker=False,
        # Hundreds of apps come and go in one test process; frozen, they would never be freed.
        freeze_startup_objects=False,
        # Nor do they change the whole test process's switching (tests/web/test_switch_interval.py).
        switch_interval_ms=None,
        # Every test client has the same address, and with Redis the counts outlive the app:
        # limits are tested in tests/web/test_protection.py with settings of their own.
        slot_searches_per_minute=1_000_000,
        bookings_per_hour=1_000_000,
        unverified_bookings_per_hour=1_000_000,
    )


@pytest.fixture
def settings(_base_settings: Settings, database_url: str, tmp_path: Path) -> Settings:
    """The suite's settings on this test's database; copied, not built anew: building settings
    reads the whole environment, a few milliseconds for each of thousands of tests."""
    return _base_settings.model_copy(
        update={"database_url": database_url, "document_dir": tmp_path / "documents"}
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at a cost that keeps hundreds of logins in the suite fast; the
    production parameters are tested in tests/scheduler/test_accounts.py."""
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(accounts, "zxcvbn", _remembered_estimate)


@functools.lru_cache(maxsize=256)
def _estimate(password: str, user_inputs: tuple[str, ...]) -> dict[str, Any]:
    return zxcvbn(password, user_inputs=list(user_inputs))


def _remembered_estimate(password: str, user_inputs: list[str]) -> dict[str, Any]:
    """zxcvbn's estimate, once per password and user: the suite sets the same few passwords
    thousands of times, at a few milliseconds each."""
    return _estimate(password, tuple(user_inputs))


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    application = create_app(settings, clock=clock)
    yield application
    application.state.container.engine.dispose()


@pytest.fixture
def container(app: FastAPI) -> Container:
    return app.state.container  # type: ignore[no-any-return]


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def engine(container: Container) -> Engine:
    return container.engine


WEEKDAYS_9_TO_12_AND_13_TO_16 = [
    HoursSpec(day, time(h1), time(h2)) for day in range(5) for h1, h2 in ((9, 12), (13, 16))
]


@dataclass
class World:
    """Builders for test data, going through the same services the API uses."""

    container: Container
    admin: StaffIdentity = field(init=False)

    def __post_init__(self) -> None:
        with write_session(self.container.sessions) as session:
            staff = self.container.accounts.create(
                session,
                email="admin@example.org",
                name="Admin",
                role=Role.ADMIN,
                password=PASSWORD,
            )
            self.admin = StaffIdentity.of(staff)

    def service(self, **overrides: object) -> Service:
        spec: dict[str, object] = {
            "name": "Beratung",
            "duration_minutes": 30,
            "channels": ["video", "phone"],
            "min_notice_minutes": 60,
            "horizon_days": 60,
        }
        spec.update(overrides)
        return self.container.catalogue.create_service(self.admin, ServiceSpec(**spec))  # type: ignore[arg-type]

    def advisor(
        self,
        services: list[Service],
        *,
        hours: list[HoursSpec] | None = None,
        email: str | None = None,
        role: Role = Role.ADVISOR,
        password: str | None = PASSWORD,
    ) -> Staff:
        with read_session(self.container.sessions) as session:
            count = session.scalar(select(func.count()).select_from(Staff))
        staff, _ = self.container.catalogue.create_advisor(
            self.admin,
            AdvisorSpec(
                name=f"Advisor {count}",
                email=email or f"advisor{count}@example.org",
                service_ids=[s.id for s in services],
                role=role,
                password=password,
            ),
        )
        self.container.catalogue.set_weekly_hours(
            self.admin,
            staff.id,
            WEEKDAYS_9_TO_12_AND_13_TO_16 if hours is None else hours,
        )
        return staff

    def login(
        self, client: TestClient, email: str = "admin@example.org", password: str = PASSWORD
    ) -> dict[str, str]:
        response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def world(container: Container) -> World:
    return World(container)


def booking_body(service: Service, start: datetime, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "service_id": service.id,
        "start": start.isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": "erika@example.org",
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_booking_body() -> Callable[..., dict[str, object]]:
    return booking_body


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiortc peers of this test gather only 127.0.0.1 as their host candidate."""
    from tests.rtc import loopback_host_addresses

    loopback_host_addresses(monkeypatch)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A Redis server of the test's own (tests/own_redis.py). Skipped without redis-server,
    except in CI."""
    from tests.own_redis import OwnRedis

    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: apt-get install redis-server")
        pytest.skip("needs redis-server")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    """A real TURN server (coturn) on 127.0.0.1 with a shared secret, for as long as the test;
    see tests/turn.py. Skipped without /usr/bin/turnserver, except in CI."""
    from tests.turn import TURNSERVER, running_coturn

    if not TURNSERVER.exists():
        reason = f"needs {TURNSERVER} (apt-get install coturn)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_coturn(tmp_path) as server:
        yield server
