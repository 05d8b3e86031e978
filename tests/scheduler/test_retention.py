"""The retention purge against a real database: what is erased, exactly when, and what stays.

The settings keep personal data for 90 days (the default). Times are given in Europe/Berlin;
in January that is UTC+1.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from notifications.models import OutboxMessage
from notifications.retention import ERASERS as OUTBOX_ERASERS
from rooms.models import Room, RoomInvite
from rooms.retention import ERASERS as ROOM_ERASERS
from scheduler.accounts import StaffIdentity
from scheduler.db import Base, read_session
from scheduler.errors import AuthenticationFailed, TokenExpired
from scheduler.idempotency import Idempotency
from scheduler.models import (
    Absence,
    AuditEntry,
    Booking,
    BookingStatus,
    IdempotencyRecord,
    LoginFailure,
)
from scheduler.requests import BookingRequest
from scheduler.retention import ERASERS, DailyPurge, Retention
from scheduler.views import BookingInfo
from tests.conftest import PASSWORD

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
WEDNESDAY = date(2031, 1, 8)
RETENTION = timedelta(days=90)
SECOND = timedelta(seconds=1)
NOTHING = {
    "documents_erased": 0,
    "bookings_anonymised": 0,
    "idempotency_records_deleted": 0,
    "audit_entries_deleted": 0,
    "expired_holds_deleted": 0,
    "login_failures_deleted": 0,
    "absence_reasons_cleared": 0,
    "outbox_messages_deleted": 0,
    "room_invites_deleted": 0,
    "rooms_deleted": 0,
    "waitlist_offers_deleted": 0,
    "waitlist_entries_deleted": 0,
    "callback_attempts_deleted": 0,
    "callback_requests_deleted": 0,
}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


def book(
    container,
    service,
    start: datetime,
    idempotency: Idempotency | None = None,
    email: str = "Erika@example.org",
    channel: str = "video",
):
    placed = container.scheduler.book(
        BookingRequest(
            service_id=service.id,
            start=start,
            channel=channel,
            name="Erika Mustermann",
            email=email,
            phone="+49 391 1234567",
            language="en",
            notes="Bitte den Bescheid vom März mitbesprechen.",
            interpreter_language="Ukrainisch",
            sign_language=True,
            wheelchair_access=channel == "in_person",
        ),
        idempotency=idempotency,
        respond=lambda info: {"reference": info.reference, "name": "Erika Mustermann"},
    )
    assert placed.booking is not None
    return stored(container, placed.booking.reference)


def stored(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking is not None
        return booking


def rows(container, model, *where) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def snapshot(container) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, for comparing the whole database before and after."""
    with read_session(container.sessions) as session:
        return {
            table.name: sorted(
                (tuple(row) for row in session.execute(table.select())),
                key=repr,
            )
            for table in Base.metadata.sorted_tables
        }


def purge(container, **expected: int) -> dict[str, int]:
    counts = container.retention.purge()
    assert counts == NOTHING | expected
    return counts


def assert_personal(booking: Booking) -> None:
    assert booking.name == "Erika Mustermann"
    assert booking.email == "Erika@example.org"
    assert booking.email_key == "erika@example.org"
    assert booking.phone == "+49 391 1234567"
    assert booking.notes
    assert booking.interpreter_language == "Ukrainisch"
    assert booking.sign_language


def assert_anonymous(booking: Booking) -> None:
    assert booking.name == ""
    assert booking.email is None
    assert booking.email_key is None
    assert booking.phone is None
    assert booking.notes == ""
    assert booking.interpreter_language is None
    assert not booking.sign_language
    assert not booking.wheelchair_access


@pytest.fixture
def staffed(world):
    service = world.service(name="Wohngeld")
    return service, StaffIdentity.of(world.advisor([service]))


@pytest.fixture
def service(staffed):
    return staffed[0]


@pytest.fixture
def advisor(staffed) -> StaffIdentity:
    return staffed[1]


# -- bookings ----------------------------------------------------------------------------------


