"""RoomAccess, the rooms' doorkeeper: who gets a ticket for which room, when, and as what.

The booking comes from `room_world` (tests/signaling/conftest.py): a video booking on
Tuesday 7 January 2031, 09:00-09:30 UTC (10:00 in Berlin), the clock at 08:50 UTC; its room is
open from 08:45 to 10:00 UTC.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from rooms.access import RoomAccess, RoomRole, Ticket
from rooms.errors import RoomClosed, RoomNotOpen
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session, write_session
from scheduler.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
)
from scheduler.models import Role, Staff, Team
from scheduler.tokens import Audience, TokenService
from tests.signaling import conftest as signaling

room_world = signaling.room_world

START = signaling.START
OPENS = START - timedelta(minutes=15)
CLOSES = START + timedelta(minutes=30 + 30)


# -- helpers -----------------------------------------------------------------------------------


def identity(container, staff: Staff) -> StaffIdentity:
    """As the staff member is now (room_world sets the team after creating them)."""
    with read_session(container.sessions) as session:
        return StaffIdentity.of(session.get(Staff, staff.id))


def new_team(container, name: str) -> int:
    with write_session(container.sessions) as session:
        team = Team(name=name)
        session.add(team)
        session.flush()
        return team.id


def team_of(container, staff: Staff) -> int | None:
    return identity(container, staff).team_id


def member(container, world, role: Role, team_id: int | None) -> StaffIdentity:
    staff = world.advisor([], hours=[], role=role)
    with write_session(container.sessions) as session:
        row = session.get(Staff, staff.id)
        row.team_id = team_id
        session.flush()
        return StaffIdentity.of(row)


def manage_token(room_world) -> str:
    return room_world.manage_url.rsplit("/", 1)[1]


def reference(container, room_world) -> str:
    return container.scheduler.booking_for_token(manage_token(room_world)).reference


def booking_room_id(container, room_world) -> str:
    advisor = identity(container, room_world.advisor)
    return container.rooms.booking_room(advisor, reference(container, room_world)).id


def segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsegment(part: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def rooms(container) -> RoomAccess:
    return container.rooms


@pytest.fixture
def advisor(container, room_world) -> StaffIdentity:
    return identity(container, room_world.advisor)


@pytest.fixture
def room_id(container, room_world) -> str:
    return booking_room_id(container, room_world)


@pytest.fixture
def hotline(container, world, room_world) -> StaffIdentity:
    """Hotline staff of the booking's team."""
    return member(container, world, Role.HOTLINE, team_of(container, room_world.advisor))


# -- the room's window -------------------------------------------------------------------------


def test_a_ticket_before_the_window_is_refused_with_the_opening_time(rooms, room_world):
    room_world.clock.now = OPENS - timedelta(seconds=1)

    with pytest.raises(RoomNotOpen) as refused:
        rooms.link_ticket(room_world.join_token)

    assert refused.value.params["opens_at"] == OPENS
    assert refused.value.params["opens_at"].tzinfo is not None


def test_the_room_opens_fifteen_minutes_before_the_start(rooms, room_world, advisor, room_id):
    room_world.clock.now = OPENS

    assert rooms.link_ticket(room_world.join_token).room.opens_at == OPENS
    assert rooms.staff_ticket(advisor, room_id).holder.role is RoomRole.HOST


def test_the_room_closes_thirty_minutes_after_the_end(rooms, room_world, advisor, room_id):
    room_world.clock.now = CLOSES - timedelta(seconds=1)
    assert rooms.link_ticket(room_world.join_token).room.closes_at == CLOSES

    room_world.clock.now = CLOSES
    with pytest.raises(RoomClosed) as refused:
        rooms.link_ticket(room_world.join_token)
    assert refused.value.params["closes_at"] == CLOSES
    with pytest.raises(RoomClosed):
        rooms.staff_ticket(advisor, room_id)


def test_a_staff_member_is_held_to_the_window_too(rooms, room_world, advisor, room_id):
    room_world.clock.now = OPENS - timedelta(minutes=1)

    with pytest.raises(RoomNotOpen):
        rooms.staff_ticket(advisor, room_id)


def test_a_cancelled_bookings_room_is_closed(container, rooms, room_world, advisor, room_id):
    container.scheduler.cancel(reference(container, room_world))

    with pytest.raises(RoomClosed):
        rooms.link_ticket(room_world.join_token)
    with pytest.raises(RoomClosed):
        rooms.staff_ticket(advisor, room_id)
    assert rooms.booking_room(advisor, reference(container, room_world)).ended


