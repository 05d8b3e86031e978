"""The signaling rules (`signaling.core`) without sockets, bus or event loop: each row puts a
room in a state, feeds one input with the time, and asserts the effects returned."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from rooms.access import Pass, RoomRole
from rooms.errors import (
    RoomClosed,
    RoomNotOpen,
    TicketExpired,
    TicketInvalid,
    TicketRevoked,
)
from signaling import protocol
from signaling.bus import Admission, AdmissionResult, Member, Presence, Seating
from signaling.core import AUTH_TIMEOUT, Core, HubConfig, ticket_refusal
from signaling.effects import (
    Admit,
    Close,
    Effect,
    EndRoom,
    Expel,
    Forget,
    Greet,
    Join,
    LetIn,
    Publish,
    Refusal,
    Revoke,
    Send,
    TakeSeat,
    Touch,
    UpdateMedia,
)
from signaling.events import Admitted, Broadcast, Ended, Joined, Kick, Relayed
from signaling.negotiation import polite
from signaling.protocol import CloseCode
from signaling.state import Room, Seat, TokenBucket

NOW = 1_000.0  # monotonic seconds
WALL = 1_925_000_000.0  # POSIX seconds: 2031-01-01 02:13:20 UTC
CLOSES = datetime(2031, 1, 7, 10, 30, tzinfo=UTC)
HOST, GUEST, EXTRA = RoomRole.HOST, RoomRole.GUEST, RoomRole.EXTRA_GUEST
INSIDE, WAITING = Presence.INSIDE, Presence.WAITING
ICE = [{"urls": ["turn:turn.example.org"], "username": "u", "credential": "c"}]


def holder(pid: str, role: RoomRole = GUEST) -> Pass:
    return Pass("room-a", pid, role, pid.title(), f"ticket-{pid}", CLOSES, CLOSES)


def seat(
    pid: str,
    role: RoomRole = GUEST,
    presence: Presence = INSIDE,
    *,
    can_rollback: bool = True,
    conn: str | None = None,
    config: HubConfig | None = None,
) -> Seat:
    config = config or HubConfig()
    return Seat(
        holder=holder(pid, role),
        conn=conn or f"{pid}#1",
        can_rollback=can_rollback,
        presence=presence,
        bucket=TokenBucket(config.rate, config.burst, config.burst, NOW),
        last_heard=NOW,
        last_touch=NOW,
    )


def room(*seats: Seat) -> Room:
    local = Room("room-a")
    for each in seats:
        local.take(each)
    return local


def member(of: Seat, state: Presence | None = None, **changes: Any) -> Member:
    """The bus's member for a seat."""
    found = Member(
        id=of.id,
        name=of.holder.name,
        role=of.holder.role.value,
        state=state or of.presence,
        conn=of.conn,
        ticket=of.holder.ticket_id,
        can_rollback=of.can_rollback,
        seen=WALL,
    )
    return replace(found, **changes)


def frame(message: dict[str, Any]) -> str:
    return json.dumps(message)


def meeting() -> Room:
    """The host and a guest inside, an interpreter (`invite-7`) waiting."""
    return room(seat("staff-1", HOST), seat("guest"), seat("invite-7", EXTRA, WAITING))


def handle(local: Room, sender: str, message: dict[str, Any]) -> list[Effect]:
    """What the rules make of `message` from the seat of `sender` in `local`."""
    core, seated = Core(HubConfig()), local.seats[sender]
    parsed = core.receive(seated, frame(message), NOW)
    assert not isinstance(parsed, list), parsed
    return core.handle(local, seated, parsed, NOW, WALL)


def error(conn: str, code: str, text: str, **extra: object) -> Send:
    return Send(conn, protocol.error(code, text, **extra))


# -- the first frame and the ticket ---------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        pytest.param(
            '{"type":"ping"}', Refusal(CloseCode.PROTOCOL_ERROR, "expected_auth"), id="ping"
        ),
        pytest.param("{", Refusal(CloseCode.PROTOCOL_ERROR, "expected_auth"), id="no-json"),
        pytest.param(b"\xff", Refusal(CloseCode.PROTOCOL_ERROR, "expected_auth"), id="binary"),
        pytest.param(
            '{"type":"auth","ticket":"t","v":2}',
            Refusal(CloseCode.PROTOCOL_ERROR, "expected_auth"),
            id="version-2",
        ),
        pytest.param(
            '{"type":"auth","ticket":"' + "x" * 70_000 + '"}',
            Refusal(CloseCode.MESSAGE_TOO_BIG, "message_too_big"),
            id="too-big",
        ),
        pytest.param(
            '{"type":"auth","ticket":"t"}', protocol.Auth(type="auth", ticket="t"), id="auth"
        ),
        pytest.param(
            '{"type":"auth","ticket":"t","can_rollback":false}',
            protocol.Auth(type="auth", ticket="t", can_rollback=False),
            id="auth-aiortc",
        ),
    ],
)
def test_the_first_frame_must_be_an_auth(first: str, expected: object) -> None:
    assert Core(HubConfig()).authenticate(first) == expected


