"""A Redis that stops answering holds up only the requests that wait for it: the slot search and
the booking count against their limits there (web/protection.py), and they do so without
stopping the event loop, which meanwhile answers everything else (health checks, kept
searches, WebSockets). A real server and a Redis of the test's own, paused with CLIENT PAUSE."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bench.common import Server
from tests.own_redis import OwnRedis
from web.protection import REDIS_TIMEOUT

PAUSE_SECONDS = 1.5
# A client that is not exempt from the limits (loopback, the proxy, forwards it).
CITIZEN = {"X-Forwarded-For": "2001:db8:5:7::1"}
SEARCH = "/api/v1/services/4711/slots?start=2031-01-07&end=2031-01-07"
HOLD = {"service_id": 4711, "start": "2031-01-07T09:00:00+01:00", "channel": "video"}
BOOKING = {
    "service_id": 4711,
    "start": "2031-01-07T09:00:00+01:00",
    "channel": "video",
    "name": "Erika Mustermann",
    "email": "erika@example.org",
}


@pytest.fixture
def server(database_url: str, tmp_path: Path, own_redis: OwnRedis) -> Iterator[Server]:
    server = Server(
        database_url,
        tmp_path / "server",
        extra_env={"SPRECHSTUNDE_REDIS_URL": own_redis.url},
        migrate=False,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def pause(redis_url: str, seconds: float) -> None:
    redis.Redis.from_url(redis_url).execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")


async def while_redis_pauses(server: Server, redis_url: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        # Before: the limits' connection to Redis is open and answers.
        assert (await http.get(SEARCH, headers=CITIZEN)).status_code == 404
        pause(redis_url, PAUSE_SECONDS)
        paused_at = time.monotonic()
        search = asyncio.create_task(http.get(SEARCH, headers=CITIZEN))
        booking = asyncio.create_task(http.post("/api/v1/bookings", json=BOOKING, headers=CITIZEN))
        await asyncio.sleep(0.3)
        asked = time.monotonic()
        health = await http.get("/healthz")
        return {
            "health": health.status_code,
            "health_seconds": time.monotonic() - asked,
            "waiting": not search.done() and not booking.done(),
            "search": (await search).status_code,
            "booking": (await booking).json()["code"],
            "answered_after": time.monotonic() - paused_at,
        }


@pytest.mark.timeout(60)
def test_requests_waiting_for_a_stalled_redis_do_not_stop_the_others(
    server: Server, own_redis: OwnRedis
) -> None:
    seen = asyncio.run(while_redis_pauses(server, own_redis.url))

    assert seen["health"] == 200
    assert seen["health_seconds"] < 0.5  # not after the pause
    assert seen["waiting"]  # the search and the booking wait for their limits
    # Then both are answered as before: no such service.
    assert seen["search"] == 404
    assert seen["booking"] == "not_found"
    assert seen["answered_after"] >= PAUSE_SECONDS - 0.1


async def timed(request: Coroutine[Any, Any, httpx.Response]) -> tuple[int, float]:
    began = time.monotonic()
    response = await request
    return response.status_code, time.monotonic() - began


async def while_redis_hangs(server: Server, redis_url: str) -> list[tuple[int, float]]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        assert (await http.get(SEARCH, headers=CITIZEN)).status_code == 404
        pause(redis_url, REDIS_TIMEOUT * 5)
        # A search (its handler on the event loop) and a hold (in a request thread).
        first = await asyncio.gather(
            timed(http.get(SEARCH, headers=CITIZEN)),
            timed(http.post("/api/v1/holds", json=HOLD, headers=CITIZEN)),
        )
        # Redis still hangs: the next ones do not wait for it.
        then = await asyncio.gather(
            timed(http.get(SEARCH, headers=CITIZEN)),
            timed(http.post("/api/v1/holds", json=HOLD, headers=CITIZEN)),
        )
        return [*first, *then]


@pytest.mark.timeout(60)
def test_a_hanging_redis_is_waited_for_once_then_the_limits_count_in_the_process(
    server: Server, own_redis: OwnRedis
) -> None:
    search, hold, next_search, next_hold = asyncio.run(while_redis_hangs(server, own_redis.url))

    # Passed the limits: no such service. The search and the hold both waited for Redis once
    # (the hold's second limit, after the first failed, did not); no retries, however long
    # Redis hangs; the requests after them did not wait at all.
    assert search[0] == hold[0] == next_search[0] == next_hold[0] == 404
    assert REDIS_TIMEOUT - 0.1 <= search[1] < REDIS_TIMEOUT + 1.0
    assert REDIS_TIMEOUT - 0.1 <= hold[1] < REDIS_TIMEOUT + 1.0
    assert next_search[1] < 0.5
    assert next_hold[1] < 0.5
    log = server.log()
    assert "rate limit search counted in this process: Redis is unreachable" in log
    assert "the limits count in this process for" in log