def test_a_reschedule_moves_the_window(container, rooms, room_world, advisor, room_id):
    later = datetime(2031, 1, 7, 10, 30, tzinfo=UTC)  # 11:30 in Berlin

    container.scheduler.reschedule(reference(container, room_world), later)

    room = rooms.booking_room(advisor, reference(container, room_world))
    assert room.id == room_id
    assert (room.opens_at, room.closes_at) == (
        later - timedelta(minutes=15),
        later + timedelta(hours=1),
    )
    with pytest.raises(RoomNotOpen) as refused:
        rooms.link_ticket(room_world.join_token)
    assert refused.value.params["opens_at"] == later - timedelta(minutes=15)
    room_world.clock.now = later - timedelta(minutes=15)
    assert rooms.link_ticket(room_world.join_token).room.id == room_id


def test_an_ended_room_refuses_tickets(rooms, room_world, advisor, room_id):
    issued = rooms.link_ticket(room_world.join_token)

    rooms.end(room_id)

    with pytest.raises(RoomClosed):
        rooms.link_ticket(room_world.join_token)
    with pytest.raises(RoomClosed):
        rooms.staff_ticket(advisor, room_id)
    with pytest.raises(RoomClosed):
        rooms.verify(issued.token)
    with pytest.raises(RoomClosed):
        rooms.invite(advisor, room_id, "Dolmetscher")
    assert rooms.booking_room(advisor, issued.room.booking_reference).ended


def test_ending_twice_or_an_unknown_room_changes_nothing(rooms, room_id):
    rooms.end(room_id)
    rooms.end(room_id)
    rooms.end("no-such-room")


# -- the citizen of a booking ------------------------------------------------------------------


def test_the_join_link_gives_the_guest_ticket_without_the_citizens_name(
    rooms, container, room_world, room_id
):
    # Join links travel (invitations, calendars): their holder is called by the booking
    # reference, never by the name of the citizen who booked.
    ticket = rooms.link_ticket(room_world.join_token)
    window = rooms.link_window(room_world.join_token)

    assert ticket.room.id == room_id
    assert (ticket.holder.participant_id, ticket.holder.role) == ("guest", RoomRole.GUEST)
    assert ticket.holder.name == f"#{reference(container, room_world)}"
    assert window.name == ""


def test_the_guest_may_give_another_name_but_not_a_blank_one(rooms, container, room_world):
    assert rooms.link_ticket(room_world.join_token, " Erika M. ").holder.name == "Erika M."
    blank = rooms.link_ticket(room_world.join_token, "   ").holder.name
    assert blank == f"#{reference(container, room_world)}"


def test_the_manage_link_gives_the_same_guest_ticket_with_the_bookings_name(
    rooms, room_world, room_id
):
    ticket = rooms.link_ticket(manage_token(room_world))

    assert ticket.room.id == room_id
    assert (ticket.holder.participant_id, ticket.holder.role) == ("guest", RoomRole.GUEST)
    assert ticket.holder.name == "Erika Mustermann"
    assert rooms.link_window(manage_token(room_world)).name == "Erika Mustermann"


def test_a_phone_booking_has_no_video_room(container, rooms, room_world, world, advisor):
    service_id = container.scheduler.booking_for_token(manage_token(room_world)).service_id
    response = room_world.client.post(
        "/api/v1/bookings",
        json={
            "service_id": service_id,
            "start": datetime(2031, 1, 7, 13, 0, tzinfo=UTC).isoformat(),
            "channel": "phone",
            "phone": "+49 30 1234567",
            "name": "Max Mustermann",
            "email": "max@example.org",
        },
    )
    assert response.status_code == 201, response.text
    phone_link = response.json()["manage_url"].rsplit("/", 1)[1]

    with pytest.raises(NotFound) as no_room:
        rooms.link_ticket(phone_link)
    assert no_room.value.code == "no_video_room"
    with pytest.raises(NotFound) as no_room:
        rooms.booking_room(advisor, response.json()["reference"])
    assert no_room.value.code == "no_video_room"


def test_a_forged_link_is_invalid(rooms, room_world):
    header, payload, signature = room_world.join_token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"

    with pytest.raises(TokenInvalid):
        rooms.link_ticket(forged)
    with pytest.raises(TokenInvalid):
        rooms.link_ticket("not-a-token")


