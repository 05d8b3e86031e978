"""The citizens' documents API of the public contract v1.1 (web/api/documents.py), through the
application: hand in, the scan by a real clamd, list, take back; and bad input of every kind
answered with a clear 4xx and nothing half-stored (no record, no bytes)."""

from __future__ import annotations

import io
import zlib
from dataclasses import replace
from datetime import datetime, timedelta

import pikepdf
import pytest
from PIL import Image
from sqlalchemy import select

from documents.models import BookingDocument
from documents.requirements import NamedEntry, Requirements
from scheduler.db import read_session
from scheduler.services import LINK_GRACE
from tests.conftest import booking_body
from tests.documents.clamd import EICAR, Clamd
from tests.documents.test_document_checks import (
    make_jpeg_with_gps,
    make_pdf,
    make_png,
    make_zip,
    modified_pdf,
    png_header_bomb,
)
from tests.documents.test_document_desk import make_pdf as make_pdf_with
from tests.web.api.test_api_public import TUESDAY, at, bearer, booked, manage_token

PATH = "/api/v1/booking/documents"


@pytest.fixture
def settings(settings, clamd: Clamd):
    return settings.model_copy(update={"clamav_url": clamd.url})


@pytest.fixture
def service(world):
    service = world.service(channels=["video", "phone"])
    world.advisor([service], email="advisor@example.org")
    return service


@pytest.fixture
def booking(client, service):
    return booked(client, booking_body(service, at(TUESDAY, 9)))


@pytest.fixture
def auth(booking) -> dict[str, str]:
    return bearer(manage_token(booking))


def upload(client, auth, data: bytes, name: str = "scan.pdf", **fields: str):
    return client.post(PATH, headers=auth, files={"file": (name, data)}, data=fields)


def blob_files(container) -> list[str]:
    folder = container.settings.document_dir
    return [p.name for p in folder.rglob("*") if p.is_file() and p.name != ".lock"]


def nothing_stored(container) -> None:
    """No document for anyone, and no bytes in the store."""
    assert container.documents.erasure.orphan_blobs() == []
    assert blob_files(container) == []


# The contract


def test_hand_in_is_pending_then_clean_after_the_scan(client, container, auth) -> None:
    response = upload(client, auth, make_pdf(2), "Bescheid März.PDF", label="Bescheid")

    assert response.status_code == 202
    document = response.json()
    assert {k: document[k] for k in ("name", "label", "status", "kind", "pages")} == {
        "name": "Bescheid März.pdf",
        "label": "Bescheid",
        "status": "pending",
        "kind": "pdf",
        "pages": 2,
    }
    assert document["size"] > 0
    container.scan_worker.run_once()
    listed = client.get(PATH, headers=auth).json()
    assert [(d["id"], d["status"], d["reason"]) for d in listed] == [
        (document["id"], "clean", None)
    ]


def test_an_infected_file_is_rejected_and_its_bytes_are_gone(client, container, auth) -> None:
    response = upload(client, auth, make_pdf_with(extra=EICAR), "lohn.pdf")
    assert response.status_code == 202
    container.scan_worker.run_once()

    (listed,) = client.get(PATH, headers=auth).json()

    assert (listed["status"], listed["reason"]) == ("rejected", "infected")
    assert "Eicar" not in str(listed)  # clamd's finding is for staff, not the citizen
    nothing_stored(container)


def test_a_file_waits_while_the_scanner_is_down(client, container, auth, clamd: Clamd) -> None:
    clamd.stop()
    try:
        assert upload(client, auth, make_png()).status_code == 202
        container.scan_worker.run_once()
        assert [d["status"] for d in client.get(PATH, headers=auth).json()] == ["pending"]
    finally:
        clamd.start()
    container.scan_worker.run_once()
    assert [d["status"] for d in client.get(PATH, headers=auth).json()] == ["clean"]


