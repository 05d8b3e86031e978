"""A slot search whose answer is kept is answered before FastAPI routes it
(web/kept_searches.py), exactly as the route would answer it; anything else goes on to the
route."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Router

from scheduler.slot_cache import SlotCache
from tests.conftest import World
from web.app import create_app
from web.kept_searches import parse
from web.settings import Settings

TUESDAY = date(2031, 1, 7)
PATH = "/api/v1/services/7/slots"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"start=2031-01-07&end=2031-01-08", (7, TUESDAY, date(2031, 1, 8), None)),
        (b"start=2031-01-07", (7, TUESDAY, date(2031, 1, 20), None)),
        (b"channel=phone&start=2031-01-07", (7, TUESDAY, date(2031, 1, 20), "phone")),
    ],
)
def test_a_plain_search_is_read_as_the_route_reads_it(query, expected):
    assert parse(PATH, query) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"end=2031-01-08",  # no start: the route answers 422
        b"start=2031-01-07&lang=de",  # the language middleware keeps the choice in a cookie
        b"start=2031-01-07&start=2031-01-08",  # the route takes the last one
        b"start=2031-01-07&&end=2031-01-08",
        b"start=2031-1-7",
        b"start=2031-02-30",
        b"start=20310107",
        b"start=2031-01-07&end=",
        b"start=2031-01-07&channel=",
        b"start=2031-01-07&channel=fax",
        b"start=2031-01-07&channel=VIDEO",
        b"start=2031-01-07%00",
        b"start=9999-12-25",  # the default end would be after the year 9999
    ],
)
def test_anything_unusual_goes_on_to_the_route(query):
    assert parse(PATH, query) is None


@pytest.mark.parametrize(
    "path", ["/api/v1/services/07/slots", "/api/v1/services/x/slots", "/api/v1/services/7/slots/"]
)
def test_other_paths_go_on_to_the_route(path):
    assert parse(path, b"start=2031-01-07") is None


class RoutedSearches:
    """How many slot searches reached FastAPI's router."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        route = Router.__call__

        async def counting(router: Router, scope: Any, receive: Any, send: Any) -> None:
            if scope.get("path", "").endswith("/slots"):
                self.count += 1
            await route(router, scope, receive, send)

        monkeypatch.setattr(Router, "__call__", counting)


def searches_timed(client: TestClient) -> float:
    return next(
        sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name == "sprechstunde_slot_search_seconds_count"
    )


def test_a_kept_answer_is_the_routes_answer_without_the_router(app, world, monkeypatch):
    service = world.service()
    world.advisor([service], password=None)
    # Answers kept for a minute, not a quarter of a second: a slow moment of the machine must
    # not make the second search compute anew.
    app.state.container.scheduler.free_times = SlotCache(60)
    routed = RoutedSearches(monkeypatch)
    path = f"/api/v1/services/{service.id}/slots?start={TUESDAY}&end={TUESDAY}"

    with TestClient(app, client=("127.0.0.1", 50000)) as client:  # /metrics: loopback only
        timed = searches_timed(client)
        computed = client.get(path)
        kept = client.get(path, headers={"X-Request-ID": "kept-search-1"})
        # Timed as slot searches, both; the log and the metrics name the route's pattern.
        assert searches_timed(client) == timed + 2

    assert routed.count == 1
    assert kept.status_code == computed.status_code == 200
    assert kept.content == computed.content
    assert kept.json()["slots"]
    assert kept.headers["x-request-id"] == "kept-search-1"
    del computed.headers["x-request-id"], kept.headers["x-request-id"]
    assert kept.headers == computed.headers  # security headers, no-store, length and type


def test_an_unusual_search_is_answered_by_the_route(client, world, monkeypatch):
    service = world.service()
    world.advisor([service], password=None)
    routed = RoutedSearches(monkeypatch)
    path = f"/api/v1/services/{service.id}/slots?start={TUESDAY}&end={TUESDAY}"
    assert client.get(path).status_code == 200

    chosen = client.get(path + "&lang=de")
    reversed_range = client.get(
        f"/api/v1/services/{service.id}/slots?start={TUESDAY}&end=2031-01-06",
        headers={"Accept-Language": "de"},
    )

    assert routed.count == 3
    assert chosen.status_code == 200
    assert "lang=de" in chosen.headers["set-cookie"]
    assert reversed_range.status_code == 422
    assert reversed_range.json()["code"] == "range_reversed"
    assert reversed_range.json()["detail"] != "The end lies before the start."  # German


@pytest.fixture
def limited(settings: Settings, clock: Any) -> Iterator[TestClient]:
    app: FastAPI = create_app(
        settings.model_copy(update={"slot_searches_per_minute": 3, "redis_url": None}),
        clock=clock,
    )
    with TestClient(app, client=("2001:db8:5::1", 50000)) as client:
        yield client
    app.state.container.engine.dispose()


def test_each_search_counts_once_against_the_address_whoever_answers_it(limited):
    world = World(limited.app.state.container)
    service = world.service()
    world.advisor([service], password=None)
    path = f"/api/v1/services/{service.id}/slots?start={TUESDAY}&end={TUESDAY}"

    assert limited.get(path).status_code == 200  # computed by the route
    assert limited.get(f"{path}&start={TUESDAY}").status_code == 200  # the route: unusual
    assert limited.get(path).status_code == 200  # kept
    refused = limited.get(path, headers={"Accept-Language": "de"})

    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["detail"].startswith("Zu viele")
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-request-id"]