@pytest.mark.parametrize("link", ["join", "manage"])
def test_an_expired_link_is_expired(rooms, room_world, link):
    room_world.clock.now += timedelta(days=181)
    token = room_world.join_token if link == "join" else manage_token(room_world)

    with pytest.raises(TokenExpired):
        rooms.link_ticket(token)


def test_a_reissued_link_revokes_the_old_ones(container, rooms, room_world, world):
    info = container.desk.reissue_link(world.admin, reference(container, room_world))

    for old in (room_world.join_token, manage_token(room_world)):
        with pytest.raises(TokenRevoked):
            rooms.link_ticket(old)
    _, join = container.scheduler.links(info)
    assert rooms.link_ticket(join).holder.participant_id == "guest"


def test_a_staff_token_or_a_room_ticket_is_no_join_link(container, rooms, room_world):
    staff_token = room_world.staff_headers(room_world.advisor)["Authorization"].split()[1]
    ticket = rooms.link_ticket(room_world.join_token).token

    for token in (staff_token, ticket):
        with pytest.raises(TokenInvalid):
            rooms.link_ticket(token)


# -- staff -------------------------------------------------------------------------------------


def test_the_booked_advisor_and_a_team_colleague_host(container, rooms, room_world, room_id):
    for staff in (room_world.advisor, room_world.colleague):
        ticket = rooms.staff_ticket(identity(container, staff), room_id)
        assert ticket.holder.participant_id == f"staff-{staff.id}"
        assert ticket.holder.role is RoomRole.HOST
        assert ticket.holder.name == staff.name


def test_staff_outside_the_team_may_not_host(container, rooms, room_world, world, room_id):
    other_team = member(container, world, Role.ADVISOR, new_team(container, "Elterngeld"))
    outsiders = [identity(container, room_world.stranger), other_team, world.admin]

    for outsider in outsiders:
        with pytest.raises(PermissionDenied):
            rooms.staff_ticket(outsider, room_id)
        with pytest.raises(NotFound):  # as at the desk: a booking outside one's team
            rooms.booking_room(outsider, reference(container, room_world))


def test_hotline_staff_of_the_team_may_take_over(rooms, hotline, room_id):
    assert rooms.staff_ticket(hotline, room_id).holder.role is RoomRole.HOST


def test_an_unknown_room_or_booking_is_not_found(rooms, advisor):
    with pytest.raises(NotFound):
        rooms.staff_ticket(advisor, "no-such-room")
    with pytest.raises(NotFound):
        rooms.booking_room(advisor, "ZZZZ-ZZZZ")


def test_a_bookings_room_is_made_once_and_found_by_any_spelling_of_the_reference(
    container, rooms, room_world, advisor, room_id
):
    colleague = identity(container, room_world.colleague)
    spelled = reference(container, room_world).lower()

    assert rooms.booking_room(colleague, reference(container, room_world)).id == room_id
    assert rooms.booking_room(advisor, spelled).id == room_id


# -- ad-hoc rooms ------------------------------------------------------------------------------


def test_hotline_staff_open_an_adhoc_room_with_a_guest_link(container, rooms, room_world, hotline):
    room, link = rooms.open_adhoc(hotline, " Rückruf ")

    assert room.title == "Rückruf"
    assert room.booking_reference is None
    lifetime = timedelta(minutes=container.settings.adhoc_room_minutes)
    assert (room.opens_at, room.closes_at) == (
        room_world.clock.now,
        room_world.clock.now + lifetime,
    )
    assert (link.room_id, link.role, link.revoked) == (room.id, RoomRole.GUEST, False)
    ticket = rooms.link_ticket(link.token, "Herr Lehmann")
    assert ticket.room.id == room.id
    assert ticket.holder.participant_id == f"invite-{link.id}"
    assert (ticket.holder.role, ticket.holder.name) == (RoomRole.GUEST, "Herr Lehmann")
    assert rooms.staff_ticket(hotline, room.id).holder.role is RoomRole.HOST


def test_an_adhoc_room_closes_after_its_lifetime(container, rooms, room_world, hotline):
    _, link = rooms.open_adhoc(hotline)
    room_world.clock.advance(minutes=container.settings.adhoc_room_minutes)

    with pytest.raises(RoomClosed):
        rooms.link_ticket(link.token)
    with pytest.raises(RoomClosed):
        rooms.staff_ticket(hotline, link.room_id)