def test_a_booking_is_anonymised_one_second_after_its_retention_and_not_before(
    container, service, clock
):
    booking = book(container, service, local(TUESDAY, 10))
    clock.now = booking.end_at + RETENTION - SECOND
    purge(container)
    assert_personal(stored(container, booking.reference))

    clock.now = booking.end_at + RETENTION + SECOND
    purge(container, bookings_anonymised=1, outbox_messages_deleted=3)
    assert_anonymous(stored(container, booking.reference))


def test_a_visit_is_anonymised_with_its_need_of_wheelchair_access(container, world, clock):
    service = world.service(name="Pflege", channels=["in_person"])
    world.advisor([service])
    booking = book(container, service, local(TUESDAY, 10), channel="in_person")
    assert booking.wheelchair_access

    clock.now = booking.end_at + RETENTION + SECOND
    purge(container, bookings_anonymised=1, outbox_messages_deleted=3)
    assert_anonymous(stored(container, booking.reference))


def test_the_magic_link_of_an_anonymised_booking_counts_as_expired(container, service, clock):
    booking = book(container, service, local(TUESDAY, 10))
    manage, _ = container.scheduler.links(BookingInfo.of(booking))
    clock.now = booking.end_at + RETENTION + SECOND
    purge(container, bookings_anonymised=1, outbox_messages_deleted=3)

    with pytest.raises(TokenExpired):
        container.scheduler.booking_for_token(manage)


def test_anonymising_keeps_what_statistics_need_and_bumps_nothing(
    container, service, advisor, clock
):
    booking = book(container, service, local(TUESDAY, 10))
    clock.now = booking.start_at + timedelta(minutes=5)
    container.desk.set_outcome(advisor, booking.reference, BookingStatus.NO_SHOW)
    before = stored(container, booking.reference)

    clock.now = booking.end_at + RETENTION + SECOND
    container.retention.purge()

    after = stored(container, booking.reference)
    assert_anonymous(after)
    kept = [
        *("id", "reference", "service_id", "advisor_id", "channel", "status", "language"),
        *("start_at", "end_at", "blocked_until", "token_version", "sequence"),
        *("created_by_id", "created_at", "updated_at", "cancelled_at"),
    ]
    assert {k: getattr(after, k) for k in kept} == {k: getattr(before, k) for k in kept}
    assert after.status == BookingStatus.NO_SHOW


def test_a_booking_cancelled_long_before_its_appointment_counts_from_the_cancellation(
    container, service, clock
):
    booking = book(container, service, local(date(2031, 2, 25), 10))
    clock.advance(hours=1)
    container.scheduler.cancel(booking.reference)
    cancelled_at = stored(container, booking.reference).cancelled_at
    assert cancelled_at is not None
    assert cancelled_at < booking.end_at

    clock.now = cancelled_at + RETENTION - SECOND
    purge(container)
    assert_personal(stored(container, booking.reference))

    clock.now = cancelled_at + RETENTION + SECOND
    counts = container.retention.purge()
    assert counts["bookings_anonymised"] == 1
    assert_anonymous(stored(container, booking.reference))
    assert stored(container, booking.reference).status == BookingStatus.CANCELLED


def test_a_booking_within_its_retention_keeps_everything_that_belongs_to_it(
    container, service, advisor, clock
):
    old = book(container, service, local(TUESDAY, 10))
    recent = book(container, service, local(WEDNESDAY, 10))
    for booking in (old, recent):
        clock.now = booking.start_at - timedelta(minutes=5)
        container.desk.booking(advisor, booking.reference)
        room = container.rooms.booking_room(advisor, booking.reference)
        container.rooms.invite(advisor, room.id, "Dolmetscherin Frau Kovalenko")
    recent_rows = {
        "outbox": rows(container, OutboxMessage, OutboxMessage.booking_id == recent.id),
        "audit": rows(container, AuditEntry, AuditEntry.booking_id == recent.id),
        "rooms": rows(container, Room, Room.booking_id == recent.id),
    }
    assert all(recent_rows.values())

    clock.now = old.end_at + RETENTION + SECOND
    container.retention.purge()

    assert_anonymous(stored(container, old.reference))
    assert_personal(stored(container, recent.reference))
    assert recent_rows == {
        "outbox": rows(container, OutboxMessage, OutboxMessage.booking_id == recent.id),
        "audit": rows(container, AuditEntry, AuditEntry.booking_id == recent.id),
        "rooms": rows(container, Room, Room.booking_id == recent.id),
    }
    assert rows(container, RoomInvite) == 1


