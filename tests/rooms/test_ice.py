from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from rooms.ice import IceConfig, IceServer, IceServers, turn_credentials
from tests.conftest import MONDAY, Clock

SECRET = "north-wind"
TURN = ("turn:turn.example.org:3478?transport=udp", "turn:turn.example.org:3478?transport=tcp")
STUN = ("stun:turn.example.org:3478",)


def test_turn_credentials_match_a_vector_computed_with_openssl() -> None:
    # printf '%s' '1925456400:staff-7' | openssl dgst -sha1 -hmac 'north-wind' -binary | base64
    expires = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)

    assert turn_credentials(SECRET, "staff-7", expires) == (
        "1925456400:staff-7",
        "hKMdi153KeogsQtOYbomxLixH44=",
    )


def test_turn_credential_is_base64_hmac_sha1_of_the_username() -> None:
    username, credential = turn_credentials(SECRET, "guest", MONDAY)

    expected = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected


def test_turn_username_is_unix_expiry_then_participant() -> None:
    expires = datetime(2031, 1, 6, 9, 0, 59, 900_000, tzinfo=UTC)

    username, _ = turn_credentials(SECRET, "invite-3", expires)

    assert username == f"{int(expires.timestamp())}:invite-3"
    assert username.split(":", 1) == ["1925456459", "invite-3"]


def test_turn_credentials_refuse_a_naive_expiry() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        turn_credentials(SECRET, "guest", datetime(2031, 1, 6, 9, 0))


def test_turn_credentials_refuse_a_participant_with_the_separator() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        turn_credentials(SECRET, "room-1:guest", MONDAY)


def test_no_servers_by_default(clock: Clock) -> None:
    assert IceServers(IceConfig(), clock).for_participant("guest") == []


def test_turn_urls_without_a_secret_give_no_turn_server(clock: Clock) -> None:
    assert IceServers(IceConfig(turn_urls=TURN), clock).for_participant("guest") == []


def test_stun_only_gives_one_server_without_credentials(clock: Clock) -> None:
    servers = IceServers(IceConfig(stun_urls=STUN), clock).for_participant("guest")

    assert servers == [IceServer(urls=STUN)]


def test_turn_server_carries_credentials_expiring_after_the_ttl(clock: Clock) -> None:
    config = IceConfig(stun_urls=STUN, turn_urls=TURN, turn_secret=SECRET)

    stun, turn = IceServers(config, clock).for_participant("staff-7")

    assert stun == IceServer(urls=STUN)
    assert turn.urls == TURN
    assert (turn.username, turn.credential) == turn_credentials(
        SECRET, "staff-7", MONDAY + timedelta(hours=2)
    )
    assert turn.username == "1925456400:staff-7"


def test_turn_ttl_is_configurable(clock: Clock) -> None:
    config = IceConfig(turn_urls=TURN, turn_secret=SECRET, turn_ttl=timedelta(minutes=10))

    [turn] = IceServers(config, clock).for_participant("guest")

    assert turn.username == f"{int((MONDAY + timedelta(minutes=10)).timestamp())}:guest"


def test_credentials_are_minted_fresh_on_each_call(clock: Clock) -> None:
    servers = IceServers(IceConfig(turn_urls=TURN, turn_secret=SECRET), clock)
    [before] = servers.for_participant("guest")

    clock.advance(minutes=30)
    [after] = servers.for_participant("guest")

    assert after.username != before.username
    assert after.credential != before.credential


def test_participant_with_the_separator_is_refused_even_without_turn(clock: Clock) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        IceServers(IceConfig(stun_urls=STUN), clock).for_participant("room-1:guest")


def test_non_positive_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        IceConfig(turn_ttl=timedelta(0))


def test_as_dict_has_the_rtc_ice_server_shape() -> None:
    server = IceServer(urls=TURN, username="1925456400:guest", credential="c2VjcmV0")

    assert server.as_dict() == {
        "urls": list(TURN),
        "username": "1925456400:guest",
        "credential": "c2VjcmV0",
    }


def test_as_dict_omits_absent_credentials() -> None:
    assert IceServer(urls=STUN).as_dict() == {"urls": list(STUN)}
