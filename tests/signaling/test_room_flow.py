"""The waiting room, admission and relaying through the real WebSocket endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.signaling.harness import close_code, drain, receive


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


# -- three participants ----------------------------------------------------------------------


def test_interpreter_is_admitted_and_everyone_meets_everyone_once(room_world, connect):
    host_id = f"staff-{room_world.advisor.id}"
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket(), can_rollback=False)  # aiortc-like
    assert receive(host)["participant"]["id"] == "guest"
    interpreter_id, ticket = invite(room_world, "Dolmetscherin")
    interpreter, welcome = connect(ticket)
    assert welcome["state"] == "waiting"
    assert welcome["role"] == "extra_guest"
    knock = receive(host)
    assert knock["participant"] == {
        "id": interpreter_id,
        "name": "Dolmetscherin",
        "role": "extra_guest",
        "media": {},
    }

    guest_admitted, host_sees_guest = admit(host, guest, "guest")
    interpreter_admitted, host_sees_interpreter = admit(host, interpreter, interpreter_id)
    guest_sees_interpreter = receive(guest)

    assert guest_sees_interpreter["type"] == "peer-joined"
    assert guest_sees_interpreter["peer"]["id"] == interpreter_id
    assert {p["id"] for p in interpreter_admitted["participants"]} == {host_id, "guest"}
    views = {
        host_id: {
            "guest": host_sees_guest["polite"],
            interpreter_id: host_sees_interpreter["polite"],
        },
        "guest": {
            **{p["id"]: p["polite"] for p in guest_admitted["participants"]},
            interpreter_id: guest_sees_interpreter["polite"],
        },
        interpreter_id: {p["id"]: p["polite"] for p in interpreter_admitted["participants"]},
    }
    assert_one_polite_per_pair(views)
    assert views["guest"] == {host_id: False, interpreter_id: False}  # cannot roll back
    assert views[host_id] == {"guest": True, interpreter_id: True}  # browsers: first is polite
    for socket in (host, guest, interpreter):
        assert drain(socket) == []  # nobody heard of anybody twice


def test_waiting_interpreter_hears_nothing_of_the_room(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")
    _, ticket = invite(room_world)
    interpreter, _ = connect(ticket)
    receive(host)  # knock
    guest.send_json({"type": "media", "audio": True, "video": False})
    guest.send_json({"type": "chat", "text": "Hallo"})
    assert [m["type"] for m in drain(host)] == ["media", "chat"]
    assert drain(interpreter) == []


# -- reconnecting ----------------------------------------------------------------------------


@pytest.mark.parametrize("same_ticket", [False, True], ids=["new-ticket", "same-ticket"])
def test_host_reconnecting_is_inside_at_once_with_the_guest(room_world, connect, same_ticket):
    host_id = f"staff-{room_world.advisor.id}"
    ticket = room_world.host_ticket()
    host, _ = connect(ticket)
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")

    host.close()
    assert receive(guest) == {"type": "peer-left", "id": host_id}
    _again, welcome = connect(ticket if same_ticket else room_world.host_ticket())

    assert welcome["state"] == "inside"
    assert [p["id"] for p in welcome["participants"]] == ["guest"]
    assert welcome["waiting"] == []
    joined = receive(guest)
    assert joined["type"] == "peer-joined"
    assert joined["peer"]["id"] == host_id
    assert joined["polite"] is not welcome["participants"][0]["polite"]


@pytest.mark.parametrize("same_ticket", [False, True], ids=["new-ticket", "same-ticket"])
def test_second_connection_replaces_the_first_without_a_peer_left(room_world, connect, same_ticket):
    host_id = f"staff-{room_world.advisor.id}"
    ticket = room_world.host_ticket()
    old, _ = connect(ticket)
    guest, _ = connect(room_world.guest_ticket())
    receive(old)
    admit(old, guest, "guest")

    new, welcome = connect(ticket if same_ticket else room_world.host_ticket())

    assert welcome["state"] == "inside"
    assert [p["id"] for p in welcome["participants"]] == ["guest"]
    assert close_code(old) == 4006
    joined = receive(guest)
    assert joined["type"] == "peer-joined"
    assert joined["peer"]["id"] == host_id
    assert drain(guest) == []  # the old connection's end is no peer-left
    guest.send_json({"type": "offer", "to": host_id, "sdp": "v=0"})
    assert receive(new) == {"type": "offer", "sdp": "v=0", "from": "guest"}


def test_admitted_guest_reconnecting_with_its_resume_key_is_inside_at_once(room_world, connect):
    host_id = f"staff-{room_world.advisor.id}"
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admitted, _ = admit(host, guest, "guest")

    guest.close()
    assert receive(host) == {"type": "peer-left", "id": "guest"}
    _again, welcome = connect(room_world.guest_ticket(), resume=admitted["resume"])

    assert welcome["state"] == "inside"
    assert welcome["resume"] == admitted["resume"]  # for the next reconnect
    assert [p["id"] for p in welcome["participants"]] == [host_id]
    joined = receive(host)
    assert joined["type"] == "peer-joined"  # no knock: the admission is remembered
    assert joined["peer"]["id"] == "guest"


def test_admitted_guest_replacing_its_connection_with_its_key_is_inside_at_once(
    room_world, connect
):
    host, _ = connect(room_world.host_ticket())
    ticket = room_world.guest_ticket()
    old, _ = connect(ticket)
    receive(host)
    admitted, _ = admit(host, old, "guest")

    _new, welcome = connect(ticket, resume=admitted["resume"])

    assert welcome["state"] == "inside"
    assert close_code(old) == 4006
    assert [m["type"] for m in drain(host)] == ["peer-joined"]


# -- the join link in other hands: a second device waits for the host ----------------------


@pytest.fixture
def call(room_world, connect):
    """The advisor and Erika in a call; Erika's browser holds the resume key."""
    host, _ = connect(room_world.host_ticket())
    erika, _ = connect(room_world.guest_ticket(name="Erika"))
    receive(host)
    admitted, _ = admit(host, erika, "guest")
    return host, erika, admitted["resume"]