def test_silence_instead_of_an_auth_is_refused_with_4000() -> None:
    assert (AUTH_TIMEOUT.code, AUTH_TIMEOUT.reason) == (4000, "auth_timeout")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TicketExpired(), CloseCode.TICKET_EXPIRED),
        (TicketRevoked(), CloseCode.TICKET_REVOKED),
        (TicketInvalid(), CloseCode.TICKET_INVALID),
        (RoomNotOpen(), CloseCode.ROOM_NOT_OPEN),
        (RoomClosed(), CloseCode.ROOM_CLOSED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_ticket_errors_close_with_their_code(error: Exception, code: CloseCode) -> None:
    assert ticket_refusal(error) == Refusal(code, code.reason)


def test_an_error_of_another_kind_is_no_refusal() -> None:
    assert ticket_refusal(ConnectionError("database gone")) is None


AUTH = protocol.Auth(type="auth", ticket="t")
AIORTC = protocol.Auth(type="auth", ticket="t", can_rollback=False)
KEY = "resume-key-of-the-admission"
RESUMING = protocol.Auth(type="auth", ticket="t", resume=KEY)
WRONG_KEY = protocol.Auth(type="auth", ticket="t", resume="resume-key-of-the-admissioN")


@pytest.mark.parametrize(
    ("role", "auth", "revoked", "resume", "presence"),
    [
        pytest.param(HOST, AUTH, False, None, INSIDE, id="host-never-waits"),
        pytest.param(GUEST, AUTH, False, None, WAITING, id="guest-waits"),
        pytest.param(EXTRA, AIORTC, False, None, WAITING, id="extra-guest-waits"),
        pytest.param(GUEST, RESUMING, False, KEY, INSIDE, id="admitted-before-with-the-key"),
        # A join link travels: its ticket alone never comes back inside without the host.
        pytest.param(GUEST, AUTH, False, KEY, WAITING, id="admitted-before-without-the-key"),
        pytest.param(GUEST, WRONG_KEY, False, KEY, WAITING, id="admitted-before-wrong-key"),
        pytest.param(EXTRA, RESUMING, False, None, WAITING, id="key-of-a-forgotten-admission"),
        pytest.param(GUEST, RESUMING, True, KEY, None, id="revoked-ticket"),
        pytest.param(HOST, AUTH, True, None, None, id="revoked-host-ticket"),
    ],
)
def test_arriving_with_a_checked_ticket(
    role: RoomRole,
    auth: protocol.Auth,
    revoked: bool,
    resume: str | None,
    presence: Presence | None,
) -> None:
    arrived = Core(HubConfig()).arrive(
        holder("p", role), auth, "p#1", revoked=revoked, resume=resume, now=NOW
    )
    if presence is None:
        assert arrived == Refusal(CloseCode.TICKET_REVOKED, "ticket_revoked")
    else:
        assert isinstance(arrived, Seat)
        assert (arrived.presence, arrived.can_rollback, arrived.conn) == (
            presence,
            auth.can_rollback,
            "p#1",
        )
        assert (arrived.last_heard, arrived.bucket.stamp) == (NOW, NOW)
        # Only a connection let back in holds the key, to hand on to its own next one.
        assert arrived.resume == (KEY if presence is INSIDE and role is not HOST else None)


def test_a_guest_back_with_its_key_is_welcomed_inside_with_it() -> None:
    back = Core(HubConfig()).arrive(
        holder("guest"), RESUMING, "guest#2", revoked=False, resume=KEY, now=NOW
    )
    assert isinstance(back, Seat)
    [welcome, _joined] = Core(HubConfig()).welcome(back, [member(seat("staff-1", HOST))], ICE)
    assert isinstance(welcome, Send)
    assert (welcome.message["state"], welcome.message["resume"]) == ("inside", KEY)


# -- entering: the waiting room, replacement ------------------------------------------------


def test_entering_joins_the_members_with_the_staleness_of_three_heartbeats() -> None:
    newcomer = seat("guest", presence=WAITING)
    effects = Core(HubConfig()).enter(newcomer, [member(seat("staff-1", HOST))], WALL)
    assert effects == [Join(member(newcomer), stale_before=WALL - 90.0)]


@pytest.mark.parametrize(
    ("presence", "already_waiting", "refused"),
    [
        pytest.param(WAITING, ["a", "b"], True, id="waiting-room-full"),
        pytest.param(WAITING, ["a"], False, id="waiting-room-has-space"),
        pytest.param(WAITING, ["a", "guest"], False, id="own-old-connection-not-counted"),
        pytest.param(INSIDE, ["a", "b", "c"], False, id="inside-never-waits"),
    ],
)
def test_the_waiting_room_has_a_limit(
    presence: Presence, already_waiting: list[str], refused: bool
) -> None:
    core = Core(HubConfig(max_waiting=2))
    newcomer = seat("guest", presence=presence)
    members = [member(seat(pid), WAITING) for pid in already_waiting]
    effects = core.enter(newcomer, members, WALL)
    if refused:
        assert effects == [Close("guest#1", CloseCode.ROOM_FULL)]
    else:
        assert [type(effect) for effect in effects] == [Join]


@pytest.mark.parametrize(
    ("accepted", "previous", "expected"),
    [  # the participant's connections as the bus answers `Join` (a `Seating`)
        pytest.param(False, None, [Close("guest#2", CloseCode.ROOM_FULL)], id="room-full"),
        pytest.param(True, None, [TakeSeat("guest#2"), Greet("guest#2")], id="first-connection"),
        pytest.param(
            True,
            "guest#1",
            [
                TakeSeat("guest#2"),
                Publish(Kick("guest", "guest#1", CloseCode.REPLACED)),
                Greet("guest#2"),
            ],
            id="replaces-the-old-connection",
        ),
        pytest.param(
            True, "guest#2", [TakeSeat("guest#2"), Greet("guest#2")], id="the-same-connection"
        ),
    ],
)
def test_joining_replaces_an_older_connection_of_the_participant(
    accepted: bool, previous: str | None, expected: list[Effect]
) -> None:
    second = seat("guest", conn="guest#2")
    before = None if previous is None else member(second, conn=previous)
    assert Core(HubConfig()).joined(second, Seating(accepted, before)) == expected
    assert not second.replacing


@pytest.mark.parametrize(
    "earlier", [None, "guest#2"], ids=["first-replacement", "replaces-an-earlier-replacement"]
)
def test_a_second_device_waits_beside_the_participant_inside(earlier: str | None) -> None:
    """Another device with the join link (no resume key) does not take the citizen's place:
    it waits beside it, and the hosts hear it knock as a reconnect."""
    core = Core(HubConfig())
    inside, newcomer = seat("guest"), seat("guest", presence=WAITING, conn="guest#3")
    before = None if earlier is None else member(newcomer, conn=earlier, replacing=True)
    kicked = [] if earlier is None else [Publish(Kick("guest", earlier, CloseCode.REPLACED))]

    effects = core.joined(newcomer, Seating(True, before, beside=True))

    assert effects == [TakeSeat("guest#3"), *kicked, Greet("guest#3")]
    local = room(seat("staff-1", HOST), inside, newcomer)
    assert (local.seats["guest"], local.replacements["guest"]) == (inside, newcomer)
    members = [member(seat("staff-1", HOST)), member(inside), member(newcomer, replacing=True)]
    [welcome, knock] = core.welcome(newcomer, members, ICE)
    assert isinstance(welcome, Send)
    assert (welcome.message["state"], welcome.message["participants"]) == ("waiting", [])
    assert "resume" not in welcome.message
    assert knock == Publish(
        Broadcast(
            {
                "type": "knock",
                "participant": {
                    "id": "guest",
                    "name": "Guest",
                    "role": "guest",
                    "media": {},
                    "reconnect": True,
                },
            },
            hosts=True,
        )
    )
    # A host coming in later sees it waiting, as a reconnect, beside the guest inside.
    [host_welcome, _] = core.welcome(seat("staff-2", HOST), members, ICE)
    assert isinstance(host_welcome, Send)
    assert [p["id"] for p in host_welcome.message["participants"]] == ["staff-1", "guest"]
    assert host_welcome.message["waiting"] == [
        {"id": "guest", "name": "Guest", "role": "guest", "media": {}, "reconnect": True}
    ]


def test_a_waiting_replacement_hears_nothing_of_the_room() -> None:
    core = Core(HubConfig())
    inside, newcomer = seat("guest"), seat("guest", presence=WAITING, conn="guest#3")
    newcomer.replacing = True
    local = room(seat("staff-1", HOST), inside, newcomer)
    chat = {"type": "chat", "from": "staff-1", "name": "Staff-1", "text": "Hallo", "at": "x"}
    assert core.deliver(local, Broadcast(chat)) == [Send("staff-1#1", chat), Send("guest#1", chat)]
    relayed = {"type": "offer", "from": "staff-1", "sdp": "v=0"}
    assert core.deliver(local, Relayed("guest", relayed)) == [Send("guest#1", relayed)]
    assert core.deliver(local, Ended()) == [
        effect
        for conn in ("staff-1#1", "guest#1", "guest#3")
        for effect in (
            Send(conn, {"type": "ended", "reason": "ended_by_host"}),
            Close(conn, CloseCode.ENDED),
        )
    ]


def test_a_replaced_connection_leaves_the_room_to_its_successor() -> None:
    old, new = seat("guest", conn="guest#1"), seat("guest", conn="guest#2")
    local = room(old)
    local.take(new)
    assert local.seats == {"guest": new}
    assert not local.vacate(old)  # its departure leaves the successor seated
    assert local.vacate(new)
    assert local.seats == {}


def test_a_replaced_connection_going_announces_nothing() -> None:
    assert Core(HubConfig()).departed(seat("guest"), None) == []


def test_a_waiting_guest_is_welcomed_without_the_room_and_knocks_at_the_hosts() -> None:
    newcomer = seat("guest", presence=WAITING)
    members = [member(seat("staff-1", HOST)), member(newcomer)]
    effects = Core(HubConfig()).welcome(newcomer, members, ICE)
    welcome = {
        "type": "welcome",
        "v": 1,
        "id": "guest",
        "role": "guest",
        "name": "Guest",
        "state": "waiting",
        "room": {"id": "room-a", "closes_at": "2031-01-07T10:30:00+00:00"},
        "heartbeat_seconds": 10.0,
        "max_message_bytes": 65536,
        "ice_servers": [],
        "participants": [],
    }
    knock = {
        "type": "knock",
        "participant": {"id": "guest", "name": "Guest", "role": "guest", "media": {}},
    }
    assert effects == [Send("guest#1", welcome), Publish(Broadcast(knock, hosts=True))]


def test_a_host_is_welcomed_inside_with_those_waiting_and_is_announced() -> None:
    newcomer = seat("staff-2", HOST)
    members = [member(seat("guest")), member(seat("invite-7", EXTRA, WAITING)), member(newcomer)]
    [welcome, announcement] = Core(HubConfig()).welcome(newcomer, members, ICE)
    assert isinstance(welcome, Send)
    assert welcome.message["state"] == "inside"
    assert welcome.message["ice_servers"] == ICE
    assert welcome.message["participants"] == [
        {"id": "guest", "name": "Guest", "role": "guest", "media": {}, "polite": False}
    ]
    assert welcome.message["waiting"] == [
        {"id": "invite-7", "name": "Invite-7", "role": "extra_guest", "media": {}}
    ]
    assert announcement == Publish(Joined("staff-2", "Staff-2", "host", True, {}))


# -- admission -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {"type": "admit", "id": "invite-7"}, [Admit("invite-7", "staff-1#1")], id="admit"
        ),
        pytest.param(
            {"type": "deny", "id": "invite-7"},
            [Expel("invite-7", CloseCode.DENIED, "staff-1#1")],
            id="deny",
        ),
        pytest.param(
            {"type": "remove", "id": "guest"},
            [Expel("guest", CloseCode.REMOVED, "staff-1#1")],
            id="remove",
        ),
        pytest.param(
            {"type": "remove", "id": "staff-1"},
            [error("staff-1#1", "unknown_peer", "Nobody with this id can be removed.")],
            id="remove-oneself",
        ),
        pytest.param({"type": "end"}, [EndRoom(), Publish(Ended())], id="end"),
    ],
)
def test_what_a_host_may_do(message: dict[str, Any], expected: list[Effect]) -> None:
    assert handle(meeting(), "staff-1", message) == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(
            AdmissionResult(Admission.ADMITTED, "invite-7#1"),
            [Publish(Admitted("invite-7", "invite-7#1", KEY))],
            id="admitted",
        ),
        pytest.param(
            AdmissionResult(Admission.ADMITTED, "invite-7#2", replaced="invite-7#1"),
            [
                Publish(Admitted("invite-7", "invite-7#2", KEY)),
                Publish(Kick("invite-7", "invite-7#1", CloseCode.REPLACED)),
            ],
            id="a-replacement-takes-over-then-its-predecessor-goes",
        ),
        pytest.param(AdmissionResult(Admission.ADMITTED), [], id="inside-already"),
        pytest.param(
            AdmissionResult(Admission.FULL),
            [error("staff-1#1", "room_full", "The room is full.", id="invite-7")],
            id="full",
        ),
        pytest.param(
            AdmissionResult(Admission.ABSENT),
            [error("staff-1#1", "unknown_peer", "Nobody with this id is here.", id="invite-7")],
            id="absent",
        ),
    ],
)
def test_the_bus_answers_an_admission(outcome: AdmissionResult, expected: list[Effect]) -> None:
    assert Core(HubConfig()).admission("staff-1#1", "invite-7", outcome, KEY) == expected


