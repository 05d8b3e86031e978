"""PostgreSQL drops the service's connections (a restart, a failover) between two bookings:
the booking that meets a dropped connection is answered 503 `busy` with Retry-After, nothing
of it is written, and the next one is booked on new connections without a restart."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scheduler import idle_ping
from scheduler.db import read_session
from scheduler.models import Booking
from tests.conftest import POSTGRES_URL
from tests.pg_backends import backends_named, drop_backends
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
    separator = "&" if "?" in settings.database_url else "?"
    url = f"{settings.database_url}{separator}application_name={NAME}"
    return settings.model_copy(update={"database_url": url})


@pytest.fixture(autouse=True)
def _trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection given back is trusted for a minute: the booking after the drop meets a
    dropped one, however slow the machine (tests/scheduler/test_idle_ping.py: after idling,
    one is checked first)."""
    monkeypatch.setattr(idle_ping, "TRUSTED_IDLE", 60.0)


def _booking(service_id: int, hour: int, email: str) -> dict[str, object]:
    return {
        "service_id": service_id,
        "start": datetime(2031, 1, 7, hour, tzinfo=BERLIN).isoformat(),
        "channel": "video",
        "name": "Erika Mustermann",
        "email": email,
    }


def test_a_booking_that_meets_a_dropped_connection_is_503_and_the_next_is_booked(
    client: TestClient, world, container: Container
) -> None:
    service = world.service()
    world.advisor([service])
    assert client.post("/api/v1/bookings", json=_booking(service.id, 9, "a@example.org")).is_success

    assert POSTGRES_URL is not None
    pids = backends_named(POSTGRES_URL, NAME)
    assert pids
    drop_backends(POSTGRES_URL, pids)
    refused = client.post("/api/v1/bookings", json=_booking(service.id, 10, "b@example.org"))
    again = client.post("/api/v1/bookings", json=_booking(service.id, 10, "b@example.org"))

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "busy"
    assert refused.headers["Retry-After"] == "1"
    assert again.status_code == 201, again.text
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 2