def test_photos_lose_their_location_and_may_name_a_requested_document(
    client, container, service, auth
) -> None:
    (named,) = Requirements(container.sessions).replace(
        service.id, [NamedEntry("Letzter Bescheid", "", None)]
    )
    response = upload(
        client, auth, make_jpeg_with_gps(), "IMG_0001.JPG", requirement_id=str(named.id)
    )

    assert response.status_code == 202
    assert response.json()["requirement_id"] == named.id
    container.scan_worker.run_once()
    data = stored(container, response.json()["id"])
    assert Image.open(io.BytesIO(data)).getexif() == {}


def stored(container, document_id: int) -> bytes:
    """The checked bytes the store keeps for a document (after its scan)."""
    with read_session(container.sessions) as session:
        booking_id = session.scalar(
            select(BookingDocument.booking_id).where(BookingDocument.id == document_id)
        )
    return container.documents.content(booking_id, document_id)[1]


def test_delete_until_the_start_then_409(client, container, clock, booking, auth) -> None:
    first = upload(client, auth, make_png()).json()
    second = upload(client, auth, make_png()).json()

    assert client.delete(f"{PATH}/{first['id']}", headers=auth).status_code == 204
    assert client.delete(f"{PATH}/{first['id']}", headers=auth).status_code == 404
    clock.now = clock.now.replace(year=2031, month=1, day=7, hour=8) + timedelta(minutes=1)
    response = client.delete(f"{PATH}/{second['id']}", headers=auth)
    assert response.status_code == 409
    assert [d["id"] for d in client.get(PATH, headers=auth).json()] == [second["id"]]


def test_another_booking_s_document_is_unknown(client, service, auth) -> None:
    other = bearer(manage_token(booked(client, booking_body(service, at(TUESDAY, 11)))))
    mine = upload(client, auth, make_png()).json()

    assert client.delete(f"{PATH}/{mine['id']}", headers=other).status_code == 404
    assert client.get(PATH, headers=other).json() == []
    assert len(client.get(PATH, headers=auth).json()) == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer forged.token.here"}])
def test_a_missing_or_forged_link_is_refused(client, container, auth, headers) -> None:
    forged = auth["Authorization"][:-3] + "abc"
    for attempt in (headers, {"Authorization": forged}):
        assert upload(client, attempt, make_png()).status_code == 401
        assert client.get(PATH, headers=attempt).status_code == 401
    nothing_stored(container)


def test_a_cancelled_booking_takes_no_documents(client, container, auth) -> None:
    assert client.post("/api/v1/booking/cancel", headers=auth).status_code == 200
    response = upload(client, auth, make_png())
    assert response.status_code == 409
    assert response.json()["code"] == "booking_cancelled"
    nothing_stored(container)


# Bad input: a clear 4xx, nothing stored


def pdf_with_huge_page() -> bytes:
    def enlarge(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.MediaBox = [0, 0, 14400, 14400 * 40]

    return modified_pdf(enlarge)


ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 200
MZ = b"MZ\x90\x00\x03" + b"\0" * 300


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (b"", "leer.pdf", 422, "empty"),
        (b"Hallo, hier mein Antrag", "antrag.pdf", 415, "unknown_type"),
        (MZ, "bescheid.pdf", 415, "unknown_type"),
        (ELF, "foto.jpg", 415, "unknown_type"),
        (make_zip(), "unterlagen.pdf", 415, "unknown_type"),
        (b"GIF89a" + b"\0" * 100, "bild.gif", 415, "unknown_type"),
        (png_header_bomb(100_000, 100_000), "bomb.png", 422, "too_large_image"),
        (make_pdf(1)[:300], "abgeschnitten.pdf", 422, "truncated"),
        (EICAR, "eicar.pdf", 415, "unknown_type"),
    ],
)
def test_bad_files_are_refused_with_their_reason(
    client, container, auth, data, name, status, code
) -> None:
    response = upload(client, auth, data, name)

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["detail"]  # in plain words
    nothing_stored(container)


def test_polyglots_are_kept_only_in_their_cleaned_form(client, container, auth) -> None:
    for data, name in (
        (make_pdf(1) + make_zip(), "bescheid.pdf"),
        (make_png() + b"<script>alert(1)</script>", "bild.png"),
    ):
        response = upload(client, auth, data, name)
        assert response.status_code == 202, response.text
    container.scan_worker.run_once()
    for document in client.get(PATH, headers=auth).json():
        data = stored(container, document["id"])
        assert b"evil.exe" not in data
        assert b"<script>" not in data


