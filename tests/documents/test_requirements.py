"""The documents a service names (documents/requirements.py): the admin's list with its
checks, and which of them a booking still misses: an upload pending or clean counts, a rejected
one (a real clamd found EICAR) does not. On SQLite, and on PostgreSQL when
SPRECHSTUNDE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from documents.crypto import DocumentKeys
from documents.desk import DocumentDesk, DocumentLimits
from documents.errors import LabelTooLong
from documents.models import BookingDocument
from documents.requirements import (
    MAX_NAMED,
    NamedEntry,
    NameMissing,
    NamesDuplicate,
    Requirements,
    TooManyNamed,
)
from documents.scanner import Scanner
from documents.storage import DirectoryStore, EncryptedStore
from scheduler.db import read_session
from scheduler.errors import NotFound
from tests.documents.clamd import EICAR, Clamd
from tests.documents.test_document_desk import KEY, book, make_pdf


@pytest.fixture
def service(world):
    service = world.service()
    world.advisor([service], password=None)
    return service


@pytest.fixture
def requirements(container) -> Requirements:
    return Requirements(container.sessions)


def names(named) -> list[tuple[str, str | None]]:
    return [(n.name, n.name_en) for n in named]


def test_a_new_service_names_nothing_and_misses_nothing(requirements, container, service):
    booking = book(container, service)

    assert requirements.named(service.id) == []
    assert requirements.missing(booking.id) == []


def test_the_list_is_kept_in_order_with_cleaned_names(requirements, service):
    saved = requirements.replace(
        service.id,
        [
            NamedEntry("  Letzter\tBescheid ", "Last notice"),
            NamedEntry("Einkommens\u200bnachweis", ""),
        ],
    )

    assert names(saved) == [("Letzter Bescheid", "Last notice"), ("Einkommensnachweis", None)]
    assert [n.position for n in saved] == [0, 1]
    assert requirements.named(service.id) == saved
    assert saved[0].display_name("en") == "Last notice"
    assert saved[0].display_name("de") == "Letzter Bescheid"
    # No English name: the English reader sees the German one.
    assert saved[1].display_name("en-GB") == "Einkommensnachweis"


def test_replacing_keeps_the_ids_of_entries_that_stay(requirements, service):
    first, second = requirements.replace(
        service.id, [NamedEntry("Mietvertrag"), NamedEntry("Kontoauszüge")]
    )

    again = requirements.replace(
        service.id,
        [
            NamedEntry("Kontoauszüge der letzten drei Monate", id=second.id),
            NamedEntry("Personalausweis"),
        ],
    )

    assert again[0].id == second.id
    assert again[0].name == "Kontoauszüge der letzten drei Monate"
    assert again[1].id not in (first.id, second.id)
    assert names(requirements.named(service.id)) == [
        ("Kontoauszüge der letzten drei Monate", None),
        ("Personalausweis", None),
    ]


def test_an_id_of_another_service_becomes_a_new_entry(requirements, world, service):
    other = world.service(name="Andere Beratung")
    [theirs] = requirements.replace(other.id, [NamedEntry("Mietvertrag")])

    [ours] = requirements.replace(service.id, [NamedEntry("Mietvertrag", id=theirs.id)])

    assert ours.id != theirs.id
    assert names(requirements.named(other.id)) == [("Mietvertrag", None)]


@pytest.mark.parametrize(
    ("entries", "error", "row"),
    [
        ([NamedEntry("Mietvertrag"), NamedEntry("", "Proof of income")], NameMissing, 1),
        ([NamedEntry("Mietvertrag"), NamedEntry("MIETVERTRAG")], NamesDuplicate, 1),
        ([NamedEntry("A", "Lease"), NamedEntry("B", "lease ")], NamesDuplicate, 1),
        ([NamedEntry("A"), NamedEntry("x" * 101)], LabelTooLong, 1),
        ([NamedEntry(f"Dokument {i}") for i in range(MAX_NAMED + 1)], TooManyNamed, None),
    ],
)
def test_a_bad_list_is_refused_and_nothing_changes(requirements, service, entries, error, row):
    requirements.replace(service.id, [NamedEntry("Vorher")])

    with pytest.raises(error) as refused:
        requirements.replace(service.id, entries)

    assert refused.value.params.get("row") == row
    assert names(requirements.named(service.id)) == [("Vorher", None)]


def test_an_unknown_service_is_not_found(requirements):
    with pytest.raises(NotFound):
        requirements.replace(999_999, [NamedEntry("Mietvertrag")])


def test_missing_counts_pending_and_clean_uploads_but_not_rejected_ones(
    requirements, container, service, clock, tmp_path, clamd: Clamd
):
    lease, income, bank = requirements.replace(
        service.id, [NamedEntry("Mietvertrag"), NamedEntry("Einkommen"), NamedEntry("Konto")]
    )
    booking = book(container, service)
    other_booking = book(container, service, hour=10, email="max@example.org")
    store = EncryptedStore(DirectoryStore(tmp_path / "store"), DocumentKeys(KEY))
    desk = DocumentDesk(container.sessions, store, Scanner(clamd.url), DocumentLimits(), clock)

    desk.hand_in(booking.id, make_pdf(), "mietvertrag.pdf", requirement_id=lease.id)
    desk.hand_in(booking.id, make_pdf(extra=EICAR), "einkommen.pdf", requirement_id=income.id)
    desk.hand_in(booking.id, make_pdf(), "ohne.pdf")  # no named document: changes nothing
    # Before the scan both count: pending is handed in.
    assert [n.id for n in requirements.missing(booking.id)] == [bank.id]

    result = desk.scan_pending()

    assert (result.clean, result.rejected) == (2, 1)
    assert [n.id for n in requirements.missing(booking.id)] == [income.id, bank.id]
    # Another booking of the service misses all of them.
    assert [n.id for n in requirements.missing(other_booking.id)] == [lease.id, income.id, bank.id]
    # A named document removed from the list leaves its upload unnamed, not gone.
    requirements.replace(service.id, [NamedEntry("Konto", id=bank.id)])
    with read_session(container.sessions) as session:
        uploads = session.scalars(
            select(BookingDocument.requirement_id).where(BookingDocument.booking_id == booking.id)
        ).all()
    assert len(uploads) == 3
    assert lease.id not in uploads
    assert [n.id for n in requirements.missing(booking.id)] == [bank.id]


def test_missing_of_an_unknown_booking_is_empty(requirements):
    assert requirements.missing(999_999) == []
