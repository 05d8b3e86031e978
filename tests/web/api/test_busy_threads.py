"""When a crowd keeps every request thread busy (the morning the slots are released), the
proxy's health check and the searches that were just answered still get through."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from scheduler.slot_cache import SlotCache

TUESDAY = date(2031, 1, 7)
# Without the fix a request waits for a thread forever: fail in seconds instead.
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def busy(client: TestClient) -> Iterator[None]:
    """Every request thread taken, as by bookings queued behind the database."""
    portal = client.portal
    assert portal is not None
    limiter = portal.call(anyio.to_thread.current_default_thread_limiter)
    holders = [object() for _ in range(int(limiter.total_tokens))]
    for holder in holders:
        portal.call(limiter.acquire_on_behalf_of, holder)
    assert limiter.available_tokens == 0
    yield
    for holder in holders:
        portal.call(limiter.release_on_behalf_of, holder)


def test_readyz_answers_while_every_request_thread_is_busy(client, busy):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_a_kept_search_is_answered_while_every_request_thread_is_busy(client, world, request):
    service = world.service()
    world.advisor([service], password=None)
    path = f"/api/v1/services/{service.id}/slots?start={TUESDAY}&end={TUESDAY}"
    computed = client.get(path)
    assert computed.status_code == 200
    assert computed.json()["slots"]
    request.getfixturevalue("busy")
    kept = client.get(path)
    assert kept.status_code == 200
    assert kept.json() == computed.json()


def test_a_time_taken_since_it_was_offered_is_refused_without_a_request_thread(
    client, container, world, make_booking_body, request
):
    service = world.service()
    world.advisor([service], password=None)
    # Answers kept for a minute: this test is about what they tell, not how long they live.
    container.scheduler.free_times = SlotCache(60)
    path = f"/api/v1/services/{service.id}/slots?start={TUESDAY}&end={TUESDAY}"
    offered = client.get(path).json()["slots"][0]["start"]
    first = make_booking_body(service, datetime.fromisoformat(offered))
    keyed = {"Idempotency-Key": "erika-1"}
    assert client.post("/api/v1/bookings", json=first, headers=keyed).status_code == 201
    assert client.get(path).json()["slots"][0]["start"] != offered  # the crowd searches again
    # The same request again with its key is answered as before, by the booking path.
    replay = client.post("/api/v1/bookings", json=first, headers=keyed)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"

    request.getfixturevalue("busy")
    second = make_booking_body(service, datetime.fromisoformat(offered), email="max@example.org")
    refused = client.post("/api/v1/bookings", json=second)
    assert refused.status_code == 409
    assert refused.json()["code"] == "slot_unavailable"