# -- what links to a booking -------------------------------------------------------------------


def test_outbox_messages_of_a_booking_go_with_its_data(container, service, clock):
    booking = book(container, service, local(TUESDAY, 10))
    container.outbox.deliver_due()  # the confirmation is sent and kept with its rendered body
    messages = rows(container, OutboxMessage, OutboxMessage.booking_id == booking.id)
    assert messages == 3  # the confirmation and two reminders

    clock.now = booking.end_at + RETENTION - SECOND
    purge(container)
    assert rows(container, OutboxMessage) == messages

    clock.now = booking.end_at + RETENTION + SECOND
    purge(container, bookings_anonymised=1, outbox_messages_deleted=messages)
    assert rows(container, OutboxMessage) == 0


def test_audit_entries_are_kept_as_long_as_the_bookings_data(container, service, advisor, clock):
    booking = book(container, service, local(TUESDAY, 10))
    container.desk.booking(advisor, booking.reference)
    clock.now = booking.start_at + timedelta(minutes=1)
    container.desk.set_outcome(advisor, booking.reference, BookingStatus.COMPLETED)
    assert rows(container, AuditEntry, AuditEntry.booking_id == booking.id) == 2

    clock.now = booking.end_at + RETENTION - SECOND
    assert container.retention.purge()["audit_entries_deleted"] == 0

    clock.now = booking.end_at + RETENTION + SECOND
    assert container.retention.purge()["audit_entries_deleted"] == 2
    assert rows(container, AuditEntry) == 0


def test_the_room_of_a_booking_and_its_invitations_go_with_its_data(
    container, service, advisor, clock
):
    booking = book(container, service, local(TUESDAY, 10))
    clock.now = booking.start_at - timedelta(minutes=5)
    room = container.rooms.booking_room(advisor, booking.reference)
    container.rooms.invite(advisor, room.id, "Dolmetscherin Frau Kovalenko")
    container.rooms.invite(advisor, room.id, "Betreuer Herr Schulz")

    clock.now = booking.end_at + RETENTION - SECOND
    purge(container)
    assert rows(container, RoomInvite) == 2

    clock.now = booking.end_at + RETENTION + SECOND
    purge(
        container,
        bookings_anonymised=1,
        outbox_messages_deleted=3,
        room_invites_deleted=2,
        rooms_deleted=1,
    )
    assert rows(container, Room) == 0
    assert rows(container, RoomInvite) == 0


def test_an_ad_hoc_room_goes_retention_after_it_closed(container, advisor, clock):
    info, _ = container.rooms.open_adhoc(advisor, "Rückruf Herr Yilmaz")
    container.rooms.invite(advisor, info.id, "Tochter von Herrn Yilmaz")

    clock.now = info.closes_at + RETENTION - SECOND
    purge(container)
    assert rows(container, Room) == 1

    clock.now = info.closes_at + RETENTION + SECOND
    purge(container, rooms_deleted=1, room_invites_deleted=2)
    assert rows(container, RoomInvite) == 0


def test_an_ended_ad_hoc_room_counts_from_its_end(container, advisor, clock):
    info, _ = container.rooms.open_adhoc(advisor, "Rückruf Herr Yilmaz")
    clock.advance(minutes=20)
    container.rooms.end(info.id)
    ended = clock.now
    assert ended < info.closes_at

    clock.now = ended + RETENTION - SECOND
    purge(container)
    clock.now = ended + RETENTION + SECOND
    purge(container, rooms_deleted=1, room_invites_deleted=1)