def test_the_team_may_host_an_adhoc_room_and_no_one_else(
    container, rooms, room_world, world, hotline
):
    room, _ = rooms.open_adhoc(hotline)
    colleague = identity(container, room_world.colleague)
    other_team = member(container, world, Role.HOTLINE, new_team(container, "Elterngeld"))

    assert rooms.staff_ticket(colleague, room.id).holder.participant_id == f"staff-{colleague.id}"
    for outsider in (other_team, identity(container, room_world.stranger), world.admin):
        with pytest.raises(PermissionDenied):
            rooms.staff_ticket(outsider, room.id)


def test_an_adhoc_room_of_staff_without_a_team_is_theirs_alone(container, rooms, world):
    opener = member(container, world, Role.HOTLINE, None)
    other = member(container, world, Role.HOTLINE, None)
    room, _ = rooms.open_adhoc(opener)

    assert rooms.staff_ticket(opener, room.id).holder.role is RoomRole.HOST
    with pytest.raises(PermissionDenied):
        rooms.staff_ticket(other, room.id)


# -- invitations -------------------------------------------------------------------------------


def test_an_invitation_gives_an_extra_guest_ticket_with_its_label(rooms, advisor, room_id):
    link = rooms.invite(advisor, room_id, " Dolmetscherin ")

    assert (link.role, link.label, link.revoked) == (RoomRole.EXTRA_GUEST, "Dolmetscherin", False)
    ticket = rooms.link_ticket(link.token)
    assert ticket.room.id == room_id
    assert ticket.holder.participant_id == f"invite-{link.id}"
    assert (ticket.holder.role, ticket.holder.name) == (RoomRole.EXTRA_GUEST, "Dolmetscherin")
    assert rooms.link_ticket(link.token, "Frau Yilmaz").holder.name == "Frau Yilmaz"


def test_invitations_are_listed_and_revoked(rooms, advisor, room_id):
    first = rooms.invite(advisor, room_id, "Dolmetscherin")
    second = rooms.invite(advisor, room_id, "Betreuer")

    revoked = rooms.revoke_invite(advisor, room_id, first.id)

    assert revoked.revoked
    listed = rooms.invites(advisor, room_id)
    assert [(i.id, i.label, i.revoked) for i in listed] == [
        (first.id, "Dolmetscherin", True),
        (second.id, "Betreuer", False),
    ]
    with pytest.raises(TokenRevoked):
        rooms.link_ticket(first.token)
    assert rooms.link_ticket(second.token).holder.name == "Betreuer"
    assert rooms.revoke_invite(advisor, room_id, first.id).revoked  # again: no change, no error


def test_a_ticket_fetched_before_the_revocation_no_longer_enters(rooms, advisor, room_id):
    link = rooms.invite(advisor, room_id, "Dolmetscherin")
    ticket = rooms.link_ticket(link.token)

    rooms.revoke_invite(advisor, room_id, link.id)

    with pytest.raises(TokenRevoked):
        rooms.verify(ticket.token)


def test_an_invitation_of_one_room_never_opens_another(rooms, advisor, room_id):
    other, _ = rooms.open_adhoc(advisor)
    link = rooms.invite(advisor, room_id, "Dolmetscherin")

    ticket = rooms.link_ticket(link.token)

    assert ticket.room.id == room_id
    assert rooms.verify(ticket.token).room_id == room_id
    assert rooms.invites(advisor, other.id)[0].id != link.id  # only its own guest link
    with pytest.raises(NotFound):
        rooms.revoke_invite(advisor, other.id, link.id)


def test_a_label_longer_than_100_characters_is_refused(rooms, advisor, room_id):
    assert rooms.invite(advisor, room_id, "x" * 100).label == "x" * 100

    with pytest.raises(InvalidRequest) as refused:
        rooms.invite(advisor, room_id, "x" * 101)

    assert refused.value.code == "label_too_long"
    assert refused.value.params["field"] == "label"


def test_an_invitation_may_be_made_ahead_but_not_for_a_closed_room(
    rooms, room_world, advisor, room_id
):
    room_world.clock.now = OPENS - timedelta(days=1)
    link = rooms.invite(advisor, room_id, "Dolmetscherin")
    with pytest.raises(RoomNotOpen):
        rooms.link_ticket(link.token)

    room_world.clock.now = CLOSES
    with pytest.raises(RoomClosed):
        rooms.invite(advisor, room_id, "Betreuer")


