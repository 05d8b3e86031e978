"""Hypothesis throws everything at the signaling server: random JSON, message-shaped objects
with random fields, raw text and bytes, sent after authenticating by a participant of room A
while room B (whose participants have the same ids) is in session. Whatever comes in, the
server answers with nothing, an `error`, its ordinary answers or a clean close; nothing
reaches room B; and afterwards the server still serves pages, connections and both rooms.

The hub is fuzzed directly, with an in-memory WebSocket and gate (hundreds of cases a second);
the app through its real endpoint, with fewer cases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from signaling.bus import InMemoryBus
from signaling.hub import Hub, HubConfig
from signaling.protocol import CloseCode
from tests.signaling.harness import (
    Client,
    FakeGate,
    drain,
    finish,
    meeting,
    receive,
)

ERROR_CODES = {
    "invalid_message",
    "rate_limited",
    "not_admitted",
    "forbidden",
    "unknown_peer",
    "room_full",
    "already_authenticated",
}
CLOSE_CODES = {int(code) for code in CloseCode}

KEYS = st.sampled_from(["type", "to", "id", "text", "candidate", "v"]) | st.text(max_size=4)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right kind, sometimes any JSON at all."""
    return st.one_of(valid, valid, json_values)


def messages(ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like client messages: mostly a known type with its fields (each often
    right, sometimes of any kind), sometimes any type at all; and unknown fields."""
    peer = either(st.sampled_from(ids) | st.text(max_size=70))
    switch = either(st.booleans())
    text = either(st.text(min_size=1, max_size=40))
    candidate = st.fixed_dictionaries(
        {"candidate": either(st.text(max_size=40))},
        optional={
            "sdpMid": either(st.none() | st.text(max_size=4)),
            "sdpMLineIndex": either(st.integers(-1, 70)),
            "usernameFragment": either(st.text(max_size=8)),
        },
    )
    required: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "auth": {"ticket": text},
        "offer": {"to": peer, "sdp": text},
        "answer": {"to": peer, "sdp": text},
        "candidate": {"to": peer, "candidate": either(st.none() | candidate)},
        "media": {"audio": switch, "video": switch},
        "chat": {"text": text},
        "ping": {},
        "leave": {},
        "admit": {"id": peer},
        "deny": {"id": peer},
        "remove": {"id": peer},
        "end": {},
    }
    optional = {"to": peer, "id": peer, "screen": switch, "v": either(st.just(1))}
    typed = st.one_of(
        *(
            st.fixed_dictionaries(
                {"type": st.just(kind), **fields},
                optional={k: v for k, v in optional.items() if k not in fields},
            )
            for kind, fields in required.items()
        )
    )
    untyped = st.fixed_dictionaries({"type": json_values}, optional={"to": peer, "text": text})
    extra = st.dictionaries(KEYS, json_values, max_size=2)
    shaped = st.one_of(typed, typed, typed, untyped)
    return st.tuples(shaped, extra).map(lambda pair: {**pair[1], **pair[0]})


def valid(ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed client messages, to or about the participants of the rooms."""
    peer = st.sampled_from(ids)
    text = st.text(min_size=1, max_size=20)
    ice = st.none() | st.fixed_dictionaries({"candidate": text, "sdpMLineIndex": st.just(0)})
    return st.one_of(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["offer", "answer"]), "to": peer, "sdp": text}
        ),
        st.fixed_dictionaries({"type": st.just("candidate"), "to": peer, "candidate": ice}),
        st.fixed_dictionaries(
            {"type": st.just("media"), "audio": st.booleans(), "video": st.booleans()}
        ),
        st.fixed_dictionaries({"type": st.just("chat"), "text": text}),
        st.fixed_dictionaries({"type": st.sampled_from(["admit", "deny", "remove"]), "id": peer}),
        st.sampled_from([{"type": "ping"}, {"type": "leave"}, {"type": "end"}]),
    )