@pytest.mark.parametrize("key", [None, "forged-key"], ids=["no-key", "wrong-key"])
def test_a_second_ticket_from_the_join_link_waits_beside_the_citizen(
    room_world, connect, call, key
):
    host, erika, _ = call
    auth = {} if key is None else {"resume": key}

    _stranger, welcome = connect(room_world.guest_ticket(name="Mallory"), **auth)

    assert welcome["state"] == "waiting"
    assert (welcome["participants"], welcome["ice_servers"]) == ([], [])
    assert "resume" not in welcome
    knock = receive(host)
    assert knock == {
        "type": "knock",
        "participant": {
            "id": "guest",
            "name": "Mallory",
            "role": "guest",
            "media": {},
            "reconnect": True,
        },
    }
    # Erika stays in the call and hears nothing of it; the stranger hears nothing of the call.
    assert drain(erika) == []
    erika.send_json({"type": "chat", "text": "Noch da"})
    assert receive(host)["text"] == "Noch da"
    assert receive(erika)["text"] == "Noch da"
    assert drain(_stranger) == []
    host_id = f"staff-{room_world.advisor.id}"
    host.send_json({"type": "offer", "to": "guest", "sdp": "v=0"})
    assert receive(erika) == {"type": "offer", "sdp": "v=0", "from": host_id}
    assert drain(_stranger) == []


def test_the_host_admitting_the_second_device_hands_the_call_over(room_world, connect, call):
    host, erika, old_key = call
    phone, _ = connect(room_world.guest_ticket(name="Erika"))
    assert receive(host)["type"] == "knock"

    host.send_json({"type": "admit", "id": "guest"})

    admitted = receive(phone)
    assert admitted["type"] == "admitted"
    assert admitted["resume"] != old_key
    joined = receive(host)
    assert (joined["type"], joined["peer"]["id"]) == ("peer-joined", "guest")
    assert close_code(erika) == 4006  # only now, after the host's admission
    assert drain(host) == []  # the old connection's end is no peer-left
    # The old device's key no longer opens the room: it would wait for the host again.
    _back, welcome = connect(room_world.guest_ticket(), resume=old_key)
    assert welcome["state"] == "waiting"


def test_the_host_denying_the_second_device_keeps_the_citizen_in_the_call(
    room_world, connect, call
):
    host, erika, key = call
    stranger_ticket = room_world.guest_ticket(name="Mallory")
    stranger, _ = connect(stranger_ticket)
    assert receive(host)["type"] == "knock"

    host.send_json({"type": "deny", "id": "guest"})

    assert close_code(stranger) == 4007
    assert receive(host) == {"type": "waiting-left", "id": "guest"}
    erika.send_json({"type": "media", "audio": True, "video": True, "screen": False})
    assert receive(host)["type"] == "media"
    with pytest.raises(WebSocketDisconnect) as refused:
        connect(stranger_ticket)
    assert refused.value.code == 4003
    # Erika's admission stands: her own reconnect still comes straight back in.
    erika.close()
    assert receive(host) == {"type": "peer-left", "id": "guest"}
    _again, welcome = connect(room_world.guest_ticket(), resume=key)
    assert welcome["state"] == "inside"


