"""After Redis failed, the limits count in the process for a while (web/redis_breaker.py):
one request at a time finds out whether Redis is back, and no limit is lifted meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from bench.common import free_port
from web.protection import Protection, RateLimited
from web.redis_breaker import Breaker


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_a_failure_redis_is_skipped_for_the_pause_then_tried_by_one_request():
    clock = FakeTime()
    breaker = Breaker(pause=10, clock=clock)
    assert breaker.should_try()  # healthy: everyone asks
    assert breaker.should_try()

    breaker.failed()
    clock.now += 9.9
    assert not breaker.should_try()
    clock.now += 0.1
    assert breaker.should_try()  # the one that finds out
    assert not breaker.should_try()  # the others keep counting in the process meanwhile

    breaker.failed()  # still down: another pause
    clock.now += 5
    assert not breaker.should_try()
    clock.now += 5
    assert breaker.should_try()
    breaker.succeeded()
    assert breaker.should_try()
    assert breaker.should_try()


def unreachable(settings, **overrides):
    """A Redis URL that nothing listens on: every command fails at once."""
    return settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{free_port()}/0",
            "slot_searches_per_minute": 3,
            **overrides,
        }
    )


def test_with_redis_unreachable_the_limits_still_hold_in_the_process(settings, caplog):
    protection = Protection(unreachable(settings))
    try:
        for _ in range(3):
            protection.check_search("198.51.100.7")
        with pytest.raises(RateLimited):
            protection.check_search("198.51.100.7")
        protection.check_search("198.51.100.8")  # another address, its own budget
    finally:
        asyncio.run(protection.aclose())
    failures = [r for r in caplog.records if "counted in this process" in r.getMessage()]
    assert len(failures) == 1  # the first asked Redis; the others did not


def test_on_the_event_loop_too(settings):
    async def search_four_times(protection: Protection) -> None:
        try:
            for _ in range(3):
                await protection.acheck_search("198.51.100.7")
            with pytest.raises(RateLimited):
                await protection.acheck_search("198.51.100.7")
        finally:
            await protection.aclose()

    asyncio.run(search_four_times(Protection(unreachable(settings))))


def test_a_proof_of_work_is_still_accepted_once_with_redis_unreachable(settings):
    protection = Protection(unreachable(settings))
    try:
        used = protection.altcha._used
        assert used.first_use("signature", until=4102444800.0)
        assert not used.first_use("signature", until=4102444800.0)
    finally:
        asyncio.run(protection.aclose())