def test_stored_idempotent_answers_go_retention_after_they_were_made(container, service, clock):
    made = clock.now
    booking = book(container, service, local(TUESDAY, 10), Idempotency("key-1", "f" * 64))
    clock.now = made + RETENTION - SECOND
    purge(container)
    assert rows(container, IdempotencyRecord) == 1

    clock.now = made + RETENTION + SECOND
    counts = container.retention.purge()
    assert counts["idempotency_records_deleted"] == 1
    assert rows(container, IdempotencyRecord) == 0
    assert_personal(stored(container, booking.reference))  # its appointment is later


# -- records without a booking -------------------------------------------------------------


def test_an_expired_hold_is_deleted_an_hour_after_it_ran_out(container, service, clock):
    first = container.scheduler.hold(service.id, local(TUESDAY, 10), "video")
    clock.advance(minutes=30)
    later = container.scheduler.hold(service.id, local(TUESDAY, 11), "video")

    clock.now = first.expires_at + timedelta(hours=1) - SECOND
    purge(container)
    assert rows(container, Booking) == 2

    clock.now = first.expires_at + timedelta(hours=1) + SECOND
    purge(container, expired_holds_deleted=1)
    with read_session(container.sessions) as session:
        assert session.scalars(select(Booking.hold_expires_at)).all() == [later.expires_at]


def test_failed_logins_are_deleted_after_a_day(container, world, clock):
    with pytest.raises(AuthenticationFailed):
        container.accounts.login("admin@example.org", "wrong " + PASSWORD, "198.51.100.7")
    failed = clock.now

    clock.now = failed + timedelta(days=1) - SECOND
    purge(container)
    assert rows(container, LoginFailure) == 1

    clock.now = failed + timedelta(days=1) + SECOND
    purge(container, login_failures_deleted=1)
    assert rows(container, LoginFailure) == 0


def test_the_reason_of_an_absence_is_cleared_but_the_absence_kept(container, world, advisor, clock):
    start, end = local(TUESDAY, 9), local(TUESDAY, 12)
    container.catalogue.add_absence(world.admin, advisor.id, start, end, "Arzttermin")

    clock.now = end + RETENTION - SECOND
    purge(container)
    assert rows(container, Absence, Absence.reason == "Arzttermin") == 1

    clock.now = end + RETENTION + SECOND
    purge(container, absence_reasons_cleared=1)
    with read_session(container.sessions) as session:
        absence = session.scalars(select(Absence)).one()
    assert (absence.reason, absence.start_at, absence.end_at) == ("", start, end)


# -- the run as a whole ----------------------------------------------------------------------


@pytest.fixture
def a_bit_of_everything(container, world, service, advisor, clock):
    """One of each record, all due at `clock.now` when the fixture returns."""
    booking = book(container, service, local(TUESDAY, 10), Idempotency("key-1", "f" * 64))
    container.scheduler.hold(service.id, local(TUESDAY, 11), "video")
    with pytest.raises(AuthenticationFailed):
        container.accounts.login("admin@example.org", "wrong", "198.51.100.7")
    container.catalogue.add_absence(
        world.admin, advisor.id, local(TUESDAY, 8), local(TUESDAY, 9), "Arzttermin"
    )
    clock.now = booking.start_at - timedelta(minutes=5)
    container.desk.booking(advisor, booking.reference)
    room = container.rooms.booking_room(advisor, booking.reference)
    container.rooms.invite(advisor, room.id, "Dolmetscherin")
    container.outbox.deliver_due()
    clock.now = booking.end_at + RETENTION + SECOND
    return booking


EVERYTHING = {
    # The documents' own purge is tested in tests/documents/test_document_purge.py.
    "documents_erased": 0,
    "bookings_anonymised": 1,
    "idempotency_records_deleted": 1,
    "audit_entries_deleted": 1,
    "expired_holds_deleted": 1,
    "login_failures_deleted": 1,
    "absence_reasons_cleared": 1,
    "outbox_messages_deleted": 3,
    "room_invites_deleted": 1,
    "rooms_deleted": 1,
    # The purges of the waiting list and of the callbacks are tested in
    # tests/scheduler/test_waitlist.py and tests/scheduler/test_callbacks.py.
    "waitlist_offers_deleted": 0,
    "waitlist_entries_deleted": 0,
    "callback_attempts_deleted": 0,
    "callback_requests_deleted": 0,
}