def test_a_second_device_that_gives_up_leaves_the_citizen_alone(room_world, connect, call):
    host, erika, _ = call
    phone, _ = connect(room_world.guest_ticket())
    assert receive(host)["type"] == "knock"
    phone.send_json({"type": "leave"})
    assert close_code(phone) == 1000
    assert receive(host) == {"type": "waiting-left", "id": "guest"}
    erika.send_json({"type": "chat", "text": "Hallo"})
    assert receive(host)["text"] == "Hallo"


def test_the_second_device_waits_on_when_the_citizen_leaves(room_world, connect, call):
    host, erika, _ = call
    phone, _ = connect(room_world.guest_ticket())
    assert receive(host)["type"] == "knock"

    erika.send_json({"type": "leave"})
    assert receive(host) == {"type": "peer-left", "id": "guest"}

    assert drain(phone) == []  # still waiting, no way in without the host
    host.send_json({"type": "admit", "id": "guest"})
    assert receive(phone)["type"] == "admitted"


# -- removing and ending ---------------------------------------------------------------------


def test_removed_guest_is_closed_and_the_others_see_it_leave(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")
    interpreter_id, ticket = invite(room_world)
    interpreter, _ = connect(ticket)
    receive(host)
    admit(host, interpreter, interpreter_id)
    receive(guest)  # peer-joined: the interpreter

    host.send_json({"type": "remove", "id": "guest"})

    assert close_code(guest) == 4013
    assert receive(host) == {"type": "peer-left", "id": "guest"}
    assert receive(interpreter) == {"type": "peer-left", "id": "guest"}


def test_removed_guest_cannot_return_with_its_ticket_and_waits_with_a_new_one(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    ticket = room_world.guest_ticket()
    guest, _ = connect(ticket)
    receive(host)
    admit(host, guest, "guest")
    host.send_json({"type": "remove", "id": "guest"})
    assert close_code(guest) == 4013
    assert receive(host) == {"type": "peer-left", "id": "guest"}

    with pytest.raises(WebSocketDisconnect) as refused:
        connect(ticket)
    assert refused.value.code == 4003
    _again, welcome = connect(room_world.guest_ticket())
    assert welcome["state"] == "waiting"
    assert receive(host)["type"] == "knock"


def test_host_ending_the_room_ends_it_for_everyone(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest_ticket = room_world.guest_ticket()
    guest, _ = connect(guest_ticket)
    receive(host)
    admit(host, guest, "guest")
    _, ticket = invite(room_world)
    interpreter, _ = connect(ticket)  # still waiting
    receive(host)

    host.send_json({"type": "end"})

    for socket in (host, guest, interpreter):
        assert receive(socket) == {"type": "ended", "reason": "ended_by_host"}
        assert close_code(socket) == 4014
    response = room_world.client.post(
        "/api/v1/room-tickets", headers={"Authorization": f"Bearer {room_world.join_token}"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "room_closed"
    with pytest.raises(WebSocketDisconnect) as refused:
        connect(guest_ticket)  # issued before the end
    assert refused.value.code == 4005


def test_revoking_an_invitation_sends_its_holder_out_for_good(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")
    interpreter_id, ticket = invite(room_world)
    spare = room_world.guest_ticket(invite_token(room_world, interpreter_id))
    interpreter, _ = connect(ticket)
    receive(host)
    admit(host, interpreter, interpreter_id)
    receive(guest)

    response = room_world.client.delete(
        f"/api/v1/rooms/{room_world.room_id()}/invites/{interpreter_id.removeprefix('invite-')}",
        headers=room_world.staff_headers(room_world.advisor),
    )

    assert response.status_code == 200, response.text
    assert close_code(interpreter) == 4003
    assert receive(host) == {"type": "peer-left", "id": interpreter_id}
    assert receive(guest) == {"type": "peer-left", "id": interpreter_id}
    for old_ticket in (ticket, spare):
        with pytest.raises(WebSocketDisconnect) as refused:
            connect(old_ticket)
        assert refused.value.code == 4003


# -- the room's window -----------------------------------------------------------------------


def test_no_tickets_once_the_room_has_closed(room_world, connect):
    room_world.clock.now = room_closes(room_world)

    guest = room_world.client.post(
        "/api/v1/room-tickets", headers={"Authorization": f"Bearer {room_world.join_token}"}
    )
    host = room_world.client.post(
        f"/api/v1/rooms/{room_world.room_id()}/tickets",
        headers=room_world.staff_headers(room_world.advisor),
    )

    assert (guest.status_code, guest.json()["code"]) == (409, "room_closed")
    assert (host.status_code, host.json()["code"]) == (409, "room_closed")


def test_connections_are_closed_when_the_room_closes(room_world, connect):
    room_world.clock.now = room_closes(room_world) - timedelta(seconds=0.8)
    guest_ticket, host_ticket = room_world.guest_ticket(), room_world.host_ticket()
    guest, _ = connect(guest_ticket)
    host, welcome = connect(host_ticket)  # the guest in `waiting`: no knock

    assert [w["id"] for w in welcome["waiting"]] == ["guest"]
    for socket in (host, guest):
        message = receive(socket)
        if message["type"] == "waiting-left":  # the guest's own closing came first
            message = receive(socket)
        assert message == {"type": "ended", "reason": "room_closed"}
        assert close_code(socket) == 4005


# -- rooms apart -----------------------------------------------------------------------------


def test_a_ticket_leads_into_its_own_room_only(room_world, connect):
    room_b, host_b_ticket, guest_b_ticket = adhoc_room(room_world)
    host_a, welcome_a = connect(room_world.host_ticket())
    host_b, welcome_b = connect(host_b_ticket)
    _guest_b, guest_welcome = connect(guest_b_ticket)

    assert welcome_a["room"]["id"] == room_world.room_id() != room_b
    assert welcome_b["room"]["id"] == room_b
    assert guest_welcome["room"]["id"] == room_b
    assert receive(host_b)["type"] == "knock"
    assert drain(host_a) == []  # the same advisor, but in room A


def test_rooms_never_hear_each_other(room_world, connect):
    host_id = f"staff-{room_world.advisor.id}"  # the same advisor hosts both rooms
    _room_b, host_b_ticket, guest_b_ticket = adhoc_room(room_world)
    host_a, _ = connect(room_world.host_ticket())
    guest_a, _ = connect(room_world.guest_ticket())
    receive(host_a)
    admit(host_a, guest_a, "guest")
    host_b, _ = connect(host_b_ticket)
    guest_b, welcome = connect(guest_b_ticket)
    assert receive(host_b)["type"] == "knock"
    admit(host_b, guest_b, welcome["id"])

    for message in (
        {"type": "offer", "to": host_id, "sdp": "v=0"},
        {"type": "candidate", "to": host_id, "candidate": None},
        {"type": "media", "audio": False, "video": True},
        {"type": "chat", "text": "only for room B"},
    ):
        guest_b.send_json(message)
    assert [m["type"] for m in drain(host_b)] == ["offer", "candidate", "media", "chat"]
    assert [m["type"] for m in drain(guest_b)] == ["chat"]

    guest_a.send_json({"type": "chat", "text": "room A"})
    assert receive(host_a)["text"] == "room A"
    assert drain(host_a) == []
    assert [m["text"] for m in drain(guest_a)] == ["room A"]


# -- who may do what -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"type": "offer", "to": "staff-1", "sdp": "v=0"},
        {"type": "answer", "to": "staff-1", "sdp": "v=0"},
        {"type": "candidate", "to": "staff-1", "candidate": None},
        {"type": "chat", "text": "Hallo?"},
    ],
    ids=lambda m: m["type"],
)
def test_waiting_guest_cannot_signal_or_chat(room_world, connect, message):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    message = {**message, "to": f"staff-{room_world.advisor.id}"} if "to" in message else message

    guest.send_json(message)

    assert receive(guest)["code"] == "not_admitted"
    assert drain(host) == []


def test_waiting_guest_media_state_goes_nowhere(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    guest.send_json({"type": "media", "audio": True, "video": True})
    assert drain(guest) == []
    assert drain(host) == []


@pytest.mark.parametrize(
    "message",
    [
        {"type": "admit", "id": "guest"},
        {"type": "deny", "id": "staff"},
        {"type": "remove", "id": "staff"},
        {"type": "end"},
    ],
    ids=lambda m: m["type"],
)
def test_guest_cannot_act_as_host(room_world, connect, message):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")
    message = {**message, "id": f"staff-{room_world.advisor.id}"} if "id" in message else message

    guest.send_json(message)

    assert receive(guest)["code"] == "forbidden"
    assert drain(host) == []
    assert drain(guest) == []  # still connected, the room still open


def test_signaling_an_unknown_peer_goes_nowhere(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")
    _, ticket = invite(room_world)
    interpreter, _ = connect(ticket)  # waiting: no signaling reaches it
    interpreter_id = receive(host)["participant"]["id"]

    for to in ("nobody", interpreter_id, "staff-999"):
        guest.send_json({"type": "offer", "to": to, "sdp": "v=0"})

    assert drain(guest) == []
    assert drain(host) == []
    assert drain(interpreter) == []


def test_offer_to_yourself_is_an_error(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    host.send_json({"type": "offer", "to": f"staff-{room_world.advisor.id}", "sdp": "v=0"})
    assert receive(host)["code"] == "unknown_peer"


def test_host_admitting_twice_announces_the_guest_once(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")

    host.send_json({"type": "admit", "id": "guest"})
    host.send_json({"type": "admit", "id": f"staff-{room_world.advisor.id}"})

    assert drain(host) == []
    assert drain(guest) == []


# -- media and chat --------------------------------------------------------------------------


def test_media_state_reaches_the_others_inside(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket())
    receive(host)
    admit(host, guest, "guest")

    guest.send_json({"type": "media", "audio": False, "video": True, "screen": True})

    media = receive(host)
    assert media == {
        "type": "media",
        "from": "guest",
        "audio": False,
        "video": True,
        "screen": True,
    }
    assert drain(guest) == []  # not back to the sender
    _, ticket = invite(room_world)
    interpreter, _ = connect(ticket)
    interpreter_id = receive(host)["participant"]["id"]
    admitted, _ = admit(host, interpreter, interpreter_id)
    states = {p["id"]: p["media"] for p in admitted["participants"]}
    assert states["guest"] == {"audio": False, "video": True, "screen": True}


def test_chat_reaches_everyone_inside_with_name_and_time(room_world, connect):
    host, _ = connect(room_world.host_ticket())
    guest, _ = connect(room_world.guest_ticket(name="Erika"))
    receive(host)
    admit(host, guest, "guest")

    guest.send_json({"type": "chat", "text": "Guten Tag"})

    for socket in (host, guest):
        chat = receive(socket)
        assert chat["type"] == "chat"
        assert (chat["from"], chat["name"], chat["text"]) == ("guest", "Erika", "Guten Tag")
        assert chat["at"].endswith("+00:00")


# -- helpers ---------------------------------------------------------------------------------


def admit(
    host: WebSocketTestSession, guest: WebSocketTestSession, member_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The host lets `member_id` in: what the guest and the host then hear."""
    host.send_json({"type": "admit", "id": member_id})
    admitted = receive(guest)
    assert admitted["type"] == "admitted"
    joined = receive(host)
    assert joined["type"] == "peer-joined"
    assert joined["peer"]["id"] == member_id
    return admitted, joined


def assert_one_polite_per_pair(views: dict[str, dict[str, bool]]) -> None:
    """views[me][other]: whether `me` is the polite side towards `other`."""
    for me, others in views.items():
        assert set(others) == set(views) - {me}
        for other, polite in others.items():
            assert polite is not views[other][me], (me, other)


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


def invite_token(room_world, participant_id: str) -> str:
    """The link token of an invitation, as the host's list of invitations has it."""
    response = room_world.client.get(
        f"/api/v1/rooms/{room_world.room_id()}/invites",
        headers=room_world.staff_headers(room_world.advisor),
    )
    assert response.status_code == 200, response.text
    (link,) = [i for i in response.json() if f"invite-{i['id']}" == participant_id]
    return str(link["url"]).rsplit("/", 1)[1]


def adhoc_room(room_world) -> tuple[str, str, str]:
    """A second room, ad hoc and hosted by the same advisor: its id, a host and a guest ticket."""
    headers = room_world.staff_headers(room_world.advisor)
    response = room_world.client.post("/api/v1/rooms", headers=headers, json={"title": "B"})
    assert response.status_code == 201, response.text
    body = response.json()
    room = body["room"]["id"]
    host = room_world.client.post(f"/api/v1/rooms/{room}/tickets", headers=headers)
    assert host.status_code == 201, host.text
    return (
        room,
        host.json()["ticket"],
        room_world.guest_ticket(body["guest"]["url"].rsplit("/", 1)[1]),
    )


def room_closes(room_world) -> datetime:
    """When the booking's room closes, as the ticket answer says."""
    response = room_world.client.post(
        "/api/v1/room-tickets", headers={"Authorization": f"Bearer {room_world.join_token}"}
    )
    assert response.status_code == 201, response.text
    return datetime.fromisoformat(response.json()["room"]["closes_at"]).astimezone(UTC)
