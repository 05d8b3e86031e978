"""The bus contract, run against every implementation: `InMemoryBus` always, `RedisBus`
when SPRECHSTUNDE_TEST_REDIS_URL names a Redis server. The Redis-only tests (several
processes, races, reconnects) are not collected at all without one: a skipped test says
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis

from signaling.bus import (
    Admission,
    AdmissionResult,
    Bus,
    InMemoryBus,
    Member,
    Presence,
    Seating,
)
from signaling.events import Admitted, Broadcast, Ended, Event, Joined, Relayed
from signaling.redis_bus import KEY_TTL, RedisBus

REDIS_URL = os.environ.get("SPRECHSTUNDE_TEST_REDIS_URL")
BACKENDS = ["memory", "redis"] if REDIS_URL else ["memory"]
ROOM = "room-1"
WAIT = 3.0

pytestmark = pytest.mark.anyio

Test = TypeVar("Test", bound=Callable[..., Any])


def redis_only(test: Test) -> Test:
    test.__test__ = bool(REDIS_URL)  # type: ignore[attr-defined]
    return test


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test alone; its keys are gone afterwards."""
    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    if REDIS_URL:
        client = Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture(params=BACKENDS)
async def bus(request: pytest.FixtureRequest, clock: FakeClock, prefix: str) -> AsyncIterator[Bus]:
    bus: Bus
    if request.param == "memory":
        bus = InMemoryBus(clock)
    else:
        assert REDIS_URL
        bus = RedisBus(REDIS_URL, clock=clock, prefix=prefix)
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def pair(clock: FakeClock, prefix: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two processes on one Redis."""
    assert REDIS_URL
    first = RedisBus(REDIS_URL, clock=clock, prefix=prefix)
    second = RedisBus(REDIS_URL, clock=clock, prefix=prefix)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


def member(
    member_id: str,
    state: Presence = Presence.INSIDE,
    conn: str | None = None,
    seen: float = 1_000.0,
) -> Member:
    return Member(
        id=member_id,
        name=f"Name {member_id}",
        role="guest",
        state=state,
        conn=conn or f"conn-{member_id}",
        ticket=f"ticket-{member_id}",
        seen=seen,
    )


def by_id(members: list[Member]) -> dict[str, Member]:
    return {m.id: m for m in members}


async def arrive(events: list[Event], count: int) -> None:
    """Wait until `count` events were delivered; Redis delivers after `publish` returned."""
    async with asyncio.timeout(WAIT):
        while len(events) < count:
            await asyncio.sleep(0.005)


# -- join --------------------------------------------------------------------------------


async def test_join_adds_a_new_member_and_replaces_nobody(bus: Bus) -> None:
    assert await bus.join(ROOM, member("a"), limit=2, stale_before=0.0) == Seating(True)
    assert await bus.members(ROOM) == [member("a")]


async def test_join_replaces_the_member_and_returns_the_previous(bus: Bus) -> None:
    await bus.join(ROOM, member("a", conn="old"), limit=2, stale_before=0.0)
    seating = await bus.join(ROOM, member("a", conn="new"), 2, 0.0)
    assert seating == Seating(True, member("a", conn="old"))
    assert await bus.members(ROOM) == [member("a", conn="new")]


async def test_join_inside_is_refused_when_the_limit_is_reached(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=2, stale_before=0.0)
    await bus.join(ROOM, member("b"), limit=2, stale_before=0.0)
    assert await bus.join(ROOM, member("c"), limit=2, stale_before=0.0) == Seating(False)
    assert set(by_id(await bus.members(ROOM))) == {"a", "b"}


async def test_refused_join_still_returns_the_member_it_would_replace(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=1, stale_before=0.0)
    await bus.join(ROOM, member("b", Presence.WAITING), limit=1, stale_before=0.0)
    seating = await bus.join(ROOM, member("b", conn="new"), 1, 0.0)
    assert seating == Seating(False, member("b", Presence.WAITING))
    assert by_id(await bus.members(ROOM))["b"].conn == "conn-b"


async def test_rejoining_inside_does_not_count_oneself(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=1, stale_before=0.0)
    seating = await bus.join(ROOM, member("a", conn="new"), limit=1, stale_before=0.0)
    assert seating.accepted


async def test_waiting_members_do_not_count_and_may_always_join(bus: Bus) -> None:
    for waiting in ("w1", "w2", "w3"):
        assert (await bus.join(ROOM, member(waiting, Presence.WAITING), 1, 0.0)).accepted
    assert await bus.join(ROOM, member("a"), limit=1, stale_before=0.0) == Seating(True)
    assert (await bus.join(ROOM, member("w4", Presence.WAITING), 1, 0.0)).accepted
    assert len(await bus.members(ROOM)) == 5


async def test_join_drops_stale_members(bus: Bus) -> None:
    await bus.join(ROOM, member("old", seen=100.0), limit=1, stale_before=0.0)
    await bus.join(ROOM, member("me", Presence.WAITING, seen=100.0), 1, 0.0)
    seating = await bus.join(ROOM, member("me", seen=1_000.0), 1, stale_before=500.0)
    # The stale "old" no longer fills the room, and a stale self is no previous member.
    assert seating == Seating(True)
    assert await bus.members(ROOM) == [member("me", seen=1_000.0)]


async def test_members_seen_exactly_at_the_threshold_stay(bus: Bus) -> None:
    await bus.join(ROOM, member("a", seen=500.0), limit=2, stale_before=0.0)
    await bus.join(ROOM, member("b"), limit=2, stale_before=500.0)
    assert set(by_id(await bus.members(ROOM))) == {"a", "b"}


# -- leave -------------------------------------------------------------------------------


async def test_leave_with_the_current_connection_removes_the_member(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=2, stale_before=0.0)
    await bus.join(ROOM, member("b"), limit=2, stale_before=0.0)
    assert await bus.leave(ROOM, "a", "conn-a") == member("a")
    assert await bus.members(ROOM) == [member("b")]


async def test_leave_with_a_replaced_connection_keeps_the_member(bus: Bus) -> None:
    await bus.join(ROOM, member("a", conn="new"), limit=2, stale_before=0.0)
    assert await bus.leave(ROOM, "a", "old") is None
    assert await bus.members(ROOM) == [member("a", conn="new")]


async def test_leave_of_an_absent_member_is_none(bus: Bus) -> None:
    assert await bus.leave(ROOM, "nobody", "conn") is None


async def test_last_leave_forgets_the_admissions(bus: Bus) -> None:
    await bus.join(ROOM, member("a", Presence.WAITING), limit=2, stale_before=0.0)
    await bus.join(ROOM, member("b"), limit=2, stale_before=0.0)
    await bus.admit(ROOM, "a", limit=2, resume="key-a")
    await bus.leave(ROOM, "a", "conn-a")
    assert await bus.resume_key(ROOM, "a") == "key-a"
    await bus.leave(ROOM, "b", "conn-b")
    assert await bus.resume_key(ROOM, "a") is None
    assert await bus.members(ROOM) == []


# -- admit, forget -----------------------------------------------------------------------


async def test_admit_moves_a_waiting_member_inside_and_keeps_its_resume_key(bus: Bus) -> None:
    await bus.join(ROOM, member("a", Presence.WAITING), limit=2, stale_before=0.0)
    assert await bus.resume_key(ROOM, "a") is None
    assert await bus.admit(ROOM, "a", limit=2, resume="key-a") == AdmissionResult(
        Admission.ADMITTED, "conn-a"
    )
    assert await bus.members(ROOM) == [member("a", Presence.INSIDE)]
    assert await bus.resume_key(ROOM, "a") == "key-a"


async def test_restore_puts_back_a_lost_resume_key_and_keeps_a_known_one(bus: Bus) -> None:
    await bus.restore(ROOM, "a", "key-a")  # lost, as after a Redis restart: back again
    await bus.join(ROOM, member("b", Presence.WAITING), limit=2, stale_before=0.0)
    await bus.admit(ROOM, "b", limit=2, resume="key-b")
    await bus.restore(ROOM, "b", "older")  # still known: kept
    assert await bus.resume_key(ROOM, "a") == "key-a"
    assert await bus.resume_key(ROOM, "b") == "key-b"


async def test_admit_is_refused_when_the_room_is_full(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=1, stale_before=0.0)
    await bus.join(ROOM, member("w", Presence.WAITING), limit=1, stale_before=0.0)
    assert await bus.admit(ROOM, "w", limit=1, resume="k") == AdmissionResult(Admission.FULL)
    assert by_id(await bus.members(ROOM))["w"].state is Presence.WAITING
    assert await bus.resume_key(ROOM, "w") is None


async def test_admit_of_someone_inside_changes_nothing(bus: Bus) -> None:
    await bus.join(ROOM, member("a", Presence.WAITING), limit=1, stale_before=0.0)
    await bus.admit(ROOM, "a", limit=1, resume="first")
    # A second host, or a double click: the key the connection inside holds stays valid.
    assert await bus.admit(ROOM, "a", limit=1, resume="second") == AdmissionResult(
        Admission.ADMITTED
    )
    assert await bus.resume_key(ROOM, "a") == "first"


async def test_admit_of_an_absent_member(bus: Bus) -> None:
    assert await bus.admit(ROOM, "nobody", 2, "k") == AdmissionResult(Admission.ABSENT)
    assert await bus.resume_key(ROOM, "nobody") is None


async def test_forget_withdraws_the_admission(bus: Bus) -> None:
    await bus.join(ROOM, member("a", Presence.WAITING), limit=2, stale_before=0.0)
    await bus.admit(ROOM, "a", limit=2, resume="key-a")
    await bus.forget(ROOM, "a")
    assert await bus.resume_key(ROOM, "a") is None
    await bus.forget(ROOM, "nobody")
    await bus.forget("no-room", "nobody")


# -- a second device: the replacement waits beside the member inside ------------------------


def replacement(member_id: str, conn: str) -> Member:
    return dataclasses.replace(member(member_id, Presence.WAITING, conn), replacing=True)


async def admitted(bus: Bus, member_id: str, key: str = "key-1") -> None:
    await bus.join(ROOM, member(member_id, Presence.WAITING), limit=4, stale_before=0.0)
    await bus.admit(ROOM, member_id, limit=4, resume=key)


async def test_a_waiting_connection_never_displaces_the_member_inside(bus: Bus) -> None:
    await admitted(bus, "guest")
    seating = await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)
    assert seating == Seating(True, None, beside=True)
    stored = await bus.members(ROOM)
    assert sorted(stored, key=lambda m: m.conn) == [
        member("guest", Presence.INSIDE),
        replacement("guest", "phone"),
    ]
    assert [m.public() for m in stored if m.replacing] == [
        {"id": "guest", "name": "Name guest", "role": "guest", "media": {}, "reconnect": True}
    ]


async def test_a_third_device_replaces_the_replacement(bus: Bus) -> None:
    await admitted(bus, "guest")
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)
    seating = await bus.join(ROOM, member("guest", Presence.WAITING, "tablet"), 4, 0.0)
    assert seating == Seating(True, replacement("guest", "phone"), beside=True)
    assert {m.conn for m in await bus.members(ROOM)} == {"conn-guest", "tablet"}


async def test_admitting_the_replacement_swaps_it_for_the_member_inside(bus: Bus) -> None:
    await admitted(bus, "guest", key="old-key")
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)

    result = await bus.admit(ROOM, "guest", limit=1, resume="new-key")

    # The swap changes nobody's count: it needs no room below the limit.
    assert result == AdmissionResult(Admission.ADMITTED, "phone", replaced="conn-guest")
    assert await bus.members(ROOM) == [member("guest", Presence.INSIDE, "phone")]
    # The old device's key is worth nothing now: it cannot come back and swap again.
    assert await bus.resume_key(ROOM, "guest") == "new-key"
    # Its connection, closed after the swap, leaves the new one alone.
    assert await bus.leave(ROOM, "guest", "conn-guest") is None


async def test_a_replacement_leaving_leaves_the_member_inside(bus: Bus) -> None:
    await admitted(bus, "guest")
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)
    assert await bus.leave(ROOM, "guest", "phone") == replacement("guest", "phone")
    assert await bus.members(ROOM) == [member("guest", Presence.INSIDE)]
    assert await bus.resume_key(ROOM, "guest") == "key-1"


async def test_when_the_member_inside_leaves_its_replacement_waits_in_its_place(
    bus: Bus,
) -> None:
    await admitted(bus, "guest")
    await bus.join(ROOM, member("host"), limit=4, stale_before=0.0)
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)

    assert await bus.leave(ROOM, "guest", "conn-guest") == member("guest", Presence.INSIDE)

    assert by_id(await bus.members(ROOM))["guest"] == member("guest", Presence.WAITING, "phone")
    assert await bus.admit(ROOM, "guest", limit=4, resume="k2") == AdmissionResult(
        Admission.ADMITTED, "phone"
    )


async def test_a_stale_member_inside_gives_way_to_its_replacement(bus: Bus) -> None:
    await bus.join(ROOM, member("guest", seen=100.0), limit=4, stale_before=0.0)
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)
    await bus.join(ROOM, member("host"), limit=4, stale_before=500.0)
    assert by_id(await bus.members(ROOM))["guest"] == member("guest", Presence.WAITING, "phone")


async def test_media_and_heartbeats_reach_the_replacement_by_its_connection(bus: Bus) -> None:
    await admitted(bus, "guest")
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)
    assert await bus.update(ROOM, "guest", "phone", seen=2_000.0)
    assert await bus.update(ROOM, "guest", "conn-guest", seen=3_000.0)
    assert {m.conn: m.seen for m in await bus.members(ROOM)} == {
        "conn-guest": 3_000.0,
        "phone": 2_000.0,
    }


async def test_coming_back_inside_keeps_the_replacement_waiting(bus: Bus) -> None:
    await admitted(bus, "guest")
    await bus.join(ROOM, member("guest", Presence.WAITING, "phone"), 4, 0.0)
    seating = await bus.join(ROOM, member("guest", conn="laptop-again"), 4, 0.0)
    assert seating == Seating(True, member("guest", Presence.INSIDE))
    assert {m.conn: m.replacing for m in await bus.members(ROOM)} == {
        "laptop-again": False,
        "phone": True,
    }


# -- update, members ---------------------------------------------------------------------


async def test_update_with_the_current_connection_changes_the_member(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=2, stale_before=0.0)
    media = {"audio": True, "video": False}
    assert await bus.update(ROOM, "a", "conn-a", seen=1_234.5, media=media)
    [updated] = await bus.members(ROOM)
    assert (updated.seen, updated.media) == (1_234.5, media)
    assert updated.name == "Name a"
    assert updated.state is Presence.INSIDE


async def test_update_with_a_replaced_connection_changes_nothing(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=2, stale_before=0.0)
    assert not await bus.update(ROOM, "a", "old", seen=2_000.0)
    assert not await bus.update(ROOM, "nobody", "conn", seen=2_000.0)
    assert await bus.members(ROOM) == [member("a")]


async def test_update_of_an_unknown_field_is_an_error(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=2, stale_before=0.0)
    with pytest.raises(AttributeError):
        await bus.update(ROOM, "a", "conn-a", mood="grumpy")


async def test_members_are_kept_per_room(bus: Bus) -> None:
    await bus.join(ROOM, member("a"), limit=2, stale_before=0.0)
    await bus.join(ROOM, member("w", Presence.WAITING), limit=2, stale_before=0.0)
    await bus.join("room-2", member("b"), limit=2, stale_before=0.0)
    assert by_id(await bus.members(ROOM)) == {"a": member("a"), "w": member("w", Presence.WAITING)}
    assert await bus.members("room-2") == [member("b")]
    assert await bus.members("room-3") == []


async def test_member_text_survives_the_round_trip(bus: Bus) -> None:
    odd = Member(
        id="ü", name='Zoë "/" \\ 王', role="host", state=Presence.WAITING, conn="c", ticket="t"
    )
    await bus.join(ROOM, odd, limit=2, stale_before=0.0)
    await bus.admit(ROOM, "ü", limit=2, resume="k")
    [stored] = await bus.members(ROOM)
    assert (stored.name, stored.state, stored.media, stored.seen) == (odd.name, "inside", {}, 0)


# -- revoked tickets ---------------------------------------------------------------------


async def test_revoked_ticket_is_refused_until_it_expires(bus: Bus, clock: FakeClock) -> None:
    await bus.revoke(ROOM, "t1", until=1_060.0)
    assert await bus.is_revoked(ROOM, "t1")
    assert not await bus.is_revoked(ROOM, "t2")
    assert not await bus.is_revoked("room-2", "t1")
    clock.now = 1_060.0
    assert not await bus.is_revoked(ROOM, "t1")


async def test_revoking_again_sets_the_new_end(bus: Bus, clock: FakeClock) -> None:
    await bus.revoke(ROOM, "t1", until=1_060.0)
    await bus.revoke(ROOM, "t1", until=1_120.0)
    clock.now = 1_100.0
    assert await bus.is_revoked(ROOM, "t1")


async def test_revoking_prunes_expired_tickets_only(bus: Bus, clock: FakeClock) -> None:
    await bus.revoke(ROOM, "t1", until=1_010.0)
    await bus.revoke(ROOM, "t2", until=1_100.0)
    clock.now = 1_050.0
    await bus.revoke(ROOM, "t3", until=1_200.0)
    assert [await bus.is_revoked(ROOM, t) for t in ("t1", "t2", "t3")] == [False, True, True]


# -- events ------------------------------------------------------------------------------


async def test_published_events_reach_the_subscriber_of_the_room(bus: Bus) -> None:
    events: list[Event] = []
    others: list[Event] = []
    await bus.subscribe(ROOM, events.append)
    await bus.subscribe("room-2", others.append)
    await bus.publish(ROOM, Joined("a", "Zoë", "guest", True))
    await bus.publish(ROOM, Broadcast({"type": "chat", "text": "hallo"}))
    await bus.publish("room-3", Broadcast({"type": "chat", "text": "nobody listens"}))
    await arrive(events, 2)
    assert events == [
        Joined("a", "Zoë", "guest", True),
        Broadcast({"type": "chat", "text": "hallo"}),
    ]
    assert others == []


async def test_subscribing_again_replaces_the_callback(bus: Bus) -> None:
    first: list[Event] = []
    second: list[Event] = []
    await bus.subscribe(ROOM, first.append)
    await bus.subscribe(ROOM, second.append)
    await bus.publish(ROOM, Admitted("1", "c", "k"))
    await arrive(second, 1)
    assert first == []


async def test_unsubscribe_stops_delivery(bus: Bus) -> None:
    events: list[Event] = []
    markers: list[Event] = []
    await bus.subscribe(ROOM, events.append)
    await bus.subscribe("room-2", markers.append)
    await bus.unsubscribe(ROOM)
    await bus.unsubscribe("never-subscribed")
    await bus.publish(ROOM, Admitted("1", "c", "k"))
    # Events of one publisher arrive in order: once the marker is here, so would be the other.
    await bus.publish("room-2", Ended())
    await arrive(markers, 1)
    assert events == []


async def test_subscribe_after_unsubscribe_delivers_again(bus: Bus) -> None:
    events: list[Event] = []
    await bus.subscribe(ROOM, events.append)
    await bus.unsubscribe(ROOM)
    await bus.subscribe(ROOM, events.append)
    await bus.publish(ROOM, Admitted("1", "c", "k"))
    await arrive(events, 1)
    assert events == [Admitted("1", "c", "k")]


async def test_a_relay_reaches_the_subscriber_with_its_recipient(bus: Bus) -> None:
    events: list[Event] = []
    await bus.subscribe(ROOM, events.append, frozenset({"a"}))
    await bus.publish(ROOM, Relayed("a", {"type": "ice", "from": "b"}))
    await arrive(events, 1)
    assert events == [Relayed("a", {"type": "ice", "from": "b"})]


# -- Redis: several processes ------------------------------------------------------------


@redis_only
async def test_a_relay_goes_to_the_recipients_process_only(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    # The host is on the first process, the guest on the second; both are in the room.
    first, second = pair
    at_first: list[Event] = []
    at_second: list[Event] = []
    await first.subscribe(ROOM, at_first.append, frozenset({"host"}))
    await second.subscribe(ROOM, at_second.append, frozenset({"guest"}))
    await second.publish(ROOM, Relayed("host", {"type": "ice", "from": "guest"}))
    await second.publish(ROOM, Broadcast({"type": "chat", "text": "hallo"}))
    await arrive(at_second, 1)
    await arrive(at_first, 2)
    assert at_first == [
        Relayed("host", {"type": "ice", "from": "guest"}),
        Broadcast({"type": "chat", "text": "hallo"}),
    ]
    assert at_second == [Broadcast({"type": "chat", "text": "hallo"})]  # not its own relay


@redis_only
async def test_a_relay_nobody_listens_for_goes_on_the_rooms_channel(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    # As a process of the version before relay channels listens, during an upgrade.
    first, second = pair
    at_first: list[Event] = []
    await first.subscribe(ROOM, at_first.append)
    await second.publish(ROOM, Relayed("host", {"type": "ice", "from": "guest"}))
    await arrive(at_first, 1)
    assert at_first == [Relayed("host", {"type": "ice", "from": "guest"})]


@redis_only
async def test_two_processes_share_the_room_state(pair: tuple[RedisBus, RedisBus]) -> None:
    first, second = pair
    await first.join(ROOM, member("a", Presence.WAITING), limit=2, stale_before=0.0)
    assert await second.members(ROOM) == [member("a", Presence.WAITING)]
    assert (await second.admit(ROOM, "a", limit=2, resume="k")).outcome is Admission.ADMITTED
    assert await first.resume_key(ROOM, "a") == "k"
    assert await first.update(ROOM, "a", "conn-a", media={"audio": True})
    assert (await second.members(ROOM))[0].media == {"audio": True}
    await second.revoke(ROOM, "ticket-a", until=2_000.0)
    assert await first.is_revoked(ROOM, "ticket-a")
    assert await second.leave(ROOM, "a", "conn-a") is not None
    assert await first.members(ROOM) == []


@redis_only
async def test_events_cross_processes_right_after_subscribe(
    pair: tuple[RedisBus, RedisBus],
) -> None:
    first, second = pair
    events: list[Event] = []
    for number in range(20):
        room = f"room-{number}"
        await first.subscribe(room, events.append)
        await second.publish(room, Admitted(str(number), "c", "k"))
    await arrive(events, 20)
    assert sorted(int(e.id) for e in events if isinstance(e, Admitted)) == list(range(20))


@redis_only
async def test_subscribe_returns_only_once_redis_listens(clock: FakeClock, prefix: str) -> None:
    # The subscriber's commands reach Redis late; a subscribe that returned once SUBSCRIBE
    # was sent would miss the event published right after it.
    assert REDIS_URL
    async with SlowProxy(REDIS_URL, delay=0.2) as proxy:
        slow = RedisBus(proxy.url, clock=clock, prefix=prefix)
        fast = RedisBus(REDIS_URL, clock=clock, prefix=prefix)
        await slow.start()
        await fast.start()
        try:
            events: list[Event] = []
            await slow.subscribe(ROOM, events.append)
            await fast.publish(ROOM, Admitted("1", "c", "k"))
            await arrive(events, 1)
        finally:
            await slow.close()
            await fast.close()


@redis_only
async def test_subscriber_reconnects_after_the_connection_drops(
    clock: FakeClock, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert REDIS_URL
    async with SlowProxy(REDIS_URL, delay=0.0) as proxy:
        listener = RedisBus(proxy.url, clock=clock, prefix=prefix)
        publisher = RedisBus(REDIS_URL, clock=clock, prefix=prefix)
        await listener.start()
        await publisher.start()
        try:
            events: list[Event] = []
            await listener.subscribe(ROOM, events.append)
            with caplog.at_level(logging.INFO, logger="sprechstunde.signaling.bus"):
                proxy.drop()
                # Events published while the subscription is down are lost; keep sending.
                async with asyncio.timeout(WAIT):
                    while not events:
                        await publisher.publish(ROOM, Admitted("1", "c", "k"))
                        await asyncio.sleep(0.05)
            assert "lost its subscriptions" in caplog.text
            assert "reconnected" in caplog.text
        finally:
            await listener.close()
            await publisher.close()


@redis_only
async def test_a_failing_callback_does_not_stop_delivery(
    pair: tuple[RedisBus, RedisBus], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = pair
    events: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("callback broke")

    await first.subscribe("room-broken", broken)
    await first.subscribe(ROOM, events.append)
    with caplog.at_level(logging.ERROR, logger="sprechstunde.signaling.bus"):
        await second.publish("room-broken", Admitted("0", "c", "k"))
        await second.publish(ROOM, Admitted("1", "c", "k"))
        await arrive(events, 1)
    assert "callback broke" in caplog.text


@redis_only
async def test_concurrent_joins_never_exceed_the_limit(pair: tuple[RedisBus, RedisBus]) -> None:
    joins = [pair[n % 2].join(ROOM, member(f"m{n}"), 4, 0.0) for n in range(20)]
    outcomes = await asyncio.gather(*joins)
    assert sum(seating.accepted for seating in outcomes) == 4
    assert len(await pair[0].members(ROOM)) == 4


@redis_only
async def test_concurrent_admits_never_exceed_the_limit(pair: tuple[RedisBus, RedisBus]) -> None:
    for n in range(10):
        await pair[0].join(ROOM, member(f"w{n}", Presence.WAITING), limit=3, stale_before=0.0)
    admissions = (pair[n % 2].admit(ROOM, f"w{n}", 3, f"k{n}") for n in range(10))
    outcomes = [result.outcome for result in await asyncio.gather(*admissions)]
    assert outcomes.count(Admission.ADMITTED) == 3
    assert outcomes.count(Admission.FULL) == 7
    inside = [m for m in await pair[1].members(ROOM) if m.state is Presence.INSIDE]
    assert len(inside) == 3


@redis_only
async def test_every_key_expires(pair: tuple[RedisBus, RedisBus], prefix: str) -> None:
    first, _ = pair
    await first.join(ROOM, member("a", Presence.WAITING), limit=2, stale_before=0.0)
    await first.admit(ROOM, "a", limit=2, resume="k")
    await first.revoke(ROOM, "short", until=1_060.0)
    await first.revoke(ROOM, "long", until=1_000.0 + 3 * KEY_TTL)
    await first.revoke(ROOM, "later", until=1_100.0)
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        ttls = {key: await client.ttl(key) async for key in client.scan_iter(f"{prefix}:*")}
    finally:
        await client.aclose()
    base = f"{prefix}:room:{ROOM}"
    assert ttls.keys() == {f"{base}:members", f"{base}:resume", f"{base}:revoked"}
    assert 0 < ttls[f"{base}:members"] <= KEY_TTL
    assert 0 < ttls[f"{base}:resume"] <= KEY_TTL
    # A revocation outlives the default expiry when the ticket would.
    assert ttls[f"{base}:revoked"] > 2 * KEY_TTL


# -- a TCP proxy that delays or drops the bus's connections ---------------------------------


class SlowProxy:
    """Sits between a bus and Redis: holds back what the bus sends by `delay` seconds and,
    on `drop()`, cuts every connection as a failing network would."""

    def __init__(self, url: str, delay: float) -> None:
        self._target = urlsplit(url)
        self._delay = delay
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        auth = self._target.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
        return urlunsplit(self._target._replace(netloc=netloc))

    async def __aenter__(self) -> SlowProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def drop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        host, port = self._target.hostname or "127.0.0.1", self._target.port or 6379
        server_r, server_w = await asyncio.open_connection(host, port)
        self._writers += [client_w, server_w]
        for task in (
            asyncio.create_task(self._pipe(client_r, server_w, self._delay)),
            asyncio.create_task(self._pipe(server_r, client_w, 0.0)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await source.read(65536):
                await asyncio.sleep(delay)
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.transport.abort()
            with contextlib.suppress(OSError):
                await sink.wait_closed()
