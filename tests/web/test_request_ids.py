"""Each answer names its request in `X-Request-ID` (web/observe.py): the proxy's id when it sent
one that looks like an id, a new one otherwise; the JSON log events of the request carry it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from web.logs import REQUESTS, JsonLines


@pytest.fixture
def request_events() -> Iterator[list[str]]:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonLines())
    logger = logging.getLogger(REQUESTS)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_every_answer_has_a_new_id(client):
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/nowhere").headers["x-request-id"]  # errors too
    assert len(first) == 32
    assert first != second


def test_an_id_from_the_proxy_is_kept(client):
    answer = client.get("/healthz", headers={"X-Request-ID": "caddy-5f2a9e11"})
    assert answer.headers["x-request-id"] == "caddy-5f2a9e11"


@pytest.mark.parametrize("given", ["short", "x" * 65, "two words here", "<script>", "a/b/c/d/e/f"])
def test_an_id_that_does_not_look_like_one_is_replaced(client, given):
    answer = client.get("/healthz", headers={"X-Request-ID": given})
    assert answer.headers["x-request-id"] != given
    assert len(answer.headers["x-request-id"]) == 32


def test_the_request_event_names_the_route_not_the_path_and_carries_the_id(client, request_events):
    answer = client.get("/b/eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl?token=secret")
    events = [json.loads(line) for line in request_events]
    assert len(events) == 1
    event = events[0]
    assert event["request_id"] == answer.headers["x-request-id"]
    assert event["route"] == "/b/{token}"
    assert event["status"] == answer.status_code
    assert event["event"] == "request"
    assert "eyJ" not in request_events[0]
    assert "secret" not in request_events[0]