def frames(ids: list[str]) -> st.SearchStrategy[str | bytes]:
    """One WebSocket frame: text, or bytes for a binary frame."""
    shaped = messages(ids).map(json.dumps)
    return st.one_of(
        valid(ids).map(json.dumps),
        valid(ids).map(json.dumps),
        shaped,
        shaped,
        messages(ids).map(lambda message: json.dumps(message).encode()),
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(65_000, 70_000).map(lambda size: '{"type":"chat","text":"' + "x" * size),
    )


# -- the hub, in memory ----------------------------------------------------------------------

SENDERS = {
    # who sends, and what they may hear back from their own doing
    "guest": {"error", "pong", "chat"},
    "waiting": {"error", "pong"},
    "host": {"error", "pong", "chat", "peer-joined", "peer-left", "waiting-left", "ended"},
}
IDS = ["staff-1", "guest", "invite-7", "invite-8", "nobody", ""]


@settings(max_examples=200, deadline=None)
@given(sender=st.sampled_from(sorted(SENDERS)), sent=st.lists(frames(IDS), max_size=6))
def test_the_hub_survives_anything_and_keeps_rooms_apart(sender, sent):
    asyncio.run(asyncio.wait_for(hub_scenario(sender, sent), 10))


async def hub_scenario(sender_role: str, sent: list[str | bytes]) -> None:
    gate = FakeGate()
    hub = Hub(InMemoryBus(time.time), gate, HubConfig())
    a_host, a_guest = await meeting(hub, gate, "room-a")
    a_waiting = Client(hub, gate.issue("room-a", "invite-7"))
    assert (await a_waiting.receive())["state"] == "waiting"
    assert (await a_host.receive())["type"] == "knock"
    b_host, b_guest = await meeting(hub, gate, "room-b")  # the same participant ids
    room_a = {"host": a_host, "guest": a_guest, "waiting": a_waiting}
    me = room_a[sender_role]

    for frame in sent:
        me.wire.inbox.put_nowait(frame)
    await me.settle()
    heard = me.unread()

    assert {m["type"] for m in heard} <= SENDERS[sender_role], heard
    assert {m["code"] for m in heard if m["type"] == "error"} <= ERROR_CODES
    assert me.wire.closed is None or me.wire.closed in CLOSE_CODES
    for other in room_a.values():
        if other is not me:
            for message in other.unread():
                assert message.get("from", me.id) == me.id, message
    for client in (*room_a.values(), b_host, b_guest):
        assert not client.task.done() or client.task.exception() is None
        assert_consistent_view(client)
    assert b_host.unread() == []
    assert b_guest.unread() == []

    b_host.send({"type": "chat", "text": "still here"})
    assert (await b_guest.receive())["text"] == "still here"
    newcomer = Client(hub, gate.issue("room-a", "invite-8"))
    first = await newcomer.receive()
    assert (first or {}).get("type") == "welcome" or newcomer.wire.closed == 4005  # if ended
    await finish(*room_a.values(), b_host, b_guest, newcomer)
    assert hub.connections == 0


# -- the app, through its endpoint -----------------------------------------------------------


