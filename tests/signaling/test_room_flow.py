"""The waiting room, admission and relaying through the real WebSocket endpoint."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect


def test_host_is_welcomed_inside_with_nobody_waiting(room_world, connect):
    _, welcome = connect(room_world.host_ticket())
    assert welcome["type"] == "welcome"
    assert welcome["role"] == "host"
    assert welcome["state"] == "inside"
    assert welcome["participants"] == []
    assert welcome["waiting"] == []


def test_guest_waits_and_host_sees_the_knock(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    _guest, welcome = connect(room_world.guest_ticket(name="Erika"))
    assert welcome["state"] == "waiting"
    assert welcome["participants"] == []
    knock = host.receive_json()
    assert knock["type"] == "knock"
    assert knock["participant"]["name"] == "Erika"
    assert knock["participant"]["id"] == "guest"


def test_admitted_guest_meets_the_host(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket(), can_rollback=False)
    host.receive_json()  # knock
    host.send_json({"type": "admit", "id": "guest"})
    admitted = guest.receive_json()
    assert admitted["type"] == "admitted"
    assert [p["id"] for p in admitted["participants"]] == [f"staff-{room_world.advisor.id}"]
    assert admitted["participants"][0]["polite"] is False  # cannot roll back: never polite
    joined = host.receive_json()
    assert joined["type"] == "peer-joined"
    assert joined["peer"]["id"] == "guest"
    assert joined["polite"] is True

    guest.send_json({"type": "offer", "to": f"staff-{room_world.advisor.id}", "sdp": "v=0"})
    offer = host.receive_json()
    assert offer == {"type": "offer", "sdp": "v=0", "from": "guest"}


def test_guest_arriving_before_the_host_still_waits(room_world, connect):
    _guest, welcome = connect(room_world.guest_ticket())
    assert welcome["state"] == "waiting"
    _host, host_welcome = connect(room_world.host_ticket())
    assert [w["id"] for w in host_welcome["waiting"]] == ["guest"]
    assert host_welcome["participants"] == []


def test_denied_guest_is_closed_and_cannot_knock_again_with_the_ticket(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    ticket = room_world.guest_ticket()
    guest, _ = connect(ticket)
    host.receive_json()
    host.send_json({"type": "deny", "id": "guest"})
    with pytest.raises(WebSocketDisconnect) as closed:
        guest.receive_json()
    assert closed.value.code == 4007
    with pytest.raises(WebSocketDisconnect) as refused:
        connect(ticket)
    assert refused.value.code == 4003
