"""The documents of a booking (documents/desk.py, documents/worker.py): hand in, scan with a real
clamd, open, delete, erase; nothing half-stored, quotas kept under concurrency. On SQLite, and
on PostgreSQL when SPRECHSTUNDE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pikepdf
import pytest
from PIL import Image
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from documents.checks import Refused, check
from documents.crypto import DocumentKeys
from documents.desk import DocumentDesk, DocumentLimits, ScanResult
from documents.errors import (
    BookingNotConfirmed,
    DocumentNotAvailable,
    DocumentNotFound,
    LabelTooLong,
    QuotaExceeded,
    TooManyFiles,
)
from documents.models import BookingDocument
from documents.scanner import Scanner
from documents.storage import (
    BlobStore,
    DatabaseStore,
    DirectoryStore,
    EncryptedStore,
    new_blob_id,
)
from documents.worker import ScanWorker
from scheduler.db import read_session
from scheduler.errors import BookingCancelled, BookingInPast, Conflict, NotFound
from scheduler.models import Booking
from scheduler.requests import BookingRequest
from scheduler.views import BookingInfo
from tests.conftest import Clock
from tests.documents.clamd import EICAR, EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE, Clamd

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2031, 1, 7)
KEY = "document-key-desk-0123456789abcdef0123456789"
TEXT = "Mietvertrag Erika Mustermann"


def at(hour: int) -> datetime:
    return datetime.combine(TUESDAY, clock_time(hour), BERLIN)


def make_pdf(text: str = TEXT, extra: bytes = b"") -> bytes:
    """A one-page PDF; `extra` goes into a content stream (compressed when saved)."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    page = pdf.add_blank_page(page_size=(595, 842))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET\n".encode()
    page.obj.Contents = pdf.make_stream(content + (b"% " + extra + b"\n" if extra else b""))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def make_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


# Fixtures


@pytest.fixture
def sessions(container) -> sessionmaker[Session]:
    return container.sessions  # type: ignore[no-any-return]


@pytest.fixture
def service(world):
    service = world.service()
    world.advisor([service], password=None)
    return service


def book(container, service, hour: int = 9, email: str = "erika@example.org") -> BookingInfo:
    request = BookingRequest(service.id, at(hour), "video", "Erika Mustermann", email)
    placed = container.scheduler.book(request)
    assert placed.booking is not None
    return placed.booking


@pytest.fixture
def booking(container, service) -> BookingInfo:
    return book(container, service)


@pytest.fixture
def directory_raw(tmp_path: Path) -> DirectoryStore:
    return DirectoryStore(tmp_path / "documents")


@pytest.fixture(params=["directory", "database"])
def raw(request: pytest.FixtureRequest, sessions: sessionmaker[Session]) -> BlobStore:
    if request.param == "database":
        return DatabaseStore(sessions)
    store: BlobStore = request.getfixturevalue("directory_raw")
    return store


@pytest.fixture
def make_desk(
    sessions: sessionmaker[Session], directory_raw: DirectoryStore, clock: Clock
) -> Callable[..., DocumentDesk]:
    def make(
        scanner: Scanner | None = None,
        raw: BlobStore | None = None,
        limits: DocumentLimits | None = None,
    ) -> DocumentDesk:
        store = EncryptedStore(raw or directory_raw, DocumentKeys(KEY))
        return DocumentDesk(sessions, store, scanner, limits or DocumentLimits(), clock)

    return make


def records(sessions: sessionmaker[Session]) -> int:
    with read_session(sessions) as session:
        return session.scalar(select(func.count(BookingDocument.id))) or 0


def nothing_left(desk: DocumentDesk, raw: BlobStore, sessions: sessionmaker[Session]) -> None:
    assert raw.ids() == []
    assert records(sessions) == 0
    assert desk.erasure.orphan_blobs() == []


# The round trip, on both stores