def test_the_admitted_seat_goes_inside_and_meets_the_room() -> None:
    core, local = Core(HubConfig()), meeting()
    interpreter = local.seats["invite-7"]

    assert core.deliver(local, Admitted("invite-7", "invite-7#1", KEY)) == [LetIn("invite-7#1")]

    assert (interpreter.presence, interpreter.resume) == (INSIDE, KEY)
    members = [
        member(local.seats["staff-1"]),
        member(seat("guest", can_rollback=False)),
        member(interpreter),
    ]
    [admitted, announcement] = core.let_in(interpreter, members, ICE)
    assert admitted == Send(
        "invite-7#1",
        {
            "type": "admitted",
            "participants": [
                {"id": "staff-1", "name": "Staff-1", "role": "host", "media": {}, "polite": False},
                {"id": "guest", "name": "Guest", "role": "guest", "media": {}, "polite": True},
            ],
            "ice_servers": ICE,
            "resume": KEY,
        },
    )
    assert announcement == Publish(Joined("invite-7", "Invite-7", "extra_guest", True, {}))


def test_an_admitted_replacement_takes_the_seat_of_the_connection_inside() -> None:
    core = Core(HubConfig())
    inside, newcomer = seat("guest"), seat("guest", presence=WAITING, conn="guest#3")
    newcomer.replacing = True
    local = room(seat("staff-1", HOST), inside, newcomer)

    assert core.deliver(local, Admitted("guest", "guest#3", KEY)) == [LetIn("guest#3")]

    assert (local.seats["guest"], local.replacements) == (newcomer, {})
    assert (newcomer.presence, newcomer.replacing, newcomer.resume) == (INSIDE, False, KEY)
    # The old connection is closed by the `Kick` that follows; its going changes nothing.
    assert core.deliver(local, Kick("guest", "guest#1", CloseCode.REPLACED)) == [
        Close("guest#1", CloseCode.REPLACED)
    ]
    assert not local.vacate(inside)


