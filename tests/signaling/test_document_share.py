"""The documents panel's `doc` message: strict validation, relayed to the others inside and not
back to its sender, refused to those waiting and to extra guests, counted by the rate limit,
and the room's shared view given to whoever joins, is let in or reconnects later; in one
process and, with Redis, across two."""

from __future__ import annotations

import json
import os
import time

import pytest

from rooms.access import RoomRole
from signaling import protocol
from signaling.bus import InMemoryBus
from signaling.core import Core, HubConfig
from signaling.effects import Publish, Send, Share
from signaling.events import Broadcast
from signaling.hub import Hub
from tests.signaling.harness import Client, FakeGate, finish, meeting, two_processes
from tests.signaling.test_protocol import EXTRA, HOST, ICE, NOW, WAITING, WALL, member, room, seat

REDIS_URL = os.environ.get("SPRECHSTUNDE_TEST_REDIS_URL")


def doc(action: str = "page", document: object = 7, page: object = 2, **extra: object) -> str:
    return json.dumps(
        {"type": "doc", "action": action, "document": document, "page": page, **extra}
    )


# -- validation --------------------------------------------------------------------------------


def test_a_doc_message_is_parsed():
    message = protocol.parse(doc("pointer", x=0.25, y=1))

    assert message == protocol.Doc(type="doc", action="pointer", document=7, page=2, x=0.25, y=1.0)
    assert protocol.parse(doc("close", page=1)).action == "close"


@pytest.mark.parametrize(
    "frame",
    [
        doc(action="zoom"),
        doc(document=0),
        doc(document=2**31),
        doc(page=0),
        doc(page=10_001),
        doc(document="7"),  # strict: no strings for numbers
        doc(page=True),
        doc(page=2.0),
        doc("pointer", x=1.5, y=0.5),
        doc("pointer", x=-0.1, y=0.5),
        doc("pointer", x="0.5", y=0.5),
        doc("pointer", x=0.5),  # a pointer needs both
        doc("page", x=0.5, y=0.5),  # and only a pointer has a position
        '{"type":"doc","action":"pointer","document":7,"page":1,"x":NaN,"y":0.5}',
        '{"type":"doc","action":"pointer","document":7,"page":1,"x":Infinity,"y":0.5}',
        '{"type":"doc","action":"open"}',
    ],
)
def test_garbage_is_an_invalid_message(frame):
    with pytest.raises(protocol.InvalidMessage):
        protocol.parse(frame)


def test_garbage_gets_the_protocol_error_and_the_connection_stays():
    core = Core(HubConfig())
    guest = seat("guest")

    [answer] = core.receive(guest, doc(page=-1), NOW)

    assert isinstance(answer, Send)
    assert answer.message["type"] == "error"
    assert answer.message["code"] == "invalid_message"
    assert answer.message["message"].startswith("doc.page:")


# -- the rules ---------------------------------------------------------------------------------


def test_a_page_turn_goes_to_the_others_and_becomes_the_rooms_view():
    core = Core(HubConfig())
    guest = seat("guest")
    message = protocol.parse(doc("page", page=3))

    effects = core.handle(room(guest), guest, message, NOW, WALL)

    assert effects == [
        Share({"document": 7, "page": 3}),
        Publish(
            Broadcast(
                {"type": "doc", "from": "guest", "action": "page", "document": 7, "page": 3},
                skip="guest",
            )
        ),
    ]


def test_a_pointer_is_shared_with_its_position_and_close_forgets_the_view():
    core = Core(HubConfig())
    host = seat("staff-1", HOST)

    pointer = core.handle(
        room(host), host, protocol.parse(doc("pointer", x=0.5, y=0.25)), NOW, WALL
    )
    closed = core.handle(room(host), host, protocol.parse(doc("close")), NOW, WALL)

    assert pointer[0] == Share({"document": 7, "page": 2, "x": 0.5, "y": 0.25})
    assert closed[0] == Share(None)
    assert isinstance(closed[1], Publish)
    assert closed[1].event.message["action"] == "close"


