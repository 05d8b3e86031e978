"""The booking engine against a real database: slot search, holds, booking, cancel, reschedule,
the staff desk. Times are given in Europe/Berlin; in January that is UTC+1."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduler.accounts import StaffIdentity
from scheduler.catalogue import HoursSpec
from scheduler.db import read_session, write_session
from scheduler.errors import (
    BookingCancelled,
    BookingInPast,
    BookingNotStarted,
    ChannelNotOffered,
    ClosedDay,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OffGrid,
    OutsideBookingWindow,
    SlotUnavailable,
    TooManyOpenBookings,
)
from scheduler.idempotency import Idempotency
from scheduler.models import (
    LONGEST_BUFFER_MINUTES,
    LONGEST_DURATION_MINUTES,
    AuditEntry,
    Booking,
    BookingStatus,
    Role,
    Staff,
)
from scheduler.references import REFERENCE_ALPHABET, new_reference, reference_chars
from scheduler.requests import BookingRequest

BERLIN = ZoneInfo("Europe/Berlin")
HOLIDAY_MONDAY = date(2031, 1, 6)  # Epiphany, a public holiday in Saxony-Anhalt
TUESDAY = date(2031, 1, 7)
WEDNESDAY = date(2031, 1, 8)
ALL_DAY_GRID = [
    f"{h:02}:{m:02}" for h1, h2 in ((9, 12), (13, 16)) for h in range(h1, h2) for m in (0, 30)
]
REFERENCE = re.compile(f"^[{REFERENCE_ALPHABET}]{{4}}-[{REFERENCE_ALPHABET}]{{4}}$")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


def wall(slots) -> list[str]:
    return [slot.start.astimezone(BERLIN).strftime("%H:%M") for slot in slots]


def request(service, start: datetime, email: str = "erika@example.org", **kw) -> BookingRequest:
    return BookingRequest(
        service_id=service.id,
        start=start,
        channel="video",
        name="Erika Mustermann",
        email=email,
        **kw,
    )


def book(container, service, start: datetime, email: str = "erika@example.org", **kw):
    placed = container.scheduler.book(request(service, start, email, **kw))
    assert placed.booking is not None
    return placed.booking


def stored(container, reference: str) -> Booking:
    with read_session(container.sessions) as session:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking is not None
        return booking


def booking_rows(container) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(Booking)) or 0


# -- slot search ---------------------------------------------------------------------------


def test_slots_follow_the_weekly_hours_on_a_working_day(container, world):
    service = world.service()
    world.advisor([service], password=None)
    slots = container.scheduler.slots(service.id, TUESDAY, TUESDAY)
    assert wall(slots) == ALL_DAY_GRID
    assert slots[0].start == datetime(2031, 1, 7, 8, 0, tzinfo=UTC)
    assert slots[0].end - slots[0].start == timedelta(minutes=30)


def test_slots_use_only_the_advisors_own_hours(container, world):
    service = world.service()
    world.advisor([service], hours=[HoursSpec(1, time(10), time(11))], password=None)
    assert wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY)) == ["10:00", "10:30"]
    assert container.scheduler.slots(service.id, WEDNESDAY, WEDNESDAY) == []


def test_no_slots_on_the_weekend(container, world):
    service = world.service()
    world.advisor([service], password=None)
    assert container.scheduler.slots(service.id, date(2031, 1, 11), date(2031, 1, 12)) == []


def test_no_slots_on_a_regional_public_holiday(container, world):
    service = world.service()
    world.advisor([service], password=None)
    slots = container.scheduler.slots(service.id, HOLIDAY_MONDAY, TUESDAY)
    assert {s.start.astimezone(BERLIN).date() for s in slots} == {TUESDAY}


def test_no_slots_on_new_years_day(container, world, clock):
    clock.now = datetime(2030, 12, 30, 7, 0, tzinfo=UTC)
    service = world.service()
    world.advisor([service], password=None)
    slots = container.scheduler.slots(service.id, date(2030, 12, 31), date(2031, 1, 2))
    days = {s.start.astimezone(BERLIN).date() for s in slots}
    assert days == {date(2030, 12, 31), date(2031, 1, 2)}


def test_booking_on_a_public_holiday_is_refused(container, world, clock):
    clock.now = datetime(2030, 12, 30, 7, 0, tzinfo=UTC)
    service = world.service()
    world.advisor([service], password=None)
    with pytest.raises(ClosedDay):
        book(container, service, local(date(2031, 1, 1), 9))


def test_closure_day_removes_slots_and_refuses_bookings(container, world):
    service = world.service()
    world.advisor([service], password=None)
    container.catalogue.add_closure(world.admin, WEDNESDAY, "Betriebsausflug")
    slots = container.scheduler.slots(service.id, TUESDAY, date(2031, 1, 9))
    assert {s.start.astimezone(BERLIN).date() for s in slots} == {TUESDAY, date(2031, 1, 9)}
    with pytest.raises(ClosedDay):
        book(container, service, local(WEDNESDAY, 9))


def test_absence_removes_the_slots_it_covers(container, world):
    service = world.service()
    advisor = world.advisor([service], password=None)
    container.catalogue.add_absence(
        world.admin, advisor.id, local(TUESDAY, 9), local(TUESDAY, 10, 15), "Arzttermin"
    )
    slots = wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert slots == [s for s in ALL_DAY_GRID if s not in ("09:00", "09:30", "10:00")]


def test_absence_of_one_advisor_leaves_the_other_free(container, world):
    service = world.service()
    absent = world.advisor([service], password=None)
    present = world.advisor([service], password=None)
    container.catalogue.add_absence(world.admin, absent.id, local(TUESDAY, 0), local(TUESDAY, 23))
    slots = container.scheduler.slots(service.id, TUESDAY, TUESDAY)
    assert wall(slots) == ALL_DAY_GRID
    assert {s.advisor_ids for s in slots} == {(present.id,)}


def test_a_booking_takes_its_slot_out_of_the_search(container, world):
    service = world.service()
    world.advisor([service], password=None)
    book(container, service, local(TUESDAY, 10))
    slots = wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert slots == [s for s in ALL_DAY_GRID if s != "10:00"]


def test_the_buffer_after_a_booking_blocks_overlapping_slots(container, world):
    service = world.service(buffer_minutes=15, slot_interval_minutes=30)
    world.advisor([service], password=None)
    book(container, service, local(TUESDAY, 10))
    # 10:00 blocks [10:00, 10:45); a 09:30 slot would need [09:30, 10:15) incl. its buffer.
    slots = wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert "09:00" in slots
    assert "09:30" not in slots
    assert "10:00" not in slots
    assert "10:30" not in slots
    assert "11:00" in slots


def test_the_longest_booking_blocks_the_next_day_from_the_day_before(container, world):
    """A calendar read looks back only as far as a booking can block (LONGEST_BOOKING): one
    as long as a service may be, with the longest buffer, still blocks the next day."""
    service = world.service(
        duration_minutes=LONGEST_DURATION_MINUTES, buffer_minutes=LONGEST_BUFFER_MINUTES
    )
    hours = [HoursSpec(day, time(8), time(16)) for day in (TUESDAY.weekday(), WEDNESDAY.weekday())]
    world.advisor([service], hours=hours, password=None)
    assert wall(container.scheduler.slots(service.id, WEDNESDAY, WEDNESDAY)) == ["08:00"]

    book(container, service, local(TUESDAY, 8))  # blocks until Wednesday 16:00

    assert container.scheduler.slots(service.id, WEDNESDAY, WEDNESDAY) == []
    with pytest.raises(SlotUnavailable):
        book(container, service, local(WEDNESDAY, 8), email="max@example.org")


def test_a_booking_of_one_advisor_leaves_the_slot_to_another(container, world):
    service = world.service()
    first = world.advisor([service], password=None)
    second = world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 10))
    assert booking.advisor_id == first.id
    slot = next(
        s for s in container.scheduler.slots(service.id, TUESDAY, TUESDAY) if s.start.hour == 9
    )
    assert slot.advisor_ids == (second.id,)


def test_slots_respect_the_minimum_notice(container, world, clock):
    clock.now = datetime(2031, 1, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 local
    service = world.service(min_notice_minutes=60)
    world.advisor([service], password=None)
    slots = wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert slots[0] == "10:00"
    with pytest.raises(OutsideBookingWindow):
        book(container, service, local(TUESDAY, 9, 30))
    assert book(container, service, local(TUESDAY, 10)).start == local(TUESDAY, 10)


def test_slots_end_at_the_horizon(container, world):
    service = world.service(horizon_days=7)
    world.advisor([service], password=None)
    slots = container.scheduler.slots(service.id, date(2031, 1, 13), date(2031, 1, 15))
    assert {s.start.astimezone(BERLIN).date() for s in slots} == {date(2031, 1, 13)}
    with pytest.raises(OutsideBookingWindow):
        book(container, service, local(date(2031, 1, 14), 9))


def test_slots_never_lie_in_the_past(container, world, clock):
    clock.now = datetime(2031, 1, 8, 7, 0, tzinfo=UTC)  # Wednesday
    service = world.service()
    world.advisor([service], password=None)
    slots = container.scheduler.slots(service.id, TUESDAY, WEDNESDAY)
    assert {s.start.astimezone(BERLIN).date() for s in slots} == {WEDNESDAY}


# -- choosing the advisor ----------------------------------------------------------------


def test_booking_goes_to_the_lowest_id_when_loads_are_equal(container, world):
    service = world.service()
    first = world.advisor([service], password=None)
    world.advisor([service], password=None)
    assert book(container, service, local(TUESDAY, 9)).advisor_id == first.id


def test_booking_goes_to_the_least_loaded_advisor_of_the_day(container, world):
    service = world.service()
    first = world.advisor([service], password=None)
    second = world.advisor([service], password=None)
    chosen = [
        book(container, service, local(TUESDAY, 9, minute), f"p{minute}@example.org").advisor_id
        for minute in (0, 30)
    ]
    chosen.append(book(container, service, local(TUESDAY, 10), "p60@example.org").advisor_id)
    assert chosen == [first.id, second.id, first.id]


def test_load_on_other_days_does_not_count(container, world):
    service = world.service()
    first = world.advisor([service], password=None)
    world.advisor([service], password=None)
    assert book(container, service, local(WEDNESDAY, 9), "a@example.org").advisor_id == first.id
    assert book(container, service, local(TUESDAY, 9), "b@example.org").advisor_id == first.id


def test_a_requested_advisor_is_honoured(container, world):
    service = world.service()
    world.advisor([service], password=None)
    second = world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), advisor_id=second.id)
    assert booking.advisor_id == second.id


def test_booking_a_taken_slot_is_refused(container, world):
    service = world.service()
    world.advisor([service], password=None)
    book(container, service, local(TUESDAY, 9), "a@example.org")
    with pytest.raises(SlotUnavailable):
        book(container, service, local(TUESDAY, 9), "b@example.org")


# -- holds ---------------------------------------------------------------------------------


def test_a_hold_blocks_the_slot_for_others(container, world):
    service = world.service()
    world.advisor([service], password=None)
    container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    assert "09:00" not in wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    with pytest.raises(SlotUnavailable):
        book(container, service, local(TUESDAY, 9))


def test_a_hold_is_claimed_with_its_token(container, world):
    service = world.service()
    advisor = world.advisor([service], password=None)
    hold = container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    assert hold.expires_at == datetime(2031, 1, 6, 7, 5, tzinfo=UTC)
    booking = book(container, service, local(TUESDAY, 9), hold_token=hold.token)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.advisor_id == advisor.id
    assert booking_rows(container) == 1
    assert stored(container, booking.reference).hold_token_hash is None


def test_a_hold_token_for_another_slot_does_not_claim_the_hold(container, world):
    service = world.service()
    world.advisor([service], password=None)
    hold = container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    booking = book(container, service, local(TUESDAY, 10), hold_token=hold.token)
    assert booking.start == local(TUESDAY, 10)
    assert "09:00" not in wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))


def test_an_expired_hold_frees_the_slot(container, world, clock):
    service = world.service()
    world.advisor([service], password=None)
    container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    clock.advance(minutes=4, seconds=59)
    assert "09:00" not in wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    clock.advance(seconds=1)
    assert "09:00" in wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))


def test_an_expired_hold_does_not_block_a_new_booking(container, world, clock):
    """The run-out hold row is still in the table; the overlap constraint would refuse the
    new booking unless the sweep deletes it first."""
    service = world.service()
    advisor = world.advisor([service], password=None)
    container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    clock.advance(minutes=6)
    booking = book(container, service, local(TUESDAY, 9))
    assert booking.advisor_id == advisor.id
    assert booking_rows(container) == 1


def test_an_expired_hold_does_not_block_a_new_hold(container, world, clock):
    service = world.service()
    world.advisor([service], password=None)
    first = container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    clock.advance(minutes=6)
    second = container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    assert second.token != first.token
    assert booking_rows(container) == 1


def test_a_released_hold_frees_the_slot_at_once(container, world):
    service = world.service()
    world.advisor([service], password=None)
    hold = container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    container.scheduler.release_hold(hold.token)
    assert "09:00" in wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert book(container, service, local(TUESDAY, 9)).status == BookingStatus.CONFIRMED


def test_releasing_does_not_touch_a_confirmed_booking(container, world):
    service = world.service()
    world.advisor([service], password=None)
    hold = container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    booking = book(container, service, local(TUESDAY, 9), hold_token=hold.token)
    container.scheduler.release_hold(hold.token)
    assert stored(container, booking.reference).status == BookingStatus.CONFIRMED


# -- the per-person cap --------------------------------------------------------------------


def test_open_bookings_per_email_are_capped_case_insensitively(container, world):
    service = world.service()
    world.advisor([service], password=None)
    book(container, service, local(TUESDAY, 9), "erika@example.org")
    book(container, service, local(TUESDAY, 10), "Erika@Example.org")
    with pytest.raises(TooManyOpenBookings):
        book(container, service, local(TUESDAY, 11), " ERIKA@EXAMPLE.ORG ")


def test_the_cap_counts_per_service(container, world):
    service = world.service()
    other = world.service(name="Andere Beratung")
    world.advisor([service, other], password=None)
    book(container, service, local(TUESDAY, 9))
    book(container, service, local(TUESDAY, 10))
    assert book(container, other, local(TUESDAY, 11)).service_id == other.id


def test_cancelled_bookings_do_not_count_towards_the_cap(container, world):
    service = world.service()
    world.advisor([service], password=None)
    first = book(container, service, local(TUESDAY, 9))
    book(container, service, local(TUESDAY, 10))
    container.scheduler.cancel(first.reference)
    assert book(container, service, local(TUESDAY, 11)).status == BookingStatus.CONFIRMED


# -- idempotency ---------------------------------------------------------------------------


def respond(info) -> dict[str, object]:
    return {"reference": info.reference, "start": info.start.isoformat()}


def test_an_idempotent_request_is_replayed_not_repeated(container, world):
    service = world.service()
    world.advisor([service], password=None)
    key = Idempotency("key-1", "fingerprint-a")
    first = container.scheduler.book(request(service, local(TUESDAY, 9)), key, respond)
    again = container.scheduler.book(request(service, local(TUESDAY, 9)), key, respond)
    assert not first.replayed
    assert again.replayed
    assert again.response == first.response
    assert booking_rows(container) == 1


def test_an_idempotency_key_with_another_body_is_refused(container, world):
    service = world.service()
    world.advisor([service], password=None)
    container.scheduler.book(
        request(service, local(TUESDAY, 9)), Idempotency("key-1", "fingerprint-a"), respond
    )
    with pytest.raises(IdempotencyKeyReused):
        container.scheduler.book(
            request(service, local(TUESDAY, 10)), Idempotency("key-1", "fingerprint-b"), respond
        )
    assert booking_rows(container) == 1


def test_a_failed_idempotent_request_stores_nothing(container, world):
    service = world.service()
    world.advisor([service], password=None)
    book(container, service, local(TUESDAY, 9), "other@example.org")
    key = Idempotency("key-1", "fingerprint-a")
    with pytest.raises(SlotUnavailable):
        container.scheduler.book(request(service, local(TUESDAY, 9)), key, respond)
    placed = container.scheduler.book(request(service, local(TUESDAY, 9, 30)), key, respond)
    assert not placed.replayed


# -- cancel --------------------------------------------------------------------------------


def test_cancel_frees_the_slot(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), "a@example.org")
    cancelled = container.scheduler.cancel(booking.reference)
    assert cancelled.status == BookingStatus.CANCELLED
    assert "09:00" in wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert book(container, service, local(TUESDAY, 9), "b@example.org").start == local(TUESDAY, 9)


def test_cancel_is_idempotent(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    first = container.scheduler.cancel(booking.reference)
    again = container.scheduler.cancel(booking.reference)
    assert again.status == BookingStatus.CANCELLED
    assert again.sequence == first.sequence == 1


def test_cancel_of_an_unknown_reference_is_not_found(container, world):
    with pytest.raises(NotFound):
        container.scheduler.cancel("ABCD-EFGH")


def test_cancel_of_a_started_booking_is_refused(container, world, clock):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    clock.now = local(TUESDAY, 9).astimezone(UTC)
    with pytest.raises(BookingInPast):
        container.scheduler.cancel(booking.reference)
    assert stored(container, booking.reference).status == BookingStatus.CONFIRMED


# -- reschedule ----------------------------------------------------------------------------


def test_reschedule_moves_the_booking_and_frees_the_old_slot(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    moved = container.scheduler.reschedule(booking.reference, local(TUESDAY, 11))
    assert (moved.start, moved.end) == (local(TUESDAY, 11), local(TUESDAY, 11, 30))
    assert moved.reference == booking.reference
    slots = wall(container.scheduler.slots(service.id, TUESDAY, TUESDAY))
    assert "09:00" in slots
    assert "11:00" not in slots


def test_reschedule_to_a_taken_slot_leaves_the_booking_unchanged(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), "a@example.org")
    book(container, service, local(TUESDAY, 10), "b@example.org")
    with pytest.raises(SlotUnavailable):
        container.scheduler.reschedule(booking.reference, local(TUESDAY, 10))
    row = stored(container, booking.reference)
    assert (row.start_at, row.end_at, row.sequence) == (booking.start, booking.end, 0)
    assert row.status == BookingStatus.CONFIRMED


def test_reschedule_onto_its_own_buffer_is_allowed(container, world):
    service = world.service(buffer_minutes=15, slot_interval_minutes=30)
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    moved = container.scheduler.reschedule(booking.reference, local(TUESDAY, 9, 30))
    assert moved.start == local(TUESDAY, 9, 30)


def test_reschedule_keeps_the_advisor_when_they_are_free(container, world):
    service = world.service()
    first = world.advisor([service], password=None)
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), "a@example.org")
    book(container, service, local(TUESDAY, 9, 30), "b@example.org", advisor_id=first.id)
    # The other advisor is less loaded now; the booking still stays with its advisor.
    moved = container.scheduler.reschedule(booking.reference, local(TUESDAY, 11))
    assert moved.advisor_id == first.id == booking.advisor_id


def test_reschedule_changes_advisor_when_its_own_is_busy(container, world):
    service = world.service()
    first = world.advisor([service], password=None)
    second = world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), "a@example.org")
    book(container, service, local(TUESDAY, 11), "b@example.org", advisor_id=first.id)
    moved = container.scheduler.reschedule(booking.reference, local(TUESDAY, 11))
    assert (booking.advisor_id, moved.advisor_id) == (first.id, second.id)


def test_sequence_rises_with_reschedule_and_cancel(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    assert booking.sequence == 0
    assert container.scheduler.reschedule(booking.reference, local(TUESDAY, 10)).sequence == 1
    assert container.scheduler.cancel(booking.reference).sequence == 2


def test_a_cancelled_booking_cannot_be_rescheduled(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    container.scheduler.cancel(booking.reference)
    with pytest.raises(BookingCancelled):
        container.scheduler.reschedule(booking.reference, local(TUESDAY, 10))


def test_a_started_booking_cannot_be_rescheduled(container, world, clock):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    clock.now = local(TUESDAY, 9, 10).astimezone(UTC)
    with pytest.raises(BookingInPast):
        container.scheduler.reschedule(booking.reference, local(WEDNESDAY, 10))


# -- references ----------------------------------------------------------------------------


def test_references_use_the_unambiguous_alphabet():
    assert not set("01IO") & set(REFERENCE_ALPHABET)
    for _ in range(2000):
        assert REFERENCE.match(new_reference())


def test_reference_characters_are_drawn_uniformly_at_every_position():
    # Five random bits a character: the alphabet must have exactly 32 of them.
    assert len(set(REFERENCE_ALPHABET)) == len(REFERENCE_ALPHABET) == 32
    draws = [reference_chars(7) for _ in range(6400)]
    for position in range(7):
        seen = Counter(draw[position] for draw in draws)
        assert set(seen) == set(REFERENCE_ALPHABET)
        # 200 expected each (standard deviation 14): six and more deviations off is no chance.
        assert all(110 < n < 300 for n in seen.values()), seen


def test_references_are_unique_over_many_bookings(container, world):
    service = world.service()
    advisors = [world.advisor([service], password=None) for _ in range(3)]
    slots = container.scheduler.slots(service.id, TUESDAY, WEDNESDAY)
    references = [
        book(container, service, slot.start, f"person{n}.{i}@example.org").reference
        for n, slot in enumerate(slots)
        for i in range(len(advisors))
    ]
    assert len(references) == 2 * 12 * 3
    assert all(REFERENCE.match(r) for r in references)
    assert len(set(references)) == len(references)


# -- daylight saving time ------------------------------------------------------------------


def test_slots_keep_their_wall_clock_time_across_the_dst_change(container, world, clock):
    clock.now = datetime(2031, 3, 24, 7, 0, tzinfo=UTC)
    service = world.service()
    world.advisor([service], password=None)
    friday = container.scheduler.slots(service.id, date(2031, 3, 28), date(2031, 3, 28))
    monday = container.scheduler.slots(service.id, date(2031, 3, 31), date(2031, 3, 31))
    assert friday[0].start == datetime(2031, 3, 28, 8, 0, tzinfo=UTC)
    assert monday[0].start == datetime(2031, 3, 31, 7, 0, tzinfo=UTC)
    assert wall(friday) == wall(monday) == ALL_DAY_GRID


def test_booking_after_the_dst_change_is_stored_in_utc(container, world, clock):
    clock.now = datetime(2031, 3, 24, 7, 0, tzinfo=UTC)
    service = world.service()
    world.advisor([service], password=None)
    before = book(container, service, local(date(2031, 3, 28), 9), "a@example.org")
    after = book(container, service, local(date(2031, 3, 31), 9), "b@example.org")
    assert before.start == datetime(2031, 3, 28, 8, 0, tzinfo=UTC)
    assert after.start == datetime(2031, 3, 31, 7, 0, tzinfo=UTC)
    assert stored(container, after.reference).start_at == datetime(2031, 3, 31, 7, 0, tzinfo=UTC)
    assert stored(container, after.reference).start_at.tzinfo == UTC


def test_rescheduling_across_the_dst_change_keeps_the_duration(container, world, clock):
    clock.now = datetime(2031, 3, 24, 7, 0, tzinfo=UTC)
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(date(2031, 3, 28), 9))
    moved = container.scheduler.reschedule(booking.reference, local(date(2031, 3, 31), 9))
    assert moved.start == datetime(2031, 3, 31, 7, 0, tzinfo=UTC)
    assert moved.end - moved.start == timedelta(minutes=30)


# -- the staff desk ------------------------------------------------------------------------


def actions(container, admin, reference: str) -> list[tuple[str, str]]:
    return [(e.action, e.detail) for e in container.desk.audit_trail(admin, reference)]


def test_desk_read_is_audited(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    info = container.desk.booking(world.admin, booking.reference.lower())
    assert info.reference == booking.reference
    assert actions(container, world.admin, booking.reference) == [("read", "")]


def test_desk_list_audits_every_booking_listed(container, world):
    service = world.service()
    world.advisor([service], password=None)
    one = book(container, service, local(TUESDAY, 9), "a@example.org")
    two = book(container, service, local(WEDNESDAY, 9), "b@example.org")
    listed = container.desk.bookings(world.admin, TUESDAY, WEDNESDAY)
    assert [b.reference for b in listed] == [one.reference, two.reference]
    assert actions(container, world.admin, one.reference) == [("read", "list")]
    assert actions(container, world.admin, two.reference) == [("read", "list")]


def test_desk_list_leaves_out_holds(container, world):
    service = world.service()
    world.advisor([service], password=None)
    container.scheduler.hold(service.id, local(TUESDAY, 9), "video")
    assert container.desk.bookings(world.admin, TUESDAY, TUESDAY) == []


def test_desk_create_is_audited_with_its_author(container, world):
    service = world.service()
    world.advisor([service], password=None)
    hotline = world.advisor([], role=Role.HOTLINE, password=None)
    actor = StaffIdentity.of(hotline)
    placed = container.desk.book(actor, request(service, local(TUESDAY, 9)))
    assert placed.booking is not None
    row = stored(container, placed.booking.reference)
    assert row.created_by_id == hotline.id
    with read_session(container.sessions) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.booking_id == row.id)).all()
        assert [(e.action, e.actor_id) for e in entries] == [("create", hotline.id)]


def test_desk_cancel_is_audited(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    info = container.desk.cancel(world.admin, booking.reference)
    assert info.status == BookingStatus.CANCELLED
    assert ("cancel", "") in actions(container, world.admin, booking.reference)


def test_desk_reissue_is_audited_and_revokes_old_links(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    reissued = container.desk.reissue_link(world.admin, booking.reference)
    assert reissued.token_version == booking.token_version + 1
    assert actions(container, world.admin, booking.reference) == [("reissue_link", "")]


def test_an_advisor_cannot_see_another_advisors_booking(container, world):
    service = world.service()
    owner = world.advisor([service], password=None)
    other = world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), advisor_id=owner.id)
    intruder = StaffIdentity.of(other)
    with pytest.raises(NotFound):
        container.desk.booking(intruder, booking.reference)
    with pytest.raises(NotFound):
        container.desk.cancel(intruder, booking.reference)
    assert container.desk.bookings(intruder, TUESDAY, TUESDAY) == []
    assert stored(container, booking.reference).status == BookingStatus.CONFIRMED


def test_an_advisor_sees_only_their_own_bookings_in_the_list(container, world):
    service = world.service()
    owner = world.advisor([service], password=None)
    other = world.advisor([service], password=None)
    mine = book(container, service, local(TUESDAY, 9), "a@example.org", advisor_id=owner.id)
    book(container, service, local(TUESDAY, 9), "b@example.org", advisor_id=other.id)
    listed = container.desk.bookings(StaffIdentity.of(owner), TUESDAY, TUESDAY, other.id)
    assert [b.reference for b in listed] == [mine.reference]


def test_desk_cancel_and_reschedule_accept_a_lower_case_reference(container, world):
    """Read out on the phone, a reference is often typed in lower case; the desk reads it so."""
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    moved = container.desk.reschedule(world.admin, booking.reference.lower(), local(TUESDAY, 10))
    assert moved.start == local(TUESDAY, 10)
    assert container.desk.cancel(world.admin, booking.reference.lower()).status == "cancelled"


def test_desk_records_an_outcome(container, world, clock):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    clock.now = local(TUESDAY, 9, 30).astimezone(UTC)
    info = container.desk.set_outcome(world.admin, booking.reference, BookingStatus.NO_SHOW)
    assert info.status == BookingStatus.NO_SHOW
    assert actions(container, world.admin, booking.reference) == [("outcome:no_show", "")]


def test_a_cancelled_booking_gets_no_outcome(container, world):
    """Its time may already be booked again: reviving it must not collide with that booking."""
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), "a@example.org")
    container.scheduler.cancel(booking.reference)
    book(container, service, local(TUESDAY, 9), "b@example.org")
    with pytest.raises(BookingCancelled):
        container.desk.set_outcome(world.admin, booking.reference, BookingStatus.COMPLETED)
    assert stored(container, booking.reference).status == BookingStatus.CANCELLED


def test_no_outcome_before_the_appointment_begins(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9))
    with pytest.raises(BookingNotStarted):
        container.desk.set_outcome(world.admin, booking.reference, BookingStatus.NO_SHOW)
    assert stored(container, booking.reference).status == BookingStatus.CONFIRMED


# -- refused requests ----------------------------------------------------------------------


def test_a_start_off_the_grid_is_refused(container, world):
    service = world.service()
    world.advisor([service], password=None)
    with pytest.raises(OffGrid):
        book(container, service, local(TUESDAY, 9, 15))
    with pytest.raises(OffGrid):
        book(container, service, local(TUESDAY, 12))


def test_a_start_without_offset_is_refused(container, world):
    service = world.service()
    world.advisor([service], password=None)
    with pytest.raises(InvalidRequest) as raised:
        book(container, service, datetime(2031, 1, 7, 9, 0))
    assert raised.value.code == "naive_time"


def test_a_channel_the_service_does_not_offer_is_refused(container, world):
    service = world.service(channels=["video"])
    world.advisor([service], password=None)
    with pytest.raises(ChannelNotOffered):
        container.scheduler.slots(service.id, TUESDAY, TUESDAY, channel="phone")
    with pytest.raises(ChannelNotOffered):
        container.scheduler.hold(service.id, local(TUESDAY, 9), "phone")


@pytest.mark.parametrize(
    ("first", "last", "code"),
    [(WEDNESDAY, TUESDAY, "range_reversed"), (TUESDAY, date(2031, 3, 10), "range_too_long")],
)
def test_a_slot_search_over_a_bad_range_is_refused(container, world, first, last, code):
    service = world.service()
    with pytest.raises(InvalidRequest) as raised:
        container.scheduler.slots(service.id, first, last)
    assert raised.value.code == code


def test_an_unknown_service_is_not_found(container, world):
    with pytest.raises(NotFound):
        container.scheduler.slots(9999, TUESDAY, TUESDAY)
    with pytest.raises(NotFound):
        container.scheduler.hold(9999, local(TUESDAY, 9), "video")


def test_a_deactivated_advisor_gets_no_bookings(container, world):
    service = world.service()
    gone = world.advisor([service], password=None)
    staying = world.advisor([service], password=None)
    with write_session(container.sessions) as session:
        staff = session.get(Staff, gone.id)
        assert staff is not None
        staff.active = False
    slots = container.scheduler.slots(service.id, TUESDAY, TUESDAY)
    assert {s.advisor_ids for s in slots} == {(staying.id,)}
    assert book(container, service, local(TUESDAY, 9), "a@example.org").advisor_id == staying.id
    with pytest.raises(SlotUnavailable):
        book(container, service, local(TUESDAY, 9), "b@example.org")