@pytest.mark.parametrize(
    "admitted",
    [
        pytest.param("guest", id="inside-already"),
        pytest.param("staff-1", id="a-host"),
        pytest.param("invite-8", id="not-here"),
    ],
)
def test_an_admission_of_someone_not_waiting_here_changes_nothing(admitted: str) -> None:
    local = meeting()
    event = Admitted(admitted, f"{admitted}#1", KEY)
    assert Core(HubConfig()).deliver(local, event) == []
    assert [s.presence for s in local.seats.values()] == [INSIDE, INSIDE, WAITING]


def test_an_admission_reaching_a_closing_seat_changes_nothing() -> None:
    closing = seat("guest", presence=WAITING)
    closing.closing = CloseCode.TOO_SLOW
    assert Core(HubConfig()).deliver(room(closing), Admitted("guest", "guest#1", KEY)) == []
    assert closing.presence is WAITING


def test_an_admission_of_another_connection_changes_nothing() -> None:
    waiting = seat("guest", presence=WAITING, conn="guest#2")
    assert Core(HubConfig()).deliver(room(waiting), Admitted("guest", "guest#1", KEY)) == []
    assert waiting.presence is WAITING


@pytest.mark.parametrize(
    ("target", "by", "expected"),
    [
        pytest.param(
            member(seat("guest")),
            "staff-1#1",
            [
                Forget("guest"),
                Revoke("ticket-guest", WALL + 24 * 3600),
                Publish(Kick("guest", "guest#1", CloseCode.REMOVED)),
            ],
            id="guest",
        ),
        pytest.param(
            member(seat("staff-1", HOST), conn="staff-1#9"),
            "staff-2#1",
            [
                Forget("staff-1"),
                error("staff-2#1", "unknown_peer", "Nobody with this id can be removed."),
            ],
            id="another-host",
        ),
        pytest.param(
            None,
            "staff-1#1",
            [
                Forget("guest"),
                error("staff-1#1", "unknown_peer", "Nobody with this id can be removed."),
            ],
            id="nobody",
        ),
        pytest.param(None, None, [Forget("guest")], id="nobody-for-the-staff-outside"),
    ],
)
def test_expelling(target: Member | None, by: str | None, expected: list[Effect]) -> None:
    members = [member(seat("staff-2", HOST))] + ([] if target is None else [target])
    member_id = "guest" if target is None else target.id
    assert Core(HubConfig()).expel(members, member_id, CloseCode.REMOVED, WALL, by) == expected


