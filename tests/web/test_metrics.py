"""`/metrics` (web/metrics.py, web/observe.py): who may read it, and that each figure moves with
what it counts: attempts to book by outcome, slot searches, answers by class, the outbox read
from the database, documents by verdict, the signaling hub's connections and rooms, and the
event loop's lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from notifications.models import OutboxMessage, OutboxStatus
from scheduler.db import write_session
from web.metrics import LAG_INTERVAL, booking_outcome, observe_signaling

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def monitor(app: FastAPI) -> Iterator[TestClient]:
    """A client on loopback, where the default SPRECHSTUNDE_METRICS_ALLOW lets it in."""
    with TestClient(app, client=LOOPBACK) as client:
        yield client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("address", ["192.0.2.7", "2001:db8::1", "testclient"])
def test_other_addresses_are_refused_with_a_reason(app, address):
    with TestClient(app, client=(address, 50000)) as client:
        response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["code"] == "metrics_not_allowed"
    assert "sprechstunde_" not in response.text


def test_the_allowed_networks_come_from_the_setting(settings, clock):
    from web.app import create_app

    app = create_app(settings.model_copy(update={"metrics_allow": ["192.0.2.0/24"]}), clock)
    try:
        with TestClient(app, client=("192.0.2.7", 1)) as inside:
            assert inside.get("/metrics").status_code == 200
        with TestClient(app, client=LOOPBACK) as loopback:
            assert loopback.get("/metrics").status_code == 403
    finally:
        app.state.container.engine.dispose()


def test_a_bad_network_in_the_setting_refuses_the_start(settings):
    with pytest.raises(ValueError, match="metrics_allow"):
        settings.model_validate({**settings.model_dump(), "metrics_allow": ["not-a-network"]})


def test_booking_attempts_are_counted_by_outcome_and_timed(monitor, world, make_booking_body):
    service = world.service()
    world.advisor([service])
    found = monitor.get(
        f"/api/v1/services/{service.id}/slots", params={"start": "2031-01-06"}
    ).json()
    start = found["slots"][0]["start"]
    before = samples(monitor)

    booked = monitor.post(
        "/api/v1/bookings", json=make_booking_body(service, datetime.fromisoformat(start))
    )
    taken = monitor.post(
        "/api/v1/bookings",
        json=make_booking_body(service, datetime.fromisoformat(start), email="b@example.org"),
    )
    invalid = monitor.post("/api/v1/bookings", json={"service_id": "many"})
    after = samples(monitor)

    assert (booked.status_code, taken.status_code, invalid.status_code) == (201, 409, 422)
    for outcome in ("booked", "conflict", "invalid"):
        grown = value(after, "sprechstunde_bookings_total", outcome=outcome) - value(
            before, "sprechstunde_bookings_total", outcome=outcome
        )
        assert grown == 1, outcome
    timed = value(after, "sprechstunde_booking_seconds_count") - value(
        before, "sprechstunde_booking_seconds_count"
    )
    assert timed == 3
    assert value(after, "sprechstunde_slot_search_seconds_count") >= 1
    grown_4xx = value(after, "sprechstunde_http_responses_total", status="4xx") - value(
        before, "sprechstunde_http_responses_total", status="4xx"
    )
    assert grown_4xx == 2


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, "booked"),
        (303, "booked"),
        (409, "conflict"),
        (422, "invalid"),
        (429, "limited"),
        (403, "refused"),
        (503, "error"),
    ],
)
def test_each_answer_to_an_attempt_has_its_outcome(status, outcome):
    assert booking_outcome(status) == outcome


def test_the_outbox_backlog_its_oldest_due_message_and_dead_letters(
    monitor, world, container, clock, make_booking_body
):
    service = world.service()
    world.advisor([service])
    start = monitor.get(
        f"/api/v1/services/{service.id}/slots", params={"start": "2031-01-06"}
    ).json()["slots"][0]["start"]
    assert monitor.post(
        "/api/v1/bookings", json=make_booking_body(service, datetime.fromisoformat(start))
    ).is_success
    clock.advance(minutes=5)

    waiting = samples(monitor)
    assert value(waiting, "sprechstunde_outbox_backlog") == 1  # the confirmation
    assert value(waiting, "sprechstunde_outbox_oldest_due_seconds") == pytest.approx(300, abs=2)
    assert value(waiting, "sprechstunde_outbox_dead_letters") == 0

    with write_session(container.sessions) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.not_before <= clock.now)
            .values(status=OutboxStatus.DEAD, attempts=3)
        )
    given_up = samples(monitor)
    assert value(given_up, "sprechstunde_outbox_backlog") == 0
    assert value(given_up, "sprechstunde_outbox_oldest_due_seconds") == 0
    assert value(given_up, "sprechstunde_outbox_dead_letters") == 1
    assert value(given_up, "sprechstunde_email_failed_attempts") == 3


def test_documents_are_counted_by_verdict(monitor):
    found = samples(monitor)
    for verdict in ("pending", "clean", "rejected"):
        assert ("sprechstunde_documents", (("verdict", verdict),)) in found


def test_the_signaling_connections_and_rooms_are_what_the_hub_last_said(monitor):
    observe_signaling(3, 2)
    found = samples(monitor)
    assert value(found, "sprechstunde_signaling_connections") == 3
    assert value(found, "sprechstunde_rooms_open") == 2
    observe_signaling(0, 0)
    assert value(samples(monitor), "sprechstunde_rooms_open") == 0


def test_a_blocked_event_loop_shows_in_its_lag(monitor):
    def slower_than(found: dict, seconds: str) -> float:
        return value(found, "sprechstunde_event_loop_lag_seconds_bucket", le="+Inf") - value(
            found, "sprechstunde_event_loop_lag_seconds_bucket", le=seconds
        )

    before = samples(monitor)
    # Run in the app's event loop, as a handler that blocks it would.
    monitor.portal.call(time.sleep, 1.0)
    time.sleep(3 * LAG_INTERVAL)
    after = samples(monitor)
    assert slower_than(after, "0.5") >= slower_than(before, "0.5") + 1
    ticks = value(after, "sprechstunde_event_loop_lag_seconds_count")
    assert ticks > value(before, "sprechstunde_event_loop_lag_seconds_count")