def test_a_pdf_bomb_is_answered_quickly(client, container, auth) -> None:
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)

    def add(pdf: pikepdf.Pdf) -> None:
        stream = pikepdf.Stream(pdf, bomb)
        stream.Filter = pikepdf.Name.FlateDecode
        pdf.Root.Bomb = pdf.make_indirect(stream)

    response = upload(client, auth, modified_pdf(add), "bomb.pdf")
    assert response.status_code == 202  # kept compressed: never inflated
    huge = upload(client, auth, pdf_with_huge_page(), "plan.pdf")
    assert huge.status_code == 202, huge.text  # a huge page is stored; shown scaled down


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.pdf", "C:\\Windows\\system32\\x.pdf", "a\x00b.pdf", "re\nport.pdf"]
)
def test_names_are_never_paths(client, container, auth, name) -> None:
    response = upload(client, auth, make_pdf(1), name)

    assert response.status_code == 202
    stored = response.json()["name"]
    assert "/" not in stored
    assert "\\" not in stored
    assert stored.isprintable()
    ids = [p.name for p in container.settings.document_dir.rglob("*") if p.is_file()]
    assert all(name_part not in "".join(ids) for name_part in ("passwd", "system32", "port"))


def test_limits_per_file_and_per_booking(client, container, auth) -> None:
    desk = container.documents
    desk.limits = replace(desk.limits, max_file_bytes=2000)
    assert upload(client, auth, b"%PDF" + b"0" * 3000, "gross.pdf").status_code == 413
    first = upload(client, auth, make_png())
    assert first.status_code == 202
    desk.limits = replace(desk.limits, max_total_bytes=first.json()["size"] + 10)
    over = upload(client, auth, make_png())
    assert (over.status_code, over.json()["code"]) == (409, "quota_exceeded")
    desk.limits = replace(desk.limits, max_total_bytes=10**6, max_files=2)
    assert upload(client, auth, make_png()).status_code == 202
    too_many = upload(client, auth, make_png())
    assert (too_many.status_code, too_many.json()["code"]) == (409, "too_many_files")
    assert len(client.get(PATH, headers=auth).json()) == 2
    assert len(blob_files(container)) == 2


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, container, auth) -> None:
    limit = container.settings.document_max_bytes + 64 * 1024
    response = client.post(
        PATH,
        headers=auth | {"Content-Type": "multipart/form-data; boundary=x"},
        content=b"x" * (limit + 1),
    )
    assert response.status_code == 413
    nothing_stored(container)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"file": "JVBERi0="}}, 422),  # not multipart
        ({"files": {"other": ("a.pdf", b"%PDF")}}, 422),  # no field "file"
        ({"files": {"file": ("a.png", make_png())}, "data": {"label": "x" * 101}}, 422),
        ({"files": {"file": ("a.png", make_png())}, "data": {"requirement_id": "abc"}}, 422),
        ({"files": {"file": ("a.png", make_png())}, "data": {"requirement_id": "999"}}, 422),
        (
            {
                "content": b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nbroken",
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            422,  # the body ends before its part: no file was sent
        ),
    ],
)
def test_malformed_requests_get_a_clear_answer(client, container, auth, kwargs, status) -> None:
    headers = auth | kwargs.pop("headers", {})
    response = client.post(PATH, headers=headers, **kwargs)

    assert response.status_code == status, response.text
    assert "code" in response.json()
    nothing_stored(container)


def test_an_expired_link_is_refused(client, container, clock, booking, auth) -> None:
    # A link lasts until a while after the appointment (LINK_GRACE), then nothing more.
    clock.now = datetime.fromisoformat(booking["end"]) + LINK_GRACE + timedelta(seconds=1)
    response = upload(client, auth, make_png())
    assert (response.status_code, response.json()["code"]) == (401, "token_expired")
    assert client.get(PATH, headers=auth).status_code == 401
    nothing_stored(container)