def test_only_hosts_manage_invitations(container, rooms, room_world, advisor, room_id):
    link = rooms.invite(advisor, room_id, "Dolmetscherin")
    stranger = identity(container, room_world.stranger)

    with pytest.raises(PermissionDenied):
        rooms.invite(stranger, room_id, "Betreuer")
    with pytest.raises(PermissionDenied):
        rooms.invites(stranger, room_id)
    with pytest.raises(PermissionDenied):
        rooms.revoke_invite(stranger, room_id, link.id)
    with pytest.raises(NotFound):
        rooms.revoke_invite(advisor, room_id, link.id + 1000)


# -- the tickets themselves --------------------------------------------------------------------


def assert_verifies(rooms: RoomAccess, ticket: Ticket) -> None:
    checked = rooms.verify(ticket.token)
    assert checked == ticket.holder
    assert checked.room_id == ticket.room.id


def test_verify_returns_whom_the_ticket_was_issued_to(
    container, rooms, room_world, advisor, room_id
):
    link = rooms.invite(advisor, room_id, "Dolmetscherin")
    guest = rooms.link_ticket(room_world.join_token, "Erika")
    host = rooms.staff_ticket(advisor, room_id)
    extra = rooms.link_ticket(link.token)

    for ticket in (guest, host, extra):
        assert_verifies(rooms, ticket)
    assert [
        (t.holder.participant_id, t.holder.role, t.holder.name) for t in (guest, host, extra)
    ] == [
        ("guest", RoomRole.GUEST, "Erika"),
        (f"staff-{advisor.id}", RoomRole.HOST, advisor.name),
        (f"invite-{link.id}", RoomRole.EXTRA_GUEST, "Dolmetscherin"),
    ]
    assert guest.holder.ticket_id != rooms.link_ticket(room_world.join_token).holder.ticket_id
    assert guest.holder.closes_at == CLOSES


def test_a_ticket_is_for_its_room_only(rooms, room_world, advisor):
    other, _ = rooms.open_adhoc(advisor)
    header, payload, signature = rooms.link_ticket(room_world.join_token).token.split(".")
    claims = unsegment(payload)

    tampered = f"{header}.{segment({**claims, 'sub': other.id})}.{signature}"

    with pytest.raises(TokenInvalid):
        rooms.verify(tampered)


def test_a_ticket_expires_after_its_lifetime(container, rooms, room_world):
    ticket = rooms.link_ticket(room_world.join_token)
    lifetime = timedelta(minutes=container.settings.room_ticket_minutes)
    assert ticket.holder.expires_at == room_world.clock.now + lifetime

    room_world.clock.advance(seconds=lifetime.total_seconds() - 1)
    assert rooms.verify(ticket.token).participant_id == "guest"
    room_world.clock.advance(seconds=1)
    with pytest.raises(TokenExpired):
        rooms.verify(ticket.token)


def test_a_ticket_signed_with_another_secret_is_invalid(container, rooms, room_world, room_id):
    clock = room_world.clock
    other = TokenService(["another-secret-that-is-long-enough-4567"], "http://testserver", clock)
    extra = {"pid": "guest", "role": "guest", "name": "Erika", "jti": "x"}
    token = other.issue(Audience.ROOM, room_id, 1, clock.now, timedelta(minutes=5), extra=extra)

    with pytest.raises(TokenInvalid):
        rooms.verify(token)


@pytest.mark.parametrize(
    "extra",
    [
        {"pid": "guest", "role": "admin", "name": "Erika", "jti": "x"},
        {"pid": "guest", "role": "guest", "name": "Erika"},
        {"pid": 7, "role": "guest", "name": "Erika", "jti": "x"},
    ],
)
def test_a_genuine_ticket_with_odd_claims_is_invalid(container, rooms, room_world, room_id, extra):
    now = room_world.clock.now
    token = container.tokens.issue(Audience.ROOM, room_id, 1, now, timedelta(minutes=5), extra)

    with pytest.raises(TokenInvalid):
        rooms.verify(token)


def test_a_join_link_is_no_ticket(rooms, room_world):
    with pytest.raises(TokenInvalid):
        rooms.verify(room_world.join_token)


def test_a_ticket_never_outlives_the_room(rooms, room_world, advisor, room_id):
    room_world.clock.now = CLOSES - timedelta(minutes=3)

    ticket = rooms.staff_ticket(advisor, room_id)

    assert ticket.holder.expires_at == CLOSES
    assert rooms.verify(ticket.token).expires_at == CLOSES