def test_hand_in_scan_clean_and_open(make_desk, raw, sessions, booking, clamd: Clamd) -> None:
    desk = make_desk(Scanner(clamd.url), raw)
    upload = make_pdf()

    info = desk.hand_in(booking.id, upload, "../../etc/Mietvertrag.PDF", "  Mietvertrag\n2024 ")

    assert (info.status, info.name, info.label, info.kind) == (
        "pending",
        "Mietvertrag.pdf",
        "Mietvertrag 2024",
        "pdf",
    )
    assert info.pages == 1
    assert info.reason is None
    with pytest.raises(DocumentNotAvailable) as pending:
        desk.content(booking.id, info.id)
    assert pending.value.params["status"] == "pending"

    assert desk.scan_pending() == ScanResult(examined=1, clean=1)

    shown, data = desk.content(booking.id, info.id)
    assert shown.status == "clean"
    assert shown.scanned_at is not None
    assert data == check(upload, "x.pdf").data  # the checked bytes, saved again by pikepdf
    assert info.size == len(data)
    assert [d.status for d in desk.documents(booking.id)] == ["clean"]
    # What the store holds is ciphertext, not the file.
    (blob_id,) = raw.ids()
    stored = raw.get(blob_id)
    assert stored.startswith(b"SSDB")
    assert b"%PDF" not in stored
    assert data not in stored
    assert TEXT.encode() not in stored
    assert desk.erasure.orphan_blobs() == []
    (finding,) = desk.findings(booking.id)
    assert (finding.signature, finding.scan_attempts) == (None, 1)


def test_infected_document_is_rejected_and_its_bytes_deleted(
    make_desk, raw, sessions, booking, clamd: Clamd
) -> None:
    desk = make_desk(Scanner(clamd.url), raw)
    # EICAR inside a PDF's content stream passes the type check (pikepdf compresses the stream
    # when it saves; clamd decompresses PDF streams and still finds it).
    infected = desk.hand_in(booking.id, make_pdf(extra=EICAR), "scan.pdf")
    marked = desk.hand_in(booking.id, make_pdf(extra=MARKER), "other.pdf")
    assert len(raw.ids()) == 2

    assert desk.scan_pending() == ScanResult(examined=2, rejected=2)

    listed = desk.documents(booking.id)
    assert [(d.id, d.status, d.reason) for d in listed] == [
        (infected.id, "rejected", "infected"),
        (marked.id, "rejected", "infected"),
    ]
    assert raw.ids() == []
    assert desk.erasure.orphan_blobs() == []
    signatures = [f.signature for f in desk.findings(booking.id)]
    assert signatures == [f"{EICAR_SIGNATURE}.UNOFFICIAL", f"{MARKER_SIGNATURE}.UNOFFICIAL"]
    with pytest.raises(DocumentNotAvailable) as refused:
        desk.content(booking.id, infected.id)
    assert refused.value.params["status"] == "rejected"
    # A second round has nothing left to do.
    assert desk.scan_pending() == ScanResult()


def test_clamd_down_keeps_documents_pending_until_it_is_back(
    make_desk, directory_raw, booking, clamd: Clamd
) -> None:
    desk = make_desk(Scanner(clamd.url, timeout=5))
    first = desk.hand_in(booking.id, make_pdf(), "a.pdf")
    second = desk.hand_in(booking.id, make_png(), "b.png")
    clamd.stop()
    try:
        result = desk.scan_pending()
        assert result == ScanResult(examined=1, unavailable=True)  # the round stops at once
        assert desk.scan_pending().unavailable
        attempts = {f.document.id: f.scan_attempts for f in desk.findings(booking.id)}
        assert attempts == {first.id: 2, second.id: 0}
        assert {d.status for d in desk.documents(booking.id)} == {"pending"}
        with pytest.raises(DocumentNotAvailable):
            desk.content(booking.id, first.id)
    finally:
        clamd.start()

    assert desk.scan_pending() == ScanResult(examined=2, clean=2)
    attempts = {f.document.id: f.scan_attempts for f in desk.findings(booking.id)}
    assert attempts == {first.id: 3, second.id: 1}
    assert desk.content(booking.id, second.id)[0].kind == "png"


