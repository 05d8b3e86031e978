"""PostgreSQL drops the service's connections (a restart, a failover). Between two bookings:
the next is booked on new connections, without an error and without a restart. In the middle
of one: that booking is answered 503 `busy` with Retry-After, nothing of it is written, and
the next is booked."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.pool import NullPool

from scheduler import lost_connections
from scheduler.db import read_session
from scheduler.models import Booking, Service
from tests.conftest import POSTGRES_URL
from tests.pg_backends import backends_named, database_away, drop_backends, named
from web.container import Container
from web.settings import Settings

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="about a database server that drops connections"
)

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
NAME = "sprechstunde-dropped"  # the application name of this test's service's connections


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return named(settings, NAME)


@pytest.fixture(autouse=True)
def _trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection given back is trusted for a minute: the booking after the drop meets a
    dropped one, however slow the machine (tests/scheduler/test_lost_connections.py: after idling,
    one is checked first)."""
    monkeypatch.setattr(lost_connections, "TRUSTED_IDLE", 60.0)


def _booked_once(client: TestClient, world) -> Service:
    """A service with an advisor, booked once: the service has its connections."""
    service = world.service()
    world.advisor([service])
    assert client.post("/api/v1/bookings", json=_booking(service.id, 9, "a@example.org")).is_success
    return service


def _booking(service_id: int, hour: int, email: str) -> dict[str, object]:
    return {
        "service_id": service_id,
        "start": datetime(2031, 1, 7, hour, tzinfo=BERLIN).isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": email,
    }


def test_a_booking_after_the_connections_were_dropped_is_booked(
    client: TestClient, world, container: Container
) -> None:
    service = _booked_once(client, world)

    assert POSTGRES_URL is not None
    pids = backends_named(POSTGRES_URL, NAME)
    assert pids
    drop_backends(POSTGRES_URL, pids)
    time.sleep(0.05)  # the server's last word on each connection crosses loopback
    booked = client.post("/api/v1/bookings", json=_booking(service.id, 10, "b@example.org"))

    assert booked.status_code == 201, booked.text
    assert not set(pids) & set(backends_named(POSTGRES_URL, NAME))
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 2


def test_a_booking_whose_connection_is_dropped_under_way_is_503_and_the_next_is_booked(
    client: TestClient, world, container: Container
) -> None:
    service = _booked_once(client, world)

    assert POSTGRES_URL is not None
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)
    with ThreadPoolExecutor(1) as pool, admin.connect() as locking:
        # The booking's INSERT waits for this lock: its connection is held, mid-transaction,
        # when the server drops it.
        locking.execute(text("LOCK TABLE bookings IN EXCLUSIVE MODE"))
        under_way = pool.submit(
            client.post, "/api/v1/bookings", json=_booking(service.id, 10, "b@example.org")
        )
        drop_backends(POSTGRES_URL, [_waiting_for_a_lock(locking)])
        locking.rollback()
        refused = under_way.result(timeout=30)
    admin.dispose()
    again = client.post("/api/v1/bookings", json=_booking(service.id, 10, "b@example.org"))

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "busy"
    assert refused.headers["Retry-After"] == "1"
    assert again.status_code == 201, again.text
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 2


def _waiting_for_a_lock(connection: Connection) -> int:
    """The backend of this test's service that waits for a lock, once there is one."""
    deadline = time.monotonic() + 10
    while True:
        pid = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = :name AND wait_event_type = 'Lock'"
            ),
            {"name": NAME},
        ).scalar()
        if pid is not None:
            return int(pid)
        assert time.monotonic() < deadline, "no booking waits for the lock"
        time.sleep(0.02)


def test_while_the_database_takes_no_connections_a_booking_is_503_then_booked(
    client: TestClient, world, container: Container
) -> None:
    service = _booked_once(client, world)

    assert POSTGRES_URL is not None
    with database_away(POSTGRES_URL, NAME):
        refused = client.post("/api/v1/bookings", json=_booking(service.id, 10, "b@ex.org"))
        page = client.get("/", headers={"Accept-Language": "de"})
        ready = client.get("/readyz")
    again = client.post("/api/v1/bookings", json=_booking(service.id, 10, "b@example.org"))

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "busy"
    assert refused.headers["Retry-After"] == "1"
    assert page.status_code == 503
    assert "Das System ist gerade ausgelastet" in page.text
    assert page.headers["Retry-After"] == "1"
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
    assert again.status_code == 201, again.text
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 2
