"""The ICE servers a participant is given come from the settings, with fresh TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

TURN = "turn:turn.example.org:3478?transport=udp"
SECRET = "coturn-shared-secret"


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={
            "turn_urls": [TURN],
            "turn_secret": SECRET,
            "stun_urls": ["stun:stun.example.org:3478"],
            "turn_ttl_seconds": 600,
        }
    )


def test_the_host_gets_stun_and_turn_with_time_limited_credentials(room_world, connect):
    _, welcome = connect(room_world.host_ticket())
    stun, turn = welcome["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == [TURN]
    expiry, participant = turn["username"].split(":")
    assert int(expiry) == int(room_world.clock.now.timestamp()) + 600
    assert participant.endswith(f".staff-{room_world.advisor.id}")
    expected = hmac.new(SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(expected).decode()


def test_a_waiting_guest_gets_no_ice_servers_until_admitted(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, welcome = connect(room_world.guest_ticket())
    assert welcome["ice_servers"] == []
    host.receive_json()  # the knock
    host.send_json({"type": "admit", "id": "guest"})
    admitted = guest.receive_json()
    assert [s["urls"] for s in admitted["ice_servers"]] == [["stun:stun.example.org:3478"], [TURN]]
    assert admitted["ice_servers"][1]["username"].endswith(".guest")


def test_the_connection_test_peer_uses_the_same_servers(app):
    servers = app.state.echo._ice_servers()
    assert [s.urls for s in servers] == [["stun:stun.example.org:3478"], [TURN]]
    assert servers[1].username.endswith(":connection-test")
