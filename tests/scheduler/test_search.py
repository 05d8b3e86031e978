"""Finding a booking: folding, the query's reading, the search over the database with the
role's limits and its audit; and the desk's other new actions (notes, the confirmation again)."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler import search
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session, write_session
from scheduler.desk import NOTE_MAX_LENGTH
from scheduler.errors import BookingCancelled, InvalidRequest, NotFound
from scheduler.models import AuditEntry, Booking, Role
from scheduler.requests import BookingRequest
from scheduler.retention import _anonymise
from scheduler.search import Query, fold, german_fold, phone_digits, search_key
from scheduler.views import BookingInfo
from web.database import alembic_config, migrate

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)  # the clock stands at Monday 6 January 2031, 08:00 in Berlin


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(TUESDAY, time(hour, minute), BERLIN)


# -- folding and reading the query (no database) ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Müller", "muller"),
        ("MÜLLER", "muller"),
        ("Groß", "gross"),
        ("GROẞ", "gross"),
        ("Łucja Żółć", "lucja zolc"),
        ("Søren Ærø", "soren aero"),
        ("José Núñez", "jose nunez"),
        ("Çelik", "celik"),
        ("Ｍüller", "muller"),  # a full-width letter, as some phone keyboards type it
    ],
)
def test_fold_drops_case_and_accents(text, folded):
    assert fold(text) == folded


def test_german_fold_spells_the_umlauts_out():
    assert german_fold("Müller-Öztürk") == "mueller-oeztuerk"


@pytest.mark.parametrize(
    ("phone", "digits"),
    [
        ("+49 391 540-0", "3915400"),
        ("0049 391 5400", "3915400"),
        ("0391 / 540 0", "3915400"),
        ("+49 (0)391 5400", "3915400"),
        ("+48 601 234 567", "48601234567"),
        ("", ""),
    ],
)
def test_phone_digits_leave_out_country_code_and_trunk_prefix(phone, digits):
    assert phone_digits(phone) == digits


def test_the_key_holds_reference_both_spellings_address_and_digits():
    key = search_key("K7QM-4XZP", "Jürgen Groß", "J.Gross@Example.org", "+49 391 1234")
    assert key.split() == [
        "k7qm-4xzp",
        "k7qm4xzp",
        "jurgen",
        "gross",
        "juergen",
        "gross",
        "j.gross@example.org",
        "3911234",
    ]


def test_a_phone_number_typed_with_spaces_is_one_term():
    assert Query.parse("0391 540 0").words == (("3915400",),)


def test_a_word_with_an_umlaut_looks_for_both_spellings():
    assert Query.parse("Müller").words == (("muller", "mueller"),)


@pytest.mark.parametrize("typed", ["k7qm-4xzp", "K7QM4XZP", "k7qm 4xzp"])
def test_a_reference_is_read_in_any_case_with_or_without_dash(typed):
    assert Query.parse(typed).reference == "K7QM-4XZP"


@pytest.mark.parametrize("typed", ["", " ", "a", "É", "%"])
def test_a_query_of_less_than_two_characters_is_refused(typed):
    with pytest.raises(InvalidRequest) as refused:
        Query.parse(typed)
    assert refused.value.code == "search_too_short"


# -- searching the database -------------------------------------------------------------------


@pytest.fixture
def service(world):
    return world.service()


@pytest.fixture
def anna(world, service) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([service], email="anna@example.org"))


@pytest.fixture
def bernd(world, service) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([service], email="bernd@example.org"))


@pytest.fixture
def hotline(world) -> StaffIdentity:
    return StaffIdentity.of(world.advisor([], role=Role.HOTLINE, email="hotline@example.org"))


@pytest.fixture
def bookings(container, service, anna, bernd) -> dict[str, BookingInfo]:
    """Four citizens, two with each advisor."""
    people = [
        (anna, at(9), "Jürgen Müller", "j.mueller@example.org", "+49 391 1234567"),
        (anna, at(10), "Hans Mueller", "hans@example.org", None),
        (bernd, at(9), "Łucja Groß", "LUCJA@Example.org", "0176 555 0101"),
        (bernd, at(10), "Erika Mustermann", None, "0391/9876543"),
    ]
    made = {}
    for advisor, start, name, email, phone in people:
        request = BookingRequest(
            service.id,
            start,
            "phone" if email is None else "video",
            name,
            email,
            phone=phone,
            advisor_id=advisor.id,
        )
        placed = container.scheduler.book(request)
        assert placed.booking is not None
        made[name] = placed.booking
    return made


def names(result) -> set[str]:
    return {b.name for b in result.bookings}


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("müller", {"Jürgen Müller", "Hans Mueller"}),
        ("MÜLLER", {"Jürgen Müller", "Hans Mueller"}),
        ("muller", {"Jürgen Müller"}),
        ("mueller", {"Jürgen Müller", "Hans Mueller"}),
        ("jurgen mull", {"Jürgen Müller"}),
        ("lucja", {"Łucja Groß"}),
        ("GROSS", {"Łucja Groß"}),
        ("groß", {"Łucja Groß"}),
        ("lucja@example", {"Łucja Groß"}),
        ("EXAMPLE.ORG", {"Jürgen Müller", "Hans Mueller", "Łucja Groß"}),
        ("+49 391 1234567", {"Jürgen Müller"}),
        ("0391 123", {"Jürgen Müller"}),
        ("1234567", {"Jürgen Müller"}),
        ("0391", {"Jürgen Müller", "Erika Mustermann"}),
        ("0176-555", {"Łucja Groß"}),
        ("9876543", {"Erika Mustermann"}),
        ("stermann", {"Erika Mustermann"}),
        # Not "zz": a reference (drawn at random) may hold it; it never holds an O.
        ("oo", set()),
        ("50%", set()),
        ("_u", set()),
    ],
)
def test_search_is_partial_and_ignores_case_and_accents(container, world, bookings, typed, found):
    assert names(container.desk.search(world.admin, typed)) == found


def test_search_finds_by_reference_in_part_or_whole(container, world, bookings):
    reference = bookings["Hans Mueller"].reference
    whole = container.desk.search(world.admin, reference.lower().replace("-", ""))
    assert names(whole) == {"Hans Mueller"}
    part = container.desk.search(world.admin, reference[:4])
    assert "Hans Mueller" in names(part)


def test_an_advisor_finds_only_their_own_bookings(container, world, bookings, anna, bernd):
    assert names(container.desk.search(anna, "example.org")) == {"Jürgen Müller", "Hans Mueller"}
    assert names(container.desk.search(bernd, "müller")) == set()
    assert names(container.desk.search(bernd, bookings["Hans Mueller"].reference)) == set()


@pytest.mark.parametrize("role", ["admin", "hotline"])
def test_admin_and_hotline_find_everyone(container, world, bookings, hotline, role):
    actor = world.admin if role == "admin" else hotline
    # Words longer than a reference's four-character halves: a random reference never matches.
    found = names(container.desk.search(actor, "mueller"))
    found |= names(container.desk.search(actor, "mustermann"))
    assert found == {"Jürgen Müller", "Hans Mueller", "Erika Mustermann"}


def test_coming_appointments_come_first_then_the_past_latest_first(
    container, clock, world, service, bookings
):
    clock.advance(days=1, hours=2)  # Tuesday 10:00 in Berlin: the 9:00 ones have passed
    found = container.desk.search(world.admin, "example.org").bookings
    assert [b.name for b in found] == ["Hans Mueller", "Łucja Groß", "Jürgen Müller"]


def test_more_hits_than_the_limit_are_cut_and_said(container, world, bookings, monkeypatch):
    monkeypatch.setattr(search, "SEARCH_LIMIT", 2)
    result = container.desk.search(world.admin, "example.org")
    assert len(result.bookings) == 2
    assert result.more


def test_holds_are_not_found(container, service, world, anna):
    container.scheduler.hold(service.id, at(11), "video")
    with read_session(container.sessions) as session:
        assert session.scalar(select(Booking.search_key).where(Booking.status == "held")) == ""
    assert container.desk.search(world.admin, "zz").bookings == []


def test_a_booking_made_from_a_hold_is_found(container, service, world, anna):
    hold = container.scheduler.hold(service.id, at(11), "video")
    request = BookingRequest(
        service.id, at(11), "video", "Zoë Özdemir", "zoe@example.org", hold_token=hold.token
    )
    container.scheduler.book(request)
    assert names(container.desk.search(world.admin, "zoe oz")) == {"Zoë Özdemir"}


def test_an_erased_booking_is_found_only_by_its_whole_reference(container, world, bookings):
    erased = bookings["Hans Mueller"]
    with write_session(container.sessions) as session:
        _anonymise(session, [erased.id])
        assert session.get(Booking, erased.id).search_key == ""  # type: ignore[union-attr]
    assert names(container.desk.search(world.admin, "mueller")) == {"Jürgen Müller"}
    found = container.desk.search(world.admin, erased.reference).bookings
    assert [b.id for b in found] == [erased.id]


def test_every_search_is_audited_with_its_terms_and_every_hit_as_read(
    container, world, bookings, hotline
):
    container.desk.search(hotline, "Müller")
    container.desk.search(hotline, "nobody here")
    with read_session(container.sessions) as session:
        entries = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.actor_id == hotline.id).order_by(AuditEntry.id)
            )
        )
    searches = [e for e in entries if e.action == "search"]
    assert [json.loads(e.detail) for e in searches] == [
        {"q": "Müller", "hits": 2},
        {"q": "nobody here", "hits": 0},
    ]
    assert all(e.booking_id is None for e in searches)
    reads = {e.booking_id for e in entries if e.action == "read" and e.detail == "search"}
    assert reads == {bookings["Jürgen Müller"].id, bookings["Hans Mueller"].id}


def test_a_refused_search_is_not_audited(container, world, hotline):
    with pytest.raises(InvalidRequest):
        container.desk.search(hotline, "x")
    with read_session(container.sessions) as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "search")) is None


# -- notes and the confirmation again ------------------------------------------------------------


def test_a_note_is_kept_with_author_and_time_and_audited(container, clock, world, bookings, anna):
    reference = bookings["Hans Mueller"].reference
    container.desk.add_note(anna, reference, "  Bringt den Bescheid mit.  ")
    container.desk.add_note(world.admin, reference, "Rückfrage geklärt")
    notes = container.desk.notes(anna, reference)
    assert [(n.author, n.text, n.at) for n in notes] == [
        (anna.name, "Bringt den Bescheid mit.", clock.now),
        ("Admin", "Rückfrage geklärt", clock.now),
    ]
    with read_session(container.sessions) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action == "note"))
        assert len(list(actions)) == 2


def test_a_note_never_reaches_the_citizen_side(container, world, bookings, anna):
    reference = bookings["Hans Mueller"].reference
    container.desk.add_note(anna, reference, "Nur intern")
    info = container.desk.booking(anna, reference)
    assert "Nur intern" not in repr(info)
    assert not hasattr(info, "staff_notes")


@pytest.mark.parametrize("text", ["", "   ", "x" * (NOTE_MAX_LENGTH + 1)])
def test_an_empty_or_too_long_note_is_refused(container, bookings, anna, text):
    with pytest.raises(InvalidRequest):
        container.desk.add_note(anna, bookings["Hans Mueller"].reference, text)


def test_another_advisors_booking_takes_no_note(container, bookings, bernd):
    with pytest.raises(NotFound):
        container.desk.add_note(bernd, bookings["Hans Mueller"].reference, "hallo")


def test_the_confirmation_goes_out_again_through_the_outbox(container, bookings, hotline):
    booking = bookings["Hans Mueller"]
    container.desk.resend_confirmation(hotline, booking.reference)
    with read_session(container.sessions) as session:
        kinds = list(
            session.scalars(
                select(OutboxMessage.kind)
                .where(OutboxMessage.booking_id == booking.id, OutboxMessage.kind != "reminder")
                .order_by(OutboxMessage.id)
            )
        )
        audited = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "resend_confirmation")
        )
    assert kinds == ["confirmation", "confirmation"]
    assert audited is not None
    assert audited.booking_id == booking.id


def test_no_confirmation_again_for_a_cancelled_booking_or_one_without_address(
    container, bookings, hotline
):
    with pytest.raises(InvalidRequest):
        container.desk.resend_confirmation(hotline, bookings["Erika Mustermann"].reference)
    container.desk.cancel(hotline, bookings["Hans Mueller"].reference)
    with pytest.raises(BookingCancelled):
        container.desk.resend_confirmation(hotline, bookings["Hans Mueller"].reference)


def test_the_migration_fills_the_key_of_existing_bookings(container, world, bookings):
    engine = container.engine
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    migrate(engine)
    assert names(container.desk.search(world.admin, "muller")) == {"Jürgen Müller"}
    assert names(container.desk.search(world.admin, "0176 555")) == {"Łucja Groß"}