REVOKED_UNTIL = WALL + 24 * 3600


@pytest.mark.parametrize(
    ("code", "by", "expected"),
    [
        pytest.param(
            CloseCode.DENIED,
            "staff-1#1",
            [
                Revoke("ticket-guest", REVOKED_UNTIL),
                Publish(Kick("guest", "guest#3", CloseCode.DENIED)),
            ],
            id="deny-sends-the-replacement-away-and-keeps-the-admission",
        ),
        pytest.param(
            CloseCode.REMOVED,
            "staff-1#1",
            [
                Forget("guest"),
                Revoke("ticket-guest", REVOKED_UNTIL),
                Publish(Kick("guest", "guest#1", CloseCode.REMOVED)),
            ],
            id="remove-sends-the-one-inside-away",
        ),
        pytest.param(
            CloseCode.TICKET_REVOKED,
            None,
            [
                Forget("guest"),
                Revoke("ticket-guest", REVOKED_UNTIL),
                Publish(Kick("guest", "guest#1", CloseCode.TICKET_REVOKED)),
                Revoke("ticket-guest", REVOKED_UNTIL),
                Publish(Kick("guest", "guest#3", CloseCode.TICKET_REVOKED)),
            ],
            id="a-revoked-invitation-sends-both-away",
        ),
    ],
)
def test_expelling_a_participant_with_a_replacement_waiting(
    code: CloseCode, by: str | None, expected: list[Effect]
) -> None:
    inside = member(seat("guest"))
    replacement = member(seat("guest", presence=WAITING, conn="guest#3"), replacing=True)
    members = [member(seat("staff-1", HOST)), inside, replacement]
    assert Core(HubConfig()).expel(members, "guest", code, WALL, by) == expected


@pytest.mark.parametrize(
    "code", [CloseCode.DENIED, CloseCode.REMOVED, CloseCode.TICKET_REVOKED, CloseCode.REPLACED]
)
def test_a_kick_closes_the_named_connection_only(code: CloseCode) -> None:
    local = room(seat("staff-1", HOST), seat("guest", conn="guest#2"))
    assert Core(HubConfig()).deliver(local, Kick("guest", "guest#1", code)) == [
        Close("guest#1", code)
    ]


# -- roles -------------------------------------------------------------------------------------


NOT_ADMITTED = "Wait until you are let in."


