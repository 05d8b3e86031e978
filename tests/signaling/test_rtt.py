"""Real-time text: drafts (`typing`) through the app's real hub and WebSocket endpoint, on the
in-memory bus, and on Redis when SPRECHSTUNDE_TEST_REDIS_URL is set."""

from __future__ import annotations

import dataclasses

import pytest

from tests.signaling.harness import close_code, drain, receive
from tests.signaling.test_room_flow import admit, invite


def test_a_draft_reaches_the_others_inside_and_not_the_sender(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket(name="Erika"))
    receive(host)
    admit(host, guest, "guest")
    interpreter_id, ticket = invite(room_world)
    interpreter, _ = connect(ticket)
    receive(host)  # knock
    admit(host, interpreter, interpreter_id)
    receive(guest)  # peer-joined: the interpreter

    guest.send_json({"type": "typing", "text": "Guten T"})

    expected = {"type": "typing", "from": "guest", "name": "Erika", "text": "Guten T"}
    assert receive(host) == expected
    assert receive(interpreter) == expected
    assert drain(guest) == []


def test_drafts_arrive_in_order_then_the_chat_commits_them(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket(name="Erika"))
    receive(host)
    admit(host, guest, "guest")

    for text in ("G", "Gu", "Guten Tag", "", "Hallo"):
        guest.send_json({"type": "typing", "text": text})
    guest.send_json({"type": "chat", "text": "Hallo"})

    received = [receive(host) for _ in range(6)]
    assert [m["text"] for m in received[:5]] == ["G", "Gu", "Guten Tag", "", "Hallo"]
    assert (received[5]["type"], received[5]["text"]) == ("chat", "Hallo")
    assert [m["type"] for m in drain(guest)] == ["chat"]  # only the commit comes back


def test_a_waiting_guest_cannot_send_drafts(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)  # knock

    guest.send_json({"type": "typing", "text": "Hallo?"})

    assert receive(guest)["code"] == "not_admitted"
    assert drain(host) == []


def test_a_waiting_guest_hears_no_drafts(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")
    _, ticket = invite(room_world)
    interpreter, _ = connect(ticket)
    receive(host)  # knock

    host.send_json({"type": "typing", "text": "Einen Moment"})

    assert receive(guest)["text"] == "Einen Moment"
    assert drain(interpreter) == []


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        ('{"type":"typing","text":5}', "typing.text"),
        ('{"type":"typing","text":null}', "typing.text"),
        ('{"type":"typing"}', "typing.text"),
        ('{"type":"typing","text":["a"]}', "typing.text"),
        ('{"type":"typing","text":"' + "x" * 2001 + '"}', "typing.text"),
        ('{"type":"typing","text":"\\ud800"}', "message"),  # a lone surrogate is no text
    ],
    ids=["number", "null", "missing", "list", "too-long", "surrogate"],
)
def test_an_invalid_draft_is_an_error_and_goes_nowhere(room_world, connect, frame, where):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")

    guest.send_text(frame)

    error = receive(guest)
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    assert error["message"].startswith(where), error
    assert drain(host) == []


def test_the_longest_draft_and_the_empty_one_are_relayed(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")

    guest.send_json({"type": "typing", "text": "ü" * 2000})
    guest.send_json({"type": "typing", "text": ""})

    assert receive(host)["text"] == "ü" * 2000
    assert receive(host)["text"] == ""


def test_drafts_count_against_the_rate_limit(room_world, connect):
    hub = room_world.client.app.state.hub
    hub.config = dataclasses.replace(hub.config, rate=0.01, burst=10, max_strikes=3)
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")

    for number in range(15):
        guest.send_json({"type": "typing", "text": str(number)})

    assert [receive(host)["text"] for _ in range(10)] == [str(n) for n in range(10)]
    assert receive(guest)["code"] == "rate_limited"
    assert close_code(guest) == 4011
    assert receive(host) == {"type": "peer-left", "id": "guest"}  # and no draft beyond the burst