def test_without_a_scanner_nothing_becomes_clean(make_desk, booking) -> None:
    desk = make_desk(scanner=None)
    info = desk.hand_in(booking.id, make_pdf(), "a.pdf")

    assert desk.scan_pending() == ScanResult(unavailable=True)

    (finding,) = desk.findings(booking.id)
    assert (finding.document.status, finding.scan_attempts) == ("pending", 0)
    with pytest.raises(DocumentNotAvailable):
        desk.content(booking.id, info.id)


# Refusals leave nothing behind


def test_a_refused_type_leaves_no_blob_and_no_record(
    make_desk, directory_raw, sessions, booking
) -> None:
    desk = make_desk()
    for data, code in [
        (b"plain text", "unknown_type"),
        (EICAR, "unknown_type"),
        (b"", "empty"),
        (make_pdf()[:200], "truncated"),
    ]:
        with pytest.raises(Refused) as refused:
            desk.hand_in(booking.id, data, "a.pdf")
        assert refused.value.code == code
    nothing_left(desk, directory_raw, sessions)


def test_per_file_size(make_desk, directory_raw, sessions, booking) -> None:
    upload = make_pdf()
    desk = make_desk(limits=DocumentLimits(max_file_bytes=len(upload) - 1))
    with pytest.raises(Refused) as refused:
        desk.hand_in(booking.id, upload, "a.pdf")
    assert refused.value.code == "too_large_file"
    nothing_left(desk, directory_raw, sessions)


def test_the_21st_file_is_refused(make_desk, directory_raw, booking) -> None:
    desk = make_desk()
    upload = make_pdf()
    for number in range(20):
        desk.hand_in(booking.id, upload, f"{number}.pdf")
    with pytest.raises(TooManyFiles) as refused:
        desk.hand_in(booking.id, upload, "21.pdf")
    assert isinstance(refused.value, Conflict)
    assert (refused.value.code, refused.value.params["maximum"]) == ("too_many_files", 20)
    assert len(directory_raw.ids()) == 20
    assert desk.erasure.orphan_blobs() == []


