"""The hub tells the metrics (web/metrics.py) its open connections and the rooms with one of
them, as participants come and go through the real WebSocket endpoint."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def _gauges(monitor: TestClient) -> tuple[float, float]:
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(monitor.get("/metrics").text)
        for sample in family.samples
    }
    return found["sprechstunde_signaling_connections"], found["sprechstunde_rooms_open"]


def _until(monitor: TestClient, expected: tuple[float, float]) -> tuple[float, float]:
    deadline = time.monotonic() + 5
    while (seen := _gauges(monitor)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return seen


def test_connections_and_rooms_follow_the_participants(app, room_world, connect):
    monitor = TestClient(app, client=("127.0.0.1", 50000))  # the app is already running
    host, _ = connect(room_world.host_ticket())
    assert _until(monitor, (1, 1)) == (1, 1)

    guest, welcome = connect(room_world.guest_ticket(name="Erika"))
    assert welcome["state"] == "waiting"
    assert _until(monitor, (2, 1)) == (2, 1)  # one room, whoever waits in it

    guest.close()
    host.close()
    assert _until(monitor, (0, 0)) == (0, 0)
