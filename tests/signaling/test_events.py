"""The bus events between processes: their JSON survives the trip, anything else is refused;
and a Redis bus drops what is no event instead of failing (with SPRECHSTUNDE_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from redis.asyncio import Redis

from signaling.events import (
    Admitted,
    Broadcast,
    Ended,
    Event,
    InvalidEvent,
    Joined,
    Kick,
    Relayed,
    decode,
    encode,
)
from signaling.protocol import CloseCode
from signaling.redis_bus import RedisBus
from tests.signaling.test_bus import REDIS_URL, redis_only

EVENTS = [
    Relayed("guest", {"type": "offer", "sdp": "v=0\r\n", "from": "staff-1"}),
    Relayed("guest", {"type": "candidate", "candidate": None, "from": "staff-1"}),
    Broadcast({"type": "chat", "from": "guest", "name": 'Zoë "/" \\ 王', "text": "Hallo"}),
    Broadcast({"type": "knock", "participant": {"id": "guest"}}, hosts=True),
    Broadcast({"type": "peer-left", "id": "guest"}, skip="guest"),
    Joined("guest", "Zoë", "guest", False, {"audio": True, "video": False, "screen": False}),
    Admitted("invite-7", "3f2a", "resume-key"),
    Kick("guest", "3f2a", CloseCode.REPLACED),
    Ended(),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_an_event_survives_its_json(event: Event) -> None:
    again = decode(encode(event))
    assert again == event
    assert type(again) is type(event)


def test_a_kick_comes_back_with_its_close_code() -> None:
    kick = decode(encode(Kick("guest", "3f2a", CloseCode.REMOVED)))
    assert isinstance(kick, Kick)
    assert kick.code is CloseCode.REMOVED


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "null",
        "[]",
        '"ended"',
        "{}",
        '{"n":1}',
        '{"kind":"dance"}',
        '{"kind":"admitted"}',
        '{"kind":"admitted","id":"guest","conn":"c","resume":7}',
        '{"kind":"kick","id":"guest","conn":"c","code":1001}',  # no close code of ours
        '{"kind":"kick","id":"guest","conn":"c","code":"4006"}',
        '{"kind":"relayed","to":"guest","message":"offer"}',
        '{"kind":"broadcast","message":{},"hosts":"true"}',
        '{"kind":"joined","id":"g","name":"G","role":"guest","can_rollback":1}',
        '{"kind":"joined","id":"g","name":"G","role":"guest","can_rollback":true,'
        '"media":{"audio":"yes"}}',
    ],
)
def test_anything_else_is_no_event(text: str) -> None:
    with pytest.raises(InvalidEvent):
        decode(text)


@redis_only
@pytest.mark.anyio
async def test_the_redis_bus_drops_what_is_no_event(caplog: pytest.LogCaptureFixture) -> None:
    assert REDIS_URL
    prefix = f"test-{uuid.uuid4().hex}"
    bus = RedisBus(REDIS_URL, prefix=prefix)
    raw = Redis.from_url(REDIS_URL)
    await bus.start()
    try:
        events: list[Event] = []
        await bus.subscribe("room-1", events.append)
        with caplog.at_level(logging.WARNING, logger="sprechstunde.signaling.bus"):
            for garbage in (b'{"n":1}', b"\xff\xfe", b'{"kind":"kick","id":"g"}'):
                await raw.publish(f"{prefix}:room:room-1:events", garbage)
            await bus.publish("room-1", Admitted("guest", "c1", "k"))
            async with asyncio.timeout(3.0):
                while not events:
                    await asyncio.sleep(0.005)
        assert events == [Admitted("guest", "c1", "k")]
        assert caplog.text.count("no event") == 3
    finally:
        await bus.close()
        await raw.aclose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