@pytest.mark.parametrize(
    ("sender", "message", "expected"),
    [
        *(
            pytest.param(
                "guest",
                message,
                [error("guest#1", "forbidden", "Only the host may do this.")],
                id=f"guest-{message['type']}",
            )
            for message in (
                {"type": "admit", "id": "invite-7"},
                {"type": "deny", "id": "invite-7"},
                {"type": "remove", "id": "staff-1"},
                {"type": "end"},
            )
        ),
        *(
            pytest.param(
                "invite-7",
                message,
                [error("invite-7#1", "not_admitted", NOT_ADMITTED)],
                id=f"waiting-{message['type']}",
            )
            for message in (
                {"type": "offer", "to": "staff-1", "sdp": "v=0"},
                {"type": "answer", "to": "staff-1", "sdp": "v=0"},
                {"type": "candidate", "to": "staff-1", "candidate": None},
                {"type": "media-failed", "to": "staff-1"},
                {"type": "chat", "text": "Hallo?"},
                {"type": "typing", "text": "Hal"},
            )
        ),
        pytest.param(
            "invite-7",
            {"type": "admit", "id": "invite-7"},
            [error("invite-7#1", "forbidden", "Only the host may do this.")],
            id="waiting-admits-itself",
        ),
        pytest.param(
            "invite-7", {"type": "media", "audio": True, "video": True}, [], id="waiting-media"
        ),
        pytest.param(
            "guest",
            {"type": "offer", "to": "guest", "sdp": "v=0"},
            [error("guest#1", "unknown_peer", "You cannot signal yourself.")],
            id="offer-to-oneself",
        ),
        pytest.param(
            "guest",
            {"type": "auth", "ticket": "t"},
            [error("guest#1", "already_authenticated", "Already authenticated.")],
            id="second-auth",
        ),
        pytest.param("guest", {"type": "ping"}, [Send("guest#1", {"type": "pong"})], id="ping"),
        pytest.param("guest", {"type": "leave"}, [Close("guest#1", CloseCode.NORMAL)], id="leave"),
    ],
)
def test_what_guests_may_not_do(
    sender: str, message: dict[str, Any], expected: list[Effect]
) -> None:
    assert handle(meeting(), sender, message) == expected


# -- relaying and the room's messages -------------------------------------------------------


CANDIDATE = {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMLineIndex": 0}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {"type": "offer", "to": "staff-1", "sdp": "v=0"},
            [Send("staff-1#1", {"type": "offer", "sdp": "v=0", "from": "guest"})],
            id="to-a-seat-here",
        ),
        pytest.param(
            {"type": "candidate", "to": "staff-9", "candidate": CANDIDATE},
            [
                Publish(
                    Relayed(
                        "staff-9",
                        {
                            "type": "candidate",
                            "candidate": {
                                **CANDIDATE,
                                "sdpMid": None,
                                "usernameFragment": None,
                            },
                            "from": "guest",
                        },
                    )
                )
            ],
            id="to-another-process",
        ),
        pytest.param(
            {"type": "answer", "to": "invite-7", "sdp": "v=0"}, [], id="to-a-waiting-seat"
        ),
        pytest.param(
            {"type": "media-failed", "to": "staff-1"},
            [Send("staff-1#1", {"type": "media-failed", "from": "guest"})],
            id="media-failed-to-a-seat-here",
        ),
        pytest.param(
            {"type": "media-failed", "to": "staff-9"},
            [Publish(Relayed("staff-9", {"type": "media-failed", "from": "guest"}))],
            id="media-failed-to-another-process",
        ),
        pytest.param(
            {"type": "media-failed", "to": "guest"},
            [error("guest#1", "unknown_peer", "You cannot signal yourself.")],
            id="media-failed-to-oneself",
        ),
        pytest.param(
            {"type": "media", "audio": False, "video": True},
            [
                UpdateMedia("guest", "guest#1", {"audio": False, "video": True, "screen": False}),
                Publish(
                    Broadcast(
                        {
                            "type": "media",
                            "from": "guest",
                            "audio": False,
                            "video": True,
                            "screen": False,
                        },
                        skip="guest",
                    )
                ),
            ],
            id="media",
        ),
        pytest.param(
            {"type": "chat", "text": "Guten Tag"},
            [
                Publish(
                    Broadcast(
                        {
                            "type": "chat",
                            "from": "guest",
                            "name": "Guest",
                            "text": "Guten Tag",
                            "at": "2031-01-01T02:13:20+00:00",
                        }
                    )
                )
            ],
            id="chat-back-to-the-sender-too",
        ),
        pytest.param(
            {"type": "typing", "text": "Guten"},
            [
                Publish(
                    Broadcast(
                        {"type": "typing", "from": "guest", "name": "Guest", "text": "Guten"},
                        skip="guest",
                    )
                )
            ],
            id="draft-for-the-others",
        ),
    ],
)
def test_what_a_guest_inside_sends(message: dict[str, Any], expected: list[Effect]) -> None:
    assert handle(meeting(), "guest", message) == expected


