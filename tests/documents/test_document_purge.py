"""The documents' own retention (documents/retention.py, documents/erasure.py), run by the
retention purge of the running service: 14 days (by default) after the appointment ended or was
cancelled, a booking's documents are gone from the database, from the store (a directory or the
database) and from the page cache; statistics keep their counts. Before that nothing goes. On
SQLite, and on PostgreSQL when SPRECHSTUNDE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from documents.errors import DocumentNotFound
from documents.models import BookingDocument, DocumentBlob, DocumentTally
from documents.storage import _TEMPORARY_SUFFIX, BlobStore, DatabaseStore, DirectoryStore
from documents.tally import week_of
from scheduler.db import read_session
from tests.documents.clamd import EICAR, Clamd
from tests.documents.test_document_desk import at, book, make_pdf, make_png

SECOND = timedelta(seconds=1)
DAYS = timedelta(days=14)


@pytest.fixture(params=["directory", "database"])
def settings(settings, clamd: Clamd, request: pytest.FixtureRequest):
    return settings.model_copy(update={"clamav_url": clamd.url, "document_store": request.param})


@pytest.fixture
def service(world):
    service = world.service()
    world.advisor([service], password=None)
    return service


def hand_in_three(container, booking) -> None:
    desk = container.documents
    desk.hand_in(booking.id, make_pdf(), "Bescheid.pdf", "Bescheid")
    desk.hand_in(booking.id, make_png(), "Foto.png")
    desk.hand_in(booking.id, make_pdf(extra=EICAR), "Lohnzettel.pdf")
    assert desk.scan_pending().examined == 3


def raw_store(container) -> BlobStore:
    """The store as configured, without the encryption: what lies on disk or in the table."""
    settings = container.settings
    if settings.document_store == "directory":
        return DirectoryStore(settings.document_dir)
    return DatabaseStore(container.sessions)


def raw_ids(container) -> list[str]:
    return raw_store(container).ids()


def count(container, model) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_documents_go_14_days_after_the_appointment_and_not_a_second_sooner(
    container, service, clock
) -> None:
    ended = book(container, service, hour=9)
    later = book(container, service, hour=11, email="max@example.org")
    for booking in (ended, later):
        hand_in_three(container, booking)
    clean = next(d for d in container.documents.documents(ended.id) if d.status == "clean")
    assert container.page_images.page(ended.id, clean.id, 1, 480).startswith(b"\x89PNG")
    assert len(raw_ids(container)) == 4  # the infected ones' bytes went at once

    clock.now = ended.end + DAYS - SECOND
    assert container.retention.purge()["documents_erased"] == 0
    assert len(container.documents.documents(ended.id)) == 3

    clock.now = ended.end + DAYS
    assert container.retention.purge(dry_run=True)["documents_erased"] == 3
    assert len(raw_ids(container)) == 4
    assert container.retention.purge()["documents_erased"] == 3

    assert container.documents.documents(ended.id) == []
    assert len(container.documents.documents(later.id)) == 3
    assert len(raw_ids(container)) == 2
    assert container.documents.erasure.orphan_blobs() == []
    with pytest.raises(DocumentNotFound):  # not from the cache either
        container.page_images.page(ended.id, clean.id, 1, 480)
    # What statistics keep: counts per service, week and status, nothing else.
    with read_session(container.sessions) as session:
        tallies = {
            (row.service_id, row.week, row.status): row.count
            for row in session.scalars(select(DocumentTally))
        }
    week = week_of(ended.start)
    assert tallies == {(service.id, week, "clean"): 2, (service.id, week, "rejected"): 1}

    clock.now = later.end + DAYS + SECOND
    assert container.retention.purge()["documents_erased"] == 3
    assert count(container, BookingDocument) == 0
    assert raw_ids(container) == []
    assert count(container, DocumentBlob) == 0
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.sum(DocumentTally.count))) == 6
    assert container.retention.purge()["documents_erased"] == 0


def test_a_cancelled_booking_s_documents_go_14_days_after_the_cancellation(
    container, service, clock
) -> None:
    booking = book(container, service, hour=9)
    hand_in_three(container, booking)
    clock.advance(hours=1)
    container.scheduler.cancel(booking.reference, booking.token_version)
    cancelled_at = clock.now

    clock.now = cancelled_at + DAYS + SECOND  # long before the appointment's own date + 14 days
    assert clock.now < booking.end + DAYS
    assert container.retention.purge()["documents_erased"] == 3
    assert count(container, BookingDocument) == 0
    assert raw_ids(container) == []


def test_the_store_holds_ciphertext_not_the_file(container, service) -> None:
    booking = book(container, service)
    upload = make_pdf("Kontoauszug Erika Mustermann IBAN DE02120300000000202051")
    info = container.documents.hand_in(booking.id, upload, "Konto.pdf")
    raw = raw_store(container)
    (blob_id,) = raw.ids()
    stored = raw.get(blob_id)
    assert b"Mustermann" not in stored
    assert b"%PDF" not in stored
    assert container.documents.documents(booking.id)[0].id == info.id
    if container.settings.document_store == "database":
        with container.engine.connect() as connection:
            column = connection.execute(text("SELECT data FROM document_blobs")).scalar_one()
        assert b"Mustermann" not in bytes(column)


def test_documents_never_outlive_the_booking_s_own_data(settings, clock) -> None:
    from web.container import Container

    container = Container.build(
        settings.model_copy(update={"retention_days": 7, "document_retention_days": 30}), clock
    )
    try:
        (sweep,) = container.retention._sweeps
        assert sweep.retention == timedelta(days=7)
    finally:
        container.engine.dispose()


def test_at_the_same_moment_documents_go_before_the_booking_is_anonymised(
    container, service, clock
) -> None:
    booking = book(container, service, hour=9)
    hand_in_three(container, booking)
    clock.now = at(9) + timedelta(days=365)
    counts = container.retention.purge()
    assert counts["documents_erased"] == 3
    assert counts["bookings_anonymised"] == 1
    assert next(iter(counts)) == "documents_erased"
    assert count(container, BookingDocument) == 0


def test_the_daily_purge_removes_what_a_killed_writer_left(container, clock) -> None:
    # A process killed between writing a blob's temporary file and renaming it.
    if container.settings.document_store != "directory":
        assert container.documents.sweep_store() == 0  # one transaction: nothing is left
        return
    shard = container.settings.document_dir / "ab"
    shard.mkdir()
    left = shard / f".{'a' * 32}.0123456789abcdef{_TEMPORARY_SUFFIX}"
    left.write_bytes(b"ciphertext")
    recent = shard / f".{'b' * 32}.0123456789abcdef{_TEMPORARY_SUFFIX}"
    recent.write_bytes(b"a write in progress")
    hour_ago = time.time() - 3601
    os.utime(left, (hour_ago, hour_ago))

    container.retention.purge()

    assert not left.exists()
    assert recent.exists()
