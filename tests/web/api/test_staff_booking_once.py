"""`POST /api/v1/staff/bookings` with an `Idempotency-Key`: the same body again gets the booking
it made, not a second booking of the caller with another advisor free at that time."""

from __future__ import annotations

from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.web.api.test_api_staff import TUESDAY, at, callback_body


def _desk(client: TestClient, world) -> tuple[dict[str, str], dict[str, str], int]:
    service = world.service()
    world.advisor([service], email="anna@example.org")
    world.advisor([service], email="bernd@example.org")
    world.advisor([], email="hotline@example.org", role=Role.HOTLINE)
    world.advisor([], email="hannes@example.org", role=Role.HOTLINE)
    return (
        world.login(client, "hotline@example.org"),
        world.login(client, "hannes@example.org"),
        service.id,
    )


def _book(client: TestClient, headers: dict[str, str], body: dict, key: str | None = None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/staff/bookings", json=body, headers=headers | extra)


def _confirmed(client: TestClient, headers: dict[str, str]) -> list[dict]:
    listed = client.get(
        "/api/v1/staff/bookings", params={"start": TUESDAY.isoformat()}, headers=headers
    )
    return [b for b in listed.json() if b["status"] == "confirmed"]


def test_the_same_key_and_body_give_the_same_booking(client: TestClient, world) -> None:
    mine, _, service_id = _desk(client, world)
    body = callback_body(service_id, at(TUESDAY, 9))

    first = _book(client, mine, body, key="desk-42")
    again = _book(client, mine, body, key="desk-42")

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_confirmed(client, mine)) == 1


def test_without_a_key_the_same_body_books_the_other_advisor(client: TestClient, world) -> None:
    """What the key is for: both advisors are free at nine."""
    mine, _, service_id = _desk(client, world)
    body = callback_body(service_id, at(TUESDAY, 9))

    assert _book(client, mine, body).status_code == 201
    assert _book(client, mine, body).status_code == 201
    assert len(_confirmed(client, mine)) == 2


def test_the_key_with_another_body_is_refused(client: TestClient, world) -> None:
    mine, _, service_id = _desk(client, world)
    _book(client, mine, callback_body(service_id, at(TUESDAY, 9)), key="desk-42")

    other = _book(client, mine, callback_body(service_id, at(TUESDAY, 10)), key="desk-42")

    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert len(_confirmed(client, mine)) == 1


def test_another_staff_members_key_is_their_own(client: TestClient, world) -> None:
    mine, theirs, service_id = _desk(client, world)
    body = callback_body(service_id, at(TUESDAY, 9))

    first = _book(client, mine, body, key="desk-42")
    second = _book(client, theirs, body, key="desk-42")

    assert first.status_code == second.status_code == 201
    assert second.json()["reference"] != first.json()["reference"]
    assert "Idempotent-Replayed" not in second.headers