def test_one_run_erases_each_kind_and_a_second_changes_nothing(container, a_bit_of_everything):
    assert container.retention.purge() == EVERYTHING
    after_first = snapshot(container)
    assert container.retention.purge() == NOTHING
    assert snapshot(container) == after_first


def test_a_dry_run_counts_what_a_run_erases_and_changes_nothing(container, a_bit_of_everything):
    before = snapshot(container)
    assert container.retention.purge(dry_run=True) == EVERYTHING
    assert snapshot(container) == before
    assert container.retention.purge() == EVERYTHING


def test_many_records_are_erased_in_batches(container, service, clock):
    starts = [local(TUESDAY, h, m) for h in (9, 10, 11) for m in (0, 30)]
    bookings = [
        book(container, service, start, email=f"person{n}@example.org")
        for n, start in enumerate(starts)
    ]
    retention = Retention(
        container.sessions,
        RETENTION,
        [*ERASERS, *OUTBOX_ERASERS, *ROOM_ERASERS],
        clock=clock,
        batch_size=4,
    )
    clock.now = max(b.end_at for b in bookings) + RETENTION + SECOND
    counts = retention.purge()
    assert counts["bookings_anonymised"] == 6
    assert counts["outbox_messages_deleted"] == 18
    for booking in bookings:
        assert_anonymous(stored(container, booking.reference))


def test_processes_purging_at_the_same_time_share_out_the_work(container, service, clock):
    starts = [local(TUESDAY, h, m) for h in (9, 10, 11, 13, 14, 15) for m in (0, 30)]
    for n, start in enumerate(starts):
        book(container, service, start, email=f"person{n}@example.org")
    clock.now = local(TUESDAY, 16) + RETENTION
    erasers = [*ERASERS, *OUTBOX_ERASERS, *ROOM_ERASERS]
    purges = [
        Retention(container.sessions, RETENTION, erasers, clock=clock, batch_size=2)
        for _ in range(3)
    ]
    with ThreadPoolExecutor(len(purges)) as pool:
        results = list(pool.map(lambda retention: retention.purge(), purges))
    assert sum(r["bookings_anonymised"] for r in results) == len(starts)
    assert sum(r["outbox_messages_deleted"] for r in results) == 3 * len(starts)
    assert rows(container, Booking, Booking.email.is_not(None)) == 0


def test_a_stopped_run_ends_before_its_next_batch(container, a_bit_of_everything):
    before = snapshot(container)
    stop = threading.Event()
    stop.set()
    assert container.retention.purge(stop=stop) == NOTHING
    assert snapshot(container) == before


def test_eraser_names_must_be_unique(container):
    with pytest.raises(ValueError, match="unique"):
        Retention(container.sessions, RETENTION, [*ERASERS, ERASERS[0]])


# -- the daily run -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Before the time of day: today; at or after it: tomorrow.
        (local(TUESDAY, 3, 29), local(TUESDAY, 3, 30)),
        (local(TUESDAY, 3, 30), local(WEDNESDAY, 3, 30)),
        (local(TUESDAY, 23, 59), local(WEDNESDAY, 3, 30)),
        # Across the change to summer time the run stays at 03:30 local time.
        (local(date(2031, 3, 29), 12), datetime(2031, 3, 30, 1, 30, tzinfo=UTC)),
        (local(date(2031, 3, 30), 12), datetime(2031, 3, 31, 1, 30, tzinfo=UTC)),
    ],
)
def test_the_daily_run_is_at_the_local_time_of_day(container, now, expected):
    schedule = DailyPurge(container.retention, time(3, 30), "Europe/Berlin")
    assert schedule.next_run(now) == expected