def test_the_media_state_stays_with_the_seat_for_those_who_come_later() -> None:
    local = meeting()
    handle(local, "guest", {"type": "media", "audio": True, "video": False, "screen": True})
    guest = local.seats["guest"]
    assert guest.media == {"audio": True, "video": False, "screen": True}
    [_, announcement] = Core(HubConfig()).let_in(guest, [], ICE)
    assert announcement == Publish(Joined("guest", "Guest", "guest", True, guest.media))


def test_a_relayed_message_reaches_its_target_here_only_inside() -> None:
    core = Core(HubConfig())
    offer = {"type": "offer", "sdp": "v=0", "from": "staff-1"}
    local = meeting()
    assert core.deliver(local, Relayed("guest", offer)) == [Send("guest#1", offer)]
    assert core.deliver(local, Relayed("invite-7", offer)) == []
    assert core.deliver(local, Relayed("staff-9", offer)) == []


@pytest.mark.parametrize(
    ("event", "receivers"),
    [
        pytest.param(Broadcast({"type": "chat"}), ["staff-1#1", "guest#1"], id="inside"),
        pytest.param(Broadcast({"type": "media"}, skip="guest"), ["staff-1#1"], id="not-back"),
        pytest.param(Broadcast({"type": "knock"}, hosts=True), ["staff-1#1"], id="hosts"),
    ],
)
def test_who_hears_a_broadcast(event: Broadcast, receivers: list[str]) -> None:
    effects = Core(HubConfig()).deliver(meeting(), event)
    assert effects == [Send(conn, event.message) for conn in receivers]


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        pytest.param(
            INSIDE,
            Publish(Broadcast({"type": "peer-left", "id": "guest"}, skip="guest")),
            id="inside",
        ),
        pytest.param(
            WAITING,
            Publish(Broadcast({"type": "waiting-left", "id": "guest"}, hosts=True)),
            id="waiting",
        ),
    ],
)
def test_a_departure_is_announced(removed: Presence, expected: Effect) -> None:
    departed = seat("guest")
    assert Core(HubConfig()).departed(departed, member(departed, removed)) == [expected]


# -- politeness (perfect negotiation) ------------------------------------------------------


@pytest.mark.parametrize(
    ("me_can_rollback", "other_can_rollback", "me_is_newcomer", "expected"),
    [
        (True, True, True, False),  # browsers: the one there first is polite
        (True, True, False, True),
        (False, True, True, False),  # aiortc is never polite
        (False, True, False, False),
        (True, False, True, True),
        (True, False, False, True),
        (False, False, True, False),  # two aiortc peers: the newcomer offers, no collision
        (False, False, False, False),
    ],
)
def test_who_is_polite(
    me_can_rollback: bool, other_can_rollback: bool, me_is_newcomer: bool, expected: bool
) -> None:
    assert polite(me_can_rollback, other_can_rollback, me_is_newcomer) is expected


@pytest.mark.parametrize(
    ("newcomer_can_rollback", "present_can_rollback"),
    [(True, True), (True, False), (False, True)],
    ids=["browsers", "newcomer-browser", "newcomer-aiortc"],
)
def test_exactly_one_of_a_new_pair_is_polite(
    newcomer_can_rollback: bool, present_can_rollback: bool
) -> None:
    core = Core(HubConfig())
    present = seat("staff-1", HOST, can_rollback=present_can_rollback)
    newcomer = seat("guest", presence=WAITING, can_rollback=newcomer_can_rollback)
    local = room(present, newcomer)
    core.deliver(local, Admitted("guest", "guest#1", KEY))

    [admitted, announcement] = core.let_in(newcomer, [member(present), member(newcomer)], ICE)
    assert isinstance(admitted, Send)
    assert isinstance(announcement, Publish)
    [joined] = core.deliver(local, announcement.event)

    newcomer_polite = admitted.message["participants"][0]["polite"]
    assert joined == Send(
        "staff-1#1",
        {
            "type": "peer-joined",
            "peer": {"id": "guest", "name": "Guest", "role": "guest", "media": {}},
            "polite": not newcomer_polite,
        },
    )


# -- rate limits and size caps ----------------------------------------------------------------


def test_flooding_earns_errors_then_strikes_then_a_close() -> None:
    config = HubConfig(rate=0.01, burst=3, max_strikes=3)
    core = Core(config)
    flooder = seat("guest", config=config)
    ping = frame({"type": "ping"})

    answers = [core.receive(flooder, ping, NOW) for _ in range(3 + 4)]

    assert answers[:3] == [protocol.Ping(type="ping")] * 3  # the burst
    assert answers[3:] == [
        [error("guest#1", "rate_limited", "Too many messages; slow down.")],  # the first strike
        [],
        [],
        [Close("guest#1", CloseCode.RATE_LIMITED)],  # one more than tolerated
    ]


def test_every_twentieth_strike_is_told_again() -> None:
    config = HubConfig(rate=0.01, burst=1, max_strikes=100)
    core, flooder = Core(config), seat("guest", config=config)
    answers = [core.receive(flooder, '{"type":"ping"}', NOW) for _ in range(1 + 40)]
    told = [n for n, answer in enumerate(answers) if answer and isinstance(answer, list)]
    assert told == [1, 20, 40]


