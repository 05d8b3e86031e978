"""An erasure leaves none of the person's bytes in the SQLite database's files: SQLite keeps
deleted and overwritten content in free space and in its write-ahead log unless told
otherwise (`PRAGMA secure_delete`, and a checkpoint that empties the log: scheduler/db.py).
PostgreSQL keeps dead tuples until vacuum (docs/operations.md); this test is SQLite's."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.accounts import StaffIdentity
from scheduler.models import Role
from scheduler.people import Person
from tests.conftest import POSTGRES_URL, booking_body
from tests.web.api.test_api_public import TUESDAY, at, bearer, booked, manage_token

pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="about SQLite's files")

NAME = "Quirinius Zwetschgenbaum"
EMAIL = "quirinius.zwetschgenbaum@example.org"
PHONE = "0391 7777 4242"


def leftovers(container) -> dict[str, list[str]]:
    """Where the person's name, address or number still lie in the database's files."""
    database = Path(container.engine.url.database)
    found: dict[str, list[str]] = {}
    for path in (database, Path(f"{database}-wal")):
        data = path.read_bytes() if path.exists() else b""
        for marker in (NAME, NAME.lower(), EMAIL, PHONE, "77774242", "zwetschgenbaum"):
            if marker.encode() in data:
                found.setdefault(path.name, []).append(marker)
    return found


@pytest.fixture
def booking(client, world):
    service = world.service(channels=["video", "phone"])
    world.advisor([service], email="advisor@example.org")
    body = booking_body(service, at(TUESDAY, 9), name=NAME, email=EMAIL, phone=PHONE)
    body["notes"] = "Zwetschgenbaum"
    return booked(client, body)


def test_a_citizen_s_erasure_leaves_no_bytes_of_them_in_the_files(client, container, booking):
    token = manage_token(booking)
    container.outbox.deliver_due()
    assert leftovers(container)  # the marker is found where it is
    assert client.post("/api/v1/booking/cancel", headers=bearer(token)).status_code == 200

    assert client.post("/api/v1/booking/erase", headers=bearer(token)).status_code == 200

    assert leftovers(container) == {}


def test_an_erasure_by_staff_leaves_no_bytes_of_the_person_in_the_files(
    client, container, world, booking
):
    admin = StaffIdentity.of(world.advisor([], role=Role.ADMIN, email="dpo@example.org"))
    client.post("/api/v1/booking/cancel", headers=bearer(manage_token(booking)))
    container.outbox.deliver_due()

    counts = container.people.erase(
        admin, Person(email=EMAIL), {"bookings": 1, "callbacks": 0, "waitlist": 0}
    )

    assert counts["bookings_anonymised"] == 1
    assert leftovers(container) == {}