def test_the_app_survives_anything_a_guest_sends(room_world, connect):
    hub = room_world.client.app.state.hub
    # The rate limit has tests of its own; here every frame is to be read, not dropped.
    hub.config = dataclasses.replace(hub.config, rate=1e6, burst=1e6)
    host_id = f"staff-{room_world.advisor.id}"
    host_b_ticket, guest_b_ticket = adhoc_room(room_world)
    host_b, _ = connect(host_b_ticket)  # the same advisor, in room B
    guest_b, welcome_b = connect(guest_b_ticket)
    receive(host_b)
    admit(host_b, guest_b, welcome_b["id"])
    host_a, _ = connect(room_world.host_ticket())
    ticket = room_world.guest_ticket()
    guest_a, _ = connect(ticket)
    receive(host_a)
    resume = admit(host_a, guest_a, "guest")
    ids = [host_id, "guest", welcome_b["id"], "nobody"]
    state = {"guest": guest_a}

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(sent=st.lists(frames(ids), max_size=6))
    def fuzz(sent: list[str | bytes]) -> None:
        guest = state["guest"]
        for frame in sent:
            if isinstance(frame, bytes):
                guest.send_bytes(frame)
            else:
                guest.send_text(frame)
        barrier = {"type": "chat", "text": secrets.token_hex(8)}
        guest.send_json(barrier)
        heard, code = until(guest, barrier)
        assert {m["type"] for m in heard} <= SENDERS["guest"], heard
        assert {m["code"] for m in heard if m["type"] == "error"} <= ERROR_CODES
        if code is None:
            hosted, _ = until(host_a, barrier)  # after all the guest's doing: the same order
        else:
            assert code in CLOSE_CODES
            hosted = drain(host_a)
            state["guest"], welcome = connect(ticket, resume=resume)  # inside at once
            assert welcome["state"] == "inside"
            hosted += [receive(host_a)]  # the new connection joins
        for message in hosted:
            assert message["type"] in {"offer", "answer", "candidate", "media", "chat"} | {
                "peer-left",
                "peer-joined",
            }, message
            assert message.get("from", "guest") == "guest"
            assert message.get("id", message.get("peer", {}).get("id", "guest")) == "guest"

    fuzz()

    assert drain(host_b) == []
    assert drain(guest_b) == []
    assert room_world.client.get("/healthz").status_code == 200
    host_b.send_json({"type": "chat", "text": "still here"})
    assert receive(guest_b)["text"] == "still here"
    state["guest"].send_json({"type": "chat", "text": "and here"})
    heard, code = until(host_a, {"text": "and here"})
    assert code is None
    assert {m["type"] for m in heard} <= {"peer-left", "peer-joined"}  # the last reconnect
    _, welcome = connect(room_world.host_ticket(room_world.colleague))
    assert welcome["state"] == "inside"


# -- helpers: through the app ----------------------------------------------------------------


def until(
    socket: WebSocketTestSession, barrier: dict[str, Any]
) -> tuple[list[dict[str, Any]], int | None]:
    """What `socket` hears before the chat `barrier`, or before its close, with the code."""
    messages: list[dict[str, Any]] = []
    try:
        while (message := receive(socket)).get("text") != barrier["text"]:
            messages.append(message)
            assert len(messages) < 100
    except WebSocketDisconnect as closed:
        socket.close()  # the client's side of the closing handshake
        return messages, closed.code
    return messages, None


def admit(host: WebSocketTestSession, guest: WebSocketTestSession, member_id: str) -> str:
    """Let the guest in; its resume key."""
    host.send_json({"type": "admit", "id": member_id})
    admitted = receive(guest)
    assert admitted["type"] == "admitted"
    assert receive(host)["type"] == "peer-joined"
    return str(admitted["resume"])


def adhoc_room(room_world) -> tuple[str, str]:
    """A second room, ad hoc: a host and a guest ticket for it."""
    headers = room_world.staff_headers(room_world.advisor)
    response = room_world.client.post("/api/v1/rooms", headers=headers, json={"title": "B"})
    assert response.status_code == 201, response.text
    body = response.json()
    host = room_world.client.post(f"/api/v1/rooms/{body['room']['id']}/tickets", headers=headers)
    assert host.status_code == 201, host.text
    return host.json()["ticket"], room_world.guest_ticket(body["guest"]["url"].rsplit("/", 1)[1])


# -- helpers: the hub with an in-memory WebSocket --------------------------------------------


def assert_consistent_view(client: Client) -> None:
    """Everything the client heard adds up: admitted only while waiting, and nobody joins
    twice without leaving in between (nobody connects anew while the fuzz runs)."""
    waiting, inside = False, set[str]()
    for message in client.wire.sent:
        match message["type"]:
            case "welcome":
                waiting = message["state"] == "waiting"
                inside = {p["id"] for p in message["participants"]}
            case "admitted":
                assert waiting, f"{client.id} admitted while inside"
                waiting, inside = False, {p["id"] for p in message["participants"]}
            case "peer-joined":
                assert not waiting, f"{client.id} hears of others while waiting"
                assert message["peer"]["id"] not in inside, f"{client.id}: joined twice"
                inside.add(message["peer"]["id"])
            case "peer-left":
                assert message["id"] in inside, f"{client.id}: left before joining"
                inside.discard(message["id"])