@pytest.mark.parametrize(
    ("seconds", "allowed"),
    [(0.0, False), (0.019, False), (0.021, True), (60.0, True)],
)
def test_the_bucket_refills_with_time(seconds: float, allowed: bool) -> None:
    bucket = TokenBucket(rate=50.0, burst=2.0, tokens=2.0, stamp=NOW)
    assert [bucket.take(NOW), bucket.take(NOW)] == [True, True]
    assert bucket.take(NOW + seconds) is allowed


def test_the_bucket_holds_no_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=50.0, burst=2.0, tokens=2.0, stamp=NOW)
    taken = [bucket.take(NOW + 3600) for _ in range(3)]
    assert taken == [True, True, False]


@pytest.mark.parametrize(
    ("text", "too_big"),
    [
        pytest.param("x" * 900, False, id="900-ascii"),
        pytest.param("ü" * 480, False, id="480-umlauts-985-bytes"),
        pytest.param("ü" * 600, True, id="600-umlauts-1200-bytes"),
        pytest.param("x" * 1000, True, id="1000-ascii-with-the-json"),
    ],
)
def test_the_size_cap_counts_bytes(text: str, too_big: bool) -> None:
    config = HubConfig(max_message_bytes=1000)
    sender = seat("guest", config=config)
    chat = json.dumps({"type": "chat", "text": text}, ensure_ascii=False)
    answer = Core(config).receive(sender, chat, NOW)
    if too_big:
        assert answer == [Close("guest#1", CloseCode.MESSAGE_TOO_BIG)]
    else:
        assert answer == protocol.Chat(type="chat", text=text)


def test_a_binary_frame_over_the_cap_is_closed() -> None:
    config = HubConfig(max_message_bytes=1000)
    answer = Core(config).receive(seat("guest"), b"{" * 1001, NOW)
    assert answer == [Close("guest#1", CloseCode.MESSAGE_TOO_BIG)]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{", "message"),
        ('{"type":"dance"}', "message"),
        ('{"type":"media","audio":"true","video":true}', "media.audio"),
        ('{"type":"chat","text":""}', "chat.text"),
    ],
)
def test_malformed_input_is_answered_with_an_error(text: str, where: str) -> None:
    answer = Core(HubConfig()).receive(seat("guest"), text, NOW)
    assert isinstance(answer, list)
    [answer] = answer
    assert isinstance(answer, Send)
    assert answer.message["code"] == "invalid_message"
    assert answer.message["message"].startswith(where)


# -- heartbeat ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silent_for", "expected"),
    [
        (29.9, []),
        (30.0, []),
        (30.1, [Close("guest#1", CloseCode.HEARTBEAT_TIMEOUT)]),
    ],
)
def test_the_heartbeat_deadline(silent_for: float, expected: list[Effect]) -> None:
    assert Core(HubConfig()).expired(seat("guest"), NOW + silent_for) == expected


def test_any_frame_is_a_sign_of_life() -> None:
    core, sender = Core(HubConfig(rate=0.01, burst=1)), seat("guest")
    core.receive(sender, "garbage", NOW + 20)
    assert core.expired(sender, NOW + 45) == []
    assert core.expired(sender, NOW + 50.1) == [Close("guest#1", CloseCode.HEARTBEAT_TIMEOUT)]


def test_the_member_is_refreshed_once_per_heartbeat_timeout() -> None:
    core, sender = Core(HubConfig()), seat("guest")
    ping = protocol.Ping(type="ping")
    pong = Send("guest#1", {"type": "pong"})
    local = room(seat("staff-1", HOST), sender)

    assert core.handle(local, sender, ping, NOW + 30.0, WALL) == [pong]
    assert core.handle(local, sender, ping, NOW + 30.1, WALL + 30) == [
        Touch("guest", "guest#1", WALL + 30),
        pong,
    ]
    assert core.handle(local, sender, ping, NOW + 59, WALL + 59) == [pong]


# -- ending ------------------------------------------------------------------------------------


def test_ending_ends_the_room_for_everyone_here_waiting_or_not() -> None:
    effects = Core(HubConfig()).deliver(meeting(), Ended())
    ended = {"type": "ended", "reason": "ended_by_host"}
    assert effects == [
        Send("staff-1#1", ended),
        Close("staff-1#1", CloseCode.ENDED),
        Send("guest#1", ended),
        Close("guest#1", CloseCode.ENDED),
        Send("invite-7#1", ended),
        Close("invite-7#1", CloseCode.ENDED),
    ]


def test_the_room_closing_ends_the_connection() -> None:
    assert Core(HubConfig()).room_closed(seat("guest")) == [
        Send("guest#1", {"type": "ended", "reason": "room_closed"}),
        Close("guest#1", CloseCode.ROOM_CLOSED),
    ]


def test_a_closing_seat_is_not_inside() -> None:
    local = meeting()
    local.seats["guest"].closing = CloseCode.TOO_SLOW
    chat = {"type": "chat"}
    assert Core(HubConfig()).deliver(local, Broadcast(chat)) == [Send("staff-1#1", chat)]
    assert handle(local, "guest", {"type": "chat", "text": "x"}) == [
        error("guest#1", "not_admitted", NOT_ADMITTED)
    ]