def test_those_waiting_and_extra_guests_do_not_steer_the_panel():
    core = Core(HubConfig())
    waiting = seat("guest", presence=WAITING)
    interpreter = seat("invite-1", EXTRA)

    [refused] = core.handle(room(waiting), waiting, protocol.parse(doc()), NOW, WALL)
    [forbidden] = core.handle(room(interpreter), interpreter, protocol.parse(doc()), NOW, WALL)

    assert isinstance(refused, Send)
    assert refused.message["code"] == "not_admitted"
    assert isinstance(forbidden, Send)
    assert forbidden.message["code"] == "forbidden"


def test_whoever_comes_in_later_sees_the_rooms_view():
    core = Core(HubConfig())
    view = {"document": 7, "page": 4}
    host = seat("staff-1", HOST)
    late = seat("guest")
    waiting = seat("guest", presence=WAITING)

    [welcome, _] = core.welcome(late, [member(host), member(late)], ICE, view)
    [waiting_welcome, _] = core.welcome(waiting, [member(host), member(waiting)], ICE, view)
    [admitted, _] = core.let_in(late, [member(host), member(late)], ICE, view)
    [plain, _] = core.welcome(host, [member(host)], ICE, None)

    assert isinstance(welcome, Send)
    assert welcome.message["document"] == view
    assert isinstance(waiting_welcome, Send)
    assert "document" not in waiting_welcome.message
    assert isinstance(admitted, Send)
    assert admitted.message["document"] == view
    assert isinstance(plain, Send)
    assert "document" not in plain.message


def test_doc_messages_count_against_the_rate_limit():
    core = Core(HubConfig(rate=0.0, burst=2.0))
    guest = seat("guest", config=HubConfig(rate=0.0, burst=2.0))

    first, second = (core.receive(guest, doc(), NOW) for _ in range(2))
    [third] = core.receive(guest, doc(), NOW)

    assert isinstance(first, protocol.Doc)
    assert isinstance(second, protocol.Doc)
    assert isinstance(third, Send)
    assert third.message["code"] == "rate_limited"


# -- through the hub ---------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_others_see_the_step_the_sender_does_not_and_a_reconnect_is_in_step():
    gate = FakeGate()
    hub = Hub(InMemoryBus(time.time), gate)
    host, guest = await meeting(hub, gate)

    host.send(json.loads(doc("open", page=1)))
    guest.send(json.loads(doc("page", page=2)))
    host.send(json.loads(doc("pointer", page=2, x=0.1, y=0.9)))
    await guest.settle()
    await host.settle()

    assert [(m["from"], m["action"], m["page"]) for m in guest.unread()] == [
        ("staff-1", "open", 1),
        ("staff-1", "pointer", 2),
    ]
    assert [(m["from"], m["action"], m["page"]) for m in host.unread()] == [("guest", "page", 2)]
    # The guest's browser reloads: back inside with its resume key, and in step.
    back = Client(hub, gate.issue("room-a", "guest"), resume=guest.wire.sent[1]["resume"])
    welcome = await back.receive()
    assert welcome is not None
    assert welcome["state"] == "inside"
    assert welcome["document"] == {"document": 7, "page": 2, "x": 0.1, "y": 0.9}
    host.send(json.loads(doc("close")))
    await host.settle()
    late = Client(hub, gate.issue("room-a", "staff-2", RoomRole.HOST))
    welcome = await late.receive()
    assert welcome is not None
    assert "document" not in welcome
    await finish(host, back, late)


@pytest.mark.anyio
@pytest.mark.skipif(not REDIS_URL, reason="needs SPRECHSTUNDE_TEST_REDIS_URL")
async def test_across_two_processes_through_redis():
    gate = FakeGate()
    async with two_processes(gate) as (first, second, _):
        host = Client(first, gate.issue("room-a", "staff-1", RoomRole.HOST))
        assert (await host.receive())["type"] == "welcome"
        host.send(json.loads(doc("open", page=1)))
        host.send(json.loads(doc("page", page=5)))
        await host.settle()
        colleague = Client(second, gate.issue("room-a", "staff-2", RoomRole.HOST))
        welcome = await colleague.receive()
        assert welcome is not None
        assert welcome["document"] == {"document": 7, "page": 5}
        assert (await host.receive())["type"] == "peer-joined"

        colleague.send(json.loads(doc("page", page=6)))
        step = await host.receive()

        assert step == {
            "type": "doc",
            "from": "staff-2",
            "action": "page",
            "document": 7,
            "page": 6,
        }
        await finish(host, colleague)
