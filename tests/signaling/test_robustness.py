"""What a client can get wrong, on purpose or not, and what the signaling server does about
it: tickets, the first message, malformed and oversized input, floods, silence, full rooms and
readers too slow to keep up. Whatever happens, the server and the other rooms carry on.

Most tests go through the real WebSocket endpoint of an in-process app; the slow reader needs
a socket whose writes block, so those tests run the hub itself with an in-memory WebSocket.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from signaling.bus import InMemoryBus
from signaling.hub import Hub, HubConfig
from tests.signaling.harness import (
    Client,
    FakeGate,
    close_code,
    drain,
    finish,
    meeting,
    receive,
)


@pytest.fixture
def hub(room_world) -> Hub:
    return room_world.client.app.state.hub


def configure(hub: Hub, **changes: Any) -> None:
    hub.config = dataclasses.replace(hub.config, **changes)


# -- the ticket and the first message --------------------------------------------------------


@pytest.mark.parametrize("kind", ["garbage", "join-link", "forged"])
def test_a_ticket_that_is_not_one_is_closed_with_4001(room_world, connect, kind):
    ticket = room_world.guest_ticket()
    tickets = {
        "garbage": "not-a-ticket",
        "join-link": room_world.join_token,  # a genuine token, for another purpose
        "forged": ticket[:-4] + ("AAAA" if not ticket.endswith("AAAA") else "BBBB"),
    }

    with pytest.raises(WebSocketDisconnect) as refused:
        connect(tickets[kind])

    assert refused.value.code == 4001


def test_an_expired_ticket_is_closed_with_4002(room_world, connect):
    ticket = room_world.guest_ticket()
    room_world.clock.advance(minutes=11)  # the ticket lived 10 minutes; the room is still open

    with pytest.raises(WebSocketDisconnect) as refused:
        connect(ticket)

    assert refused.value.code == 4002
    _, welcome = connect(room_world.guest_ticket())
    assert welcome["type"] == "welcome"


@pytest.mark.parametrize(
    "first",
    [
        '{"type":"ping"}',
        "{",
        "",
        '{"type":"auth"}',
        '{"type":"auth","ticket":12345}',
        '{"type":"auth","ticket":"x","v":2}',
        '{"type":"auth","ticket":"x","can_rollback":"false"}',
    ],
)
def test_a_first_message_other_than_auth_is_closed_with_4000(room_world, first):
    with room_world.client.websocket_connect("/ws/signaling") as socket:
        socket.send_text(first)
        assert close_code(socket) == 4000


def test_a_binary_first_message_that_is_no_auth_is_closed_with_4000(room_world):
    with room_world.client.websocket_connect("/ws/signaling") as socket:
        socket.send_bytes(b"\x00\xff\xfe")
        assert close_code(socket) == 4000


def test_no_auth_within_the_auth_timeout_is_closed_with_4000(room_world, hub):
    configure(hub, auth_timeout=0.2)
    with room_world.client.websocket_connect("/ws/signaling") as socket:
        started = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(socket)
        assert (closed.value.code, closed.value.reason) == (4000, "auth_timeout")
        assert time.monotonic() - started < 2.0


def test_an_oversized_first_message_is_closed_with_4009(room_world, hub):
    with room_world.client.websocket_connect("/ws/signaling") as socket:
        socket.send_json({"type": "auth", "ticket": "x" * hub.config.max_message_bytes})
        assert close_code(socket) == 4009


# -- malformed input after the ticket --------------------------------------------------------


MALFORMED = [
    ("{", "message"),
    ("[]", "message"),
    ("null", "message"),
    ("42", "message"),
    ("", "message"),
    ('{"to":"guest"}', "message"),
    ('{"type":"dance"}', "message"),
    ('{"type":7}', "message"),
    ('{"type":"media","audio":"true","video":true}', "media.audio"),  # strict: not true
    ('{"type":"media","audio":1,"video":true}', "media.audio"),
    ('{"type":"chat","text":5}', "chat.text"),
    ('{"type":"chat","text":""}', "chat.text"),
    ('{"type":"offer","to":"guest"}', "offer.sdp"),
    ('{"type":"offer","to":"","sdp":"v=0"}', "offer.to"),
    ('{"type":"answer","to":["guest"],"sdp":"v=0"}', "answer.to"),
    ('{"type":"candidate","to":"guest","candidate":{"sdpMLineIndex":"0"}}', "candidate"),
    ('{"type":"admit","id":null}', "admit.id"),
    ('{"type":"ping"}{"type":"ping"}', "message"),
    ("NaN", "message"),
    ("[" * 5000, "message"),
    ('{"type":"chat","text":"\\ud800"}', "message"),  # a lone surrogate is no text
]


def test_malformed_input_gets_an_error_each_time_and_the_connection_lives_on(room_world, connect):
    host, _ = connect(room_world.host_ticket())

    for frame, where in MALFORMED:
        host.send_text(frame)
        error = receive(host)
        assert (error["type"], error["code"]) == ("error", "invalid_message"), frame
        assert error["message"].startswith(where), (frame, error)

    assert drain(host) == []


def test_binary_garbage_gets_an_error_each_time_and_the_connection_lives_on(room_world, connect):
    host, _ = connect(room_world.host_ticket())

    for frame in (b"\xff\xfe\x00", b"", b"{", "\u00fc".encode("latin-1"), b"\x80" * 100):
        host.send_bytes(frame)
        assert receive(host)["code"] == "invalid_message", frame

    assert drain(host) == []


def test_a_second_auth_is_an_error(room_world, connect):
    ticket = room_world.host_ticket()
    host, _ = connect(ticket)

    host.send_json({"type": "auth", "ticket": ticket})

    assert receive(host)["code"] == "already_authenticated"
    assert drain(host) == []


def test_unknown_fields_are_ignored(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    host.send_json({"type": "ping", "v": 2, "extra": {"nested": [1, 2]}})
    assert receive(host) == {"type": "pong"}


def test_a_message_over_the_size_cap_is_closed_with_4009(room_world, connect, hub):
    host, welcome = connect(room_world.host_ticket())
    assert welcome["max_message_bytes"] == hub.config.max_message_bytes

    host.send_json({"type": "chat", "text": "x" * hub.config.max_message_bytes})

    assert close_code(host) == 4009


def test_the_size_cap_counts_bytes_not_characters(room_world, connect, hub):
    configure(hub, max_message_bytes=1000)
    host, welcome = connect(room_world.host_ticket())
    assert welcome["max_message_bytes"] == 1000
    host.send_json({"type": "chat", "text": "ü" * 480})  # 985 bytes
    assert receive(host)["type"] == "chat"

    host.send_json({"type": "chat", "text": "ü" * 600})  # 600 characters, 1200 bytes

    assert close_code(host) == 4009


# -- floods and silence ----------------------------------------------------------------------


def test_flooding_is_rate_limited_and_then_closed_with_4011(room_world, connect, hub):
    configure(hub, rate=0.01, burst=5, max_strikes=3)
    host, _ = connect(room_world.host_ticket())

    for _ in range(5 + 4):  # the burst, then four strikes: one more than tolerated
        host.send_json({"type": "ping"})

    assert [receive(host)["type"] for _ in range(5)] == ["pong"] * 5
    error = receive(host)
    assert (error["type"], error["code"]) == ("error", "rate_limited")
    assert close_code(host) == 4011


def test_a_silent_connection_is_closed_with_4008(room_world, connect, hub):
    configure(hub, heartbeat_timeout=0.3)
    host, _ = connect(room_world.host_ticket())
    started = time.monotonic()

    assert close_code(host) == 4008
    assert 0.15 < time.monotonic() - started < 2.0


def test_pings_keep_a_connection_alive(room_world, connect, hub):
    configure(hub, heartbeat_timeout=0.6)
    host, _ = connect(room_world.host_ticket())

    for _ in range(6):  # 0.9 s in all
        time.sleep(0.15)
        host.send_json({"type": "ping"})
        assert receive(host) == {"type": "pong"}


# -- full rooms ------------------------------------------------------------------------------


def test_admitting_into_a_full_room_is_an_error(room_world, connect):
    limit_participants(room_world, 2)
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    host.send_json({"type": "admit", "id": "guest"})
    assert receive(guest)["type"] == "admitted"
    assert receive(host)["type"] == "peer-joined"
    interpreter_id, ticket = invite(room_world)
    interpreter, _ = connect(ticket)
    receive(host)

    host.send_json({"type": "admit", "id": interpreter_id})

    error = receive(host)
    assert (error["type"], error["code"], error["id"]) == ("error", "room_full", interpreter_id)
    assert drain(interpreter) == []  # still waiting, still connected


def test_a_host_joining_a_full_room_is_closed_with_4010(room_world, connect):
    limit_participants(room_world, 2)
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    host.send_json({"type": "admit", "id": "guest"})
    assert receive(guest)["type"] == "admitted"

    with pytest.raises(WebSocketDisconnect) as refused:
        connect(room_world.host_ticket(room_world.colleague))

    assert refused.value.code == 4010
    assert [m["type"] for m in drain(host)] == ["peer-joined"]  # the guest, nobody else


def test_too_many_waiting_is_closed_with_4010(room_world, connect, hub):
    configure(hub, max_waiting=1)
    host, _ = connect(room_world.host_ticket())
    connect(room_world.guest_ticket())
    assert receive(host)["type"] == "knock"
    _, ticket = invite(room_world)

    with pytest.raises(WebSocketDisconnect) as refused:
        connect(ticket)

    assert refused.value.code == 4010
    assert drain(host) == []  # no knock for the one turned away


# -- after all of it -------------------------------------------------------------------------


def test_abuse_in_one_room_leaves_the_server_and_other_rooms_working(room_world, connect, hub):
    configure(hub, rate=0.01, burst=30, max_strikes=5)
    host_b_ticket, guest_b_ticket = adhoc_room(room_world)
    host_b, _ = connect(host_b_ticket)
    guest_b, welcome = connect(guest_b_ticket)
    receive(host_b)
    host_b.send_json({"type": "admit", "id": welcome["id"]})
    assert receive(guest_b)["type"] == "admitted"
    assert receive(host_b)["type"] == "peer-joined"
    host_a, _ = connect(room_world.host_ticket())
    guest_ticket = room_world.guest_ticket()
    guest_a, _ = connect(guest_ticket)
    receive(host_a)
    host_a.send_json({"type": "admit", "id": "guest"})
    resume = receive(guest_a)["resume"]

    for frame in ("{", "[]", '{"type":"media","audio":"yes"}'):
        guest_a.send_text(frame)
    guest_a.send_bytes(b"\xff")
    guest_a.send_text("x" * (hub.config.max_message_bytes + 1))
    assert [receive(guest_a)["code"] for _ in range(4)] == ["invalid_message"] * 4
    assert close_code(guest_a) == 4009
    flooder, _ = connect(guest_ticket, resume=resume)  # let in before: inside at once
    for _ in range(40):
        flooder.send_json({"type": "chat", "text": "spam"})
    # The burst's echoes come back through the bus (Redis: another path), the refusal of the
    # 31st straight from the hub: their order may differ, their sum may not.
    answers = [receive(flooder) for _ in range(31)]
    assert sorted(a.get("code", a["type"]) for a in answers) == ["chat"] * 30 + ["rate_limited"]
    assert close_code(flooder) == 4011

    assert room_world.client.get("/healthz").status_code == 200
    host_b.send_json({"type": "chat", "text": "still here"})
    assert receive(guest_b)["text"] == "still here"
    assert [m["type"] for m in drain(host_b)] == ["chat"]  # the echo, nothing from room A
    _, again = connect(room_world.host_ticket(room_world.colleague))
    assert again["state"] == "inside"


# -- a reader too slow to keep up (the hub itself, with an in-memory WebSocket) ---------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_slow_reader_is_closed_with_4012_and_the_room_goes_on():
    gate = FakeGate()
    hub = Hub(InMemoryBus(time.time), gate, HubConfig(outbox_size=4, send_timeout=0.2))
    host, guest = await meeting(hub, gate)
    guest.wire.stalled = True  # stops reading: its writes block from now on

    for number in range(10):
        host.send({"type": "chat", "text": f"{number}"})
    texts = [(await host.receive())["text"] for _ in range(10)]

    assert texts == [f"{n}" for n in range(10)]  # the host is not held up
    assert await host.receive() == {"type": "peer-left", "id": "guest"}
    assert guest.wire.closed == 4012
    await finish(guest)
    assert await host.drain() == []
    newcomer = Client(hub, gate.issue("room-a", "invite-1"))
    assert (await newcomer.receive())["state"] == "waiting"
    assert (await host.receive())["type"] == "knock"
    await finish(host, newcomer)
    assert hub.connections == 0


@pytest.mark.anyio
async def test_a_reader_that_stalls_completely_is_gone_by_the_heartbeat_deadline():
    gate = FakeGate()
    config = HubConfig(outbox_size=4, send_timeout=0.2, heartbeat_timeout=0.6)
    hub = Hub(InMemoryBus(time.time), gate, config)
    host, guest = await meeting(hub, gate)
    guest.wire.stalled = guest.wire.stalled_close = True  # not even a close goes through
    started = time.monotonic()

    for number in range(10):
        host.send({"type": "chat", "text": f"{number}"})
        assert (await host.receive())["text"] == f"{number}"

    assert await host.receive() == {"type": "peer-left", "id": "guest"}
    assert time.monotonic() - started < 0.6 + 1.0
    await finish(guest, host)
    assert hub.connections == 0


@pytest.mark.anyio
async def test_a_full_outbox_closes_the_connection_instead_of_growing():
    gate = FakeGate()
    hub = Hub(InMemoryBus(time.time), gate, HubConfig(outbox_size=3, send_timeout=0.3))
    host, guest = await meeting(hub, gate)
    guest.wire.stalled = True

    for number in range(50):
        host.send({"type": "chat", "text": f"{number}"})
    for _ in range(50):
        await host.receive()

    # Closing at once, long before the blocked write times out; holding no more than allowed.
    peer = next(p for p in hub._conns.values() if p.id == "guest")
    assert peer.closing == 4012
    assert len(peer._outbox) <= 3 + 1  # the messages it may hold, and the close
    assert guest.wire.closed is None
    await finish(guest, host)


@pytest.mark.anyio
async def test_a_removed_participant_leaves_the_room_without_completing_the_close():
    gate = FakeGate()
    hub = Hub(InMemoryBus(time.time), gate, HubConfig(heartbeat_timeout=30.0))
    host, guest = await meeting(hub, gate)
    guest.wire.ignores_close = True

    host.send({"type": "remove", "id": "guest"})

    assert await host.receive(timeout=2.0) == {"type": "peer-left", "id": "guest"}
    assert guest.wire.closed == 4013
    await finish(host)
    assert hub.connections == 0


class FailingBus(InMemoryBus):
    """A bus whose publishing fails once `broken` is set, like Redis going away."""

    broken = False

    async def publish(self, room: str, event: dict[str, Any]) -> None:
        if self.broken:
            raise ConnectionError("bus unavailable")
        await super().publish(room, event)


@pytest.mark.anyio
async def test_a_failing_bus_answers_unavailable_and_keeps_the_connection(caplog):
    gate = FakeGate()
    bus = FailingBus(time.time)
    hub = Hub(bus, gate, HubConfig())
    host, guest = await meeting(hub, gate)
    bus.broken = True

    guest.send({"type": "chat", "text": "hallo"})

    assert (await guest.receive())["code"] == "unavailable"
    assert "chat in room room-a failed" in caplog.text
    bus.broken = False
    guest.send({"type": "chat", "text": "wieder da"})
    assert (await host.receive())["text"] == "wieder da"
    await finish(host, guest)


# -- helpers: through the app ----------------------------------------------------------------


def limit_participants(room_world, limit: int) -> None:
    """As `max_room_participants` in the settings would."""
    rooms = room_world.client.app.state.container.rooms
    rooms.config = dataclasses.replace(rooms.config, max_participants=limit)


def invite(room_world, label: str = "Dolmetscherin") -> tuple[str, str]:
    """An invitation to the booking's room: the participant id and a ticket for it."""
    response = room_world.client.post(
        f"/api/v1/rooms/{room_world.room_id()}/invites",
        headers=room_world.staff_headers(room_world.advisor),
        json={"label": label},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return f"invite-{body['id']}", room_world.guest_ticket(body["url"].rsplit("/", 1)[1])


def adhoc_room(room_world) -> tuple[str, str]:
    """A second room, ad hoc: a host and a guest ticket for it."""
    headers = room_world.staff_headers(room_world.advisor)
    response = room_world.client.post("/api/v1/rooms", headers=headers, json={"title": "B"})
    assert response.status_code == 201, response.text
    body = response.json()
    host = room_world.client.post(f"/api/v1/rooms/{body['room']['id']}/tickets", headers=headers)
    assert host.status_code == 201, host.text
    return host.json()["ticket"], room_world.guest_ticket(body["guest"]["url"].rsplit("/", 1)[1])