def test_the_total_size_is_limited(make_desk, directory_raw, booking, service, container) -> None:
    upload = make_pdf()
    size = len(check(upload, "a.pdf").data)
    desk = make_desk(limits=DocumentLimits(max_total_bytes=2 * size + size // 2))
    desk.hand_in(booking.id, upload, "1.pdf")
    desk.hand_in(booking.id, upload, "2.pdf")
    with pytest.raises(QuotaExceeded) as refused:
        desk.hand_in(booking.id, upload, "3.pdf")
    assert refused.value.code == "quota_exceeded"
    assert len(directory_raw.ids()) == 2
    # Another booking has its own quota.
    other = book(container, service, hour=10, email="max@example.org")
    desk.hand_in(other.id, upload, "1.pdf")
    # A document deleted frees its share.
    first = desk.documents(booking.id)[0]
    desk.delete(booking.id, first.id)
    desk.hand_in(booking.id, upload, "3.pdf")
    assert desk.erasure.orphan_blobs() == []


def test_a_failing_insert_leaves_no_blob(make_desk, directory_raw, sessions, booking) -> None:
    desk = make_desk()

    class InsertFailed(Exception):
        pass

    def refuse(*_: object) -> None:
        raise InsertFailed()

    event.listen(BookingDocument, "before_insert", refuse)
    try:
        with pytest.raises(InsertFailed):
            desk.hand_in(booking.id, make_pdf(), "a.pdf")
    finally:
        event.remove(BookingDocument, "before_insert", refuse)
    nothing_left(desk, directory_raw, sessions)


def test_a_failing_commit_leaves_no_blob(
    make_desk, directory_raw, sessions, booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = make_desk()
    real_commit = Session.commit

    def flushing_commit(session: Session) -> None:
        # The record is flushed before the commit; fail on the commit of that transaction.
        if session.info.get("document_written"):
            raise ConnectionError("database went away")
        real_commit(session)

    def after_flush(session: Session, _context: object) -> None:
        if any(isinstance(o, BookingDocument) for o in session.new):
            session.info["document_written"] = True

    monkeypatch.setattr(Session, "commit", flushing_commit)
    event.listen(Session, "after_flush", after_flush)
    try:
        with pytest.raises(ConnectionError):
            desk.hand_in(booking.id, make_pdf(), "a.pdf")
    finally:
        event.remove(Session, "after_flush", after_flush)
    monkeypatch.undo()
    nothing_left(desk, directory_raw, sessions)


def test_100_hand_ins_at_once_never_exceed_the_quota(
    make_desk, directory_raw, sessions, booking
) -> None:
    """SQLite: `write_session` holds the writer lock; PostgreSQL: the booking's row is locked
    FOR UPDATE in the transaction that counts and inserts."""
    desk = make_desk(limits=DocumentLimits(max_files=20))
    upload = make_png()
    start = threading.Barrier(100)
    outcomes: list[str] = []
    lock = threading.Lock()

    def hand_in(number: int) -> None:
        start.wait()
        try:
            desk.hand_in(booking.id, upload, f"{number}.png")
            outcome = "ok"
        except TooManyFiles:
            outcome = "too_many_files"
        except Exception as error:
            outcome = repr(error)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=hand_in, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(set(outcomes)) == ["ok", "too_many_files"]
    assert outcomes.count("ok") == 20
    assert records(sessions) == 20
    assert len(directory_raw.ids()) == 20
    assert desk.erasure.orphan_blobs() == []


# The booking's state


def test_delete_until_the_appointment_begins_hand_in_until_it_ends(
    make_desk, directory_raw, sessions, booking, clock: Clock
) -> None:
    desk = make_desk()
    first = desk.hand_in(booking.id, make_pdf(), "a.pdf")
    second = desk.hand_in(booking.id, make_pdf(), "b.pdf")

    desk.delete(booking.id, first.id)

    assert [d.id for d in desk.documents(booking.id)] == [second.id]
    assert len(directory_raw.ids()) == 1
    with pytest.raises(DocumentNotFound):
        desk.delete(booking.id, first.id)

    clock.now = booking.start
    with pytest.raises(BookingInPast) as late:
        desk.delete(booking.id, second.id)
    assert late.value.code == "booking_in_past"
    # During the call a missing paper is still handed in; once it is over, no more.
    during = desk.hand_in(booking.id, make_pdf(), "c.pdf")
    clock.now = booking.end
    with pytest.raises(BookingInPast):
        desk.hand_in(booking.id, make_pdf(), "d.pdf")
    assert [d.id for d in desk.documents(booking.id)] == [second.id, during.id]
    assert len(directory_raw.ids()) == 2
    assert desk.erasure.orphan_blobs() == []


def test_hand_in_needs_a_confirmed_booking(
    make_desk, directory_raw, sessions, booking, container
) -> None:
    desk = make_desk()
    with pytest.raises(NotFound) as unknown:
        desk.hand_in(booking.id + 1000, make_pdf(), "a.pdf")
    assert unknown.value.code == "not_found"

    container.scheduler.hold(booking.service_id, at(11), "video")
    with read_session(sessions) as session:
        hold_id = session.scalar(select(Booking.id).where(Booking.status == "held"))
    assert hold_id is not None
    with pytest.raises(BookingNotConfirmed):
        desk.hand_in(hold_id, make_pdf(), "a.pdf")

    container.scheduler.cancel(booking.reference)
    with pytest.raises(BookingCancelled):
        desk.hand_in(booking.id, make_pdf(), "a.pdf")
    nothing_left(desk, directory_raw, sessions)


def test_labels_are_cleaned_and_limited(make_desk, directory_raw, sessions, booking) -> None:
    desk = make_desk()
    with pytest.raises(LabelTooLong) as long:
        desk.hand_in(booking.id, make_pdf(), "a.pdf", "x" * 101)
    assert long.value.code == "document_label_too_long"
    nothing_left(desk, directory_raw, sessions)

    info = desk.hand_in(booking.id, make_pdf(), "a.pdf", "Lohn\u202e\x00abrechnung\tMärz")
    assert info.label == "Lohnabrechnung März"
    assert desk.hand_in(booking.id, make_pdf(), "b.pdf", "y" * 100).label == "y" * 100


def test_documents_belong_to_their_booking(
    make_desk, booking, service, container, clamd: Clamd
) -> None:
    desk = make_desk(Scanner(clamd.url))
    other = book(container, service, hour=10, email="max@example.org")
    mine = desk.hand_in(booking.id, make_pdf(), "a.pdf")
    desk.scan_pending()

    assert desk.documents(other.id) == []
    with pytest.raises(DocumentNotFound):
        desk.content(other.id, mine.id)
    with pytest.raises(DocumentNotFound):
        desk.delete(other.id, mine.id)
    with pytest.raises(DocumentNotFound):
        desk.content(booking.id, mine.id + 1000)
    assert desk.content(booking.id, mine.id)[0].id == mine.id


def test_an_advisor_marks_a_clean_document_checked(
    make_desk, booking, clock: Clock, clamd: Clamd
) -> None:
    desk = make_desk(Scanner(clamd.url))
    info = desk.hand_in(booking.id, make_pdf(), "a.pdf")
    with pytest.raises(DocumentNotAvailable):
        desk.mark_checked(booking.advisor_id, booking.id, info.id)
    desk.scan_pending()

    clock.now = booking.start
    checked = desk.mark_checked(booking.advisor_id, booking.id, info.id)

    assert (checked.checked_by_id, checked.checked_at) == (booking.advisor_id, booking.start)
    assert desk.documents(booking.id)[0].checked_at == booking.start


# The purge


def test_erase_for_bookings_leaves_nothing(
    make_desk, raw, sessions, booking, service, container, clamd: Clamd
) -> None:
    desk = make_desk(Scanner(clamd.url), raw)
    other = book(container, service, hour=10, email="max@example.org")
    desk.hand_in(booking.id, make_pdf(), "clean.pdf")
    desk.hand_in(booking.id, make_pdf(extra=EICAR), "infected.pdf")
    desk.scan_pending()
    desk.hand_in(booking.id, make_pdf(), "pending.pdf")
    kept = desk.hand_in(other.id, make_pdf(), "other.pdf")
    assert len(raw.ids()) == 3

    assert desk.erasure.erase_for_bookings([booking.id]) == 3

    assert desk.documents(booking.id) == []
    assert [d.id for d in desk.documents(other.id)] == [kept.id]
    assert len(raw.ids()) == 1
    assert desk.erasure.orphan_blobs() == []
    assert desk.erasure.erase_for_bookings([booking.id, other.id]) == 1
    assert desk.erasure.erase_for_bookings([]) == 0
    nothing_left(desk, raw, sessions)


def test_orphan_blobs_are_listed(make_desk, directory_raw, booking) -> None:
    desk = make_desk()
    desk.hand_in(booking.id, make_pdf(), "a.pdf")
    stray = EncryptedStore(directory_raw, DocumentKeys(KEY))
    orphan = new_blob_id()
    stray.put(orphan, b"left behind")
    assert desk.erasure.orphan_blobs() == [orphan]


# The worker


def test_worker_scans_when_woken(make_desk, booking, clamd: Clamd) -> None:
    desk = make_desk(Scanner(clamd.url))
    worker = ScanWorker(desk, poll=60.0)
    worker.start()
    try:
        info = desk.hand_in(booking.id, make_pdf(), "a.pdf")
        worker.wake()
        deadline = time.monotonic() + 20
        while desk.documents(booking.id)[0].status == "pending":
            assert time.monotonic() < deadline, "the worker did not scan"
            time.sleep(0.05)
    finally:
        worker.stop()
    assert desk.content(booking.id, info.id)[0].status == "clean"


def test_worker_survives_a_failing_round(
    make_desk, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = make_desk()

    def fail(limit: int = 50) -> ScanResult:
        raise ConnectionError("database went away")

    monkeypatch.setattr(desk, "scan_pending", fail)
    with caplog.at_level(logging.ERROR, logger="documents.worker"):
        assert ScanWorker(desk).run_once() is None
    assert "document scan failed" in caplog.text
