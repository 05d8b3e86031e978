"""The documents panel's endpoints of a booking's video room, over HTTP with a real clamd: who
may list a booking's documents and fetch their page images (the citizen of the booking, its
advisor; not another citizen, a colleague, another advisor, the hotline, an interpreter or
nobody), only clean documents, only while the room is open, none in an ad-hoc room, and the
citizen's hand-in from inside the room.

The booking comes from `room_world` (tests/signaling/conftest.py): a video booking on Tuesday
7 January 2031 at 10:00 in Berlin, the clock at 09:50; its room is open from 09:45 to 11:00.
"""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pikepdf
import pytest
from PIL import Image
from sqlalchemy import func, select

from documents.staff import VIEW
from scheduler.accounts import StaffIdentity
from scheduler.db import read_session
from scheduler.models import AuditEntry, Booking, Role, Staff
from tests.conftest import booking_body
from tests.documents.clamd import MARKER, Clamd
from tests.documents.conftest import clamd  # noqa: F401 - the fixture, for this module
from tests.documents.test_document_desk import make_pdf
from tests.signaling import conftest as signaling
from tests.web.pages.test_room_pages import csrf, enter, log_in, reference

room_world = signaling.room_world
START = signaling.START


def make_pages_pdf(pages: int, title: str = "Bescheid") -> bytes:
    """A PDF of `pages` A4 pages, each saying its number."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for number in range(1, pages + 1):
        page = pdf.add_blank_page(page_size=(595, 842))
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        text = f"BT /F1 36 Tf 72 720 Td ({title} Seite {number}) Tj ET\n"
        page.obj.Contents = pdf.make_stream(text.encode())
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.fixture
def settings(settings, clamd: Clamd):  # noqa: F811 - the shared settings, with our clamd
    return settings.model_copy(update={"clamav_url": clamd.url})


def booking_id(room_world, container) -> int:
    with read_session(container.sessions) as session:
        found = session.scalar(select(Booking.id).where(Booking.reference == reference(room_world)))
    assert found is not None
    return int(found)


@pytest.fixture
def handed_in(room_world, container):
    """A clean two-page PDF, a pending one and a rejected one, of the room's booking."""
    desk = container.documents
    booking = booking_id(room_world, container)
    clean = desk.hand_in(booking, make_pages_pdf(2), "bescheid.pdf", "Letzter Bescheid")
    rejected = desk.hand_in(booking, make_pdf(extra=MARKER), "virus.pdf", "")
    desk.scan_pending()
    pending = desk.hand_in(booking, make_pages_pdf(1), "mietvertrag.pdf", "Mietvertrag")
    return SimpleNamespace(booking=booking, clean=clean, pending=pending, rejected=rejected)


def page_url(document_id: int, page: int = 1, width: int = 800) -> str:
    return f"/raum/unterlagen/{document_id}/seiten/{page}.png?breite={width}"


def staff_url(room_id: str, document_id: int | None = None, page: int = 1) -> str:
    base = f"/staff/raeume/{room_id}/unterlagen"
    return base if document_id is None else f"{base}/{document_id}/seiten/{page}.png?breite=800"


def views(container) -> int:
    with read_session(container.sessions) as session:
        found = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == VIEW)
        return int(session.scalar(found) or 0)


# -- the citizen -------------------------------------------------------------------------------


def test_the_citizen_lists_the_bookings_documents_with_their_state(room_world, handed_in):
    enter(room_world)

    response = room_world.client.get("/raum/unterlagen")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    documents = {d["id"]: d for d in response.json()["documents"]}
    assert documents[handed_in.clean.id] == {
        "id": handed_in.clean.id,
        "label": "Letzter Bescheid",
        "name": "bescheid.pdf",
        "status": "clean",
        "pages": 2,
        "kind": "pdf",
    }
    assert documents[handed_in.pending.id]["status"] == "pending"
    assert documents[handed_in.rejected.id]["status"] == "rejected"


def test_the_citizen_gets_a_clean_documents_pages_as_png(room_world, handed_in):
    enter(room_world)

    first = room_world.client.get(page_url(handed_in.clean.id, 1, 640))
    second = room_world.client.get(page_url(handed_in.clean.id, 2, 640))

    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "no-store"
        assert "nosniff" in response.headers["x-content-type-options"]
    assert Image.open(io.BytesIO(first.content)).width == 800  # snapped to a cached width
    assert first.content != second.content
    assert room_world.client.get(page_url(handed_in.clean.id, 3)).status_code == 404


@pytest.mark.parametrize("which", ["pending", "rejected"])
def test_a_pending_or_rejected_document_is_never_served(room_world, handed_in, which):
    enter(room_world)

    response = room_world.client.get(page_url(getattr(handed_in, which).id))

    assert response.status_code == 404
    assert response.json()["code"] == "document_not_available"
    assert response.headers["content-type"] == "application/json"


def test_nobody_without_a_link_gets_anything(room_world, handed_in):
    client = room_world.client

    assert client.get("/raum/unterlagen").status_code == 401
    assert client.get(page_url(handed_in.clean.id)).status_code == 401


def test_the_citizen_of_another_booking_sees_only_their_own(room_world, handed_in, container):
    with read_session(container.sessions) as session:
        service_id = session.get(Booking, handed_in.booking).service_id
    body = booking_body(SimpleNamespace(id=service_id), START + timedelta(minutes=30))
    now = room_world.clock.now
    room_world.clock.now = START - timedelta(days=1)
    other = room_world.client.post("/api/v1/bookings", json=body)
    assert other.status_code == 201, other.text
    room_world.clock.now = now + timedelta(minutes=30)  # both rooms open
    enter(room_world, other.json()["join_url"].rsplit("/", 1)[1])

    assert room_world.client.get("/raum/unterlagen").json() == {"documents": []}
    assert room_world.client.get(page_url(handed_in.clean.id)).status_code == 404


def test_an_interpreter_invited_to_the_room_gets_no_documents(room_world, handed_in):
    room_id = room_world.room_id()
    headers = room_world.staff_headers(room_world.advisor)
    invite = room_world.client.post(
        f"/api/v1/rooms/{room_id}/invites", headers=headers, json={"label": "Dolmetscherin"}
    )
    assert invite.status_code == 201, invite.text
    enter(room_world, invite.json()["url"].rsplit("/", 1)[1])

    assert room_world.client.get("/raum/unterlagen").status_code == 403
    assert room_world.client.get(page_url(handed_in.clean.id)).status_code == 403


def test_only_while_the_room_is_open(room_world, handed_in):
    enter(room_world)
    room_world.clock.now = START - timedelta(minutes=30)

    early = room_world.client.get(page_url(handed_in.clean.id))

    assert early.status_code == 409
    assert early.json()["code"] == "room_not_open"
    room_world.clock.now = START + timedelta(hours=2)
    late = room_world.client.get("/raum/unterlagen")
    assert (late.status_code, late.json()["code"]) == (409, "room_closed")


def test_the_citizen_hands_in_a_document_from_the_room(room_world, handed_in, container):
    client = room_world.client
    enter(room_world)

    response = client.post(
        "/raum/unterlagen",
        headers={"X-CSRF-Token": csrf(client)},
        data={"label": "Kontoauszug"},
        files={"file": ("konto.pdf", make_pages_pdf(1), "application/pdf")},
    )

    assert response.status_code == 201, response.text
    document = response.json()["document"]
    assert (document["label"], document["status"]) == ("Kontoauszug", "pending")
    container.documents.scan_pending()
    listed = {d["id"]: d for d in client.get("/raum/unterlagen").json()["documents"]}
    assert listed[document["id"]]["status"] == "clean"


def test_a_refused_hand_in_answers_json(room_world, handed_in):
    client = room_world.client
    enter(room_world)
    token = {"X-CSRF-Token": csrf(client)}
    files = {"file": ("notiz.exe", b"MZ\x90\x00 not a document", "application/octet-stream")}

    refused = client.post("/raum/unterlagen", headers=token, files=files)
    forged = client.post("/raum/unterlagen", files=files)

    assert refused.status_code == 415
    assert refused.json()["code"] == "unknown_type"
    assert forged.status_code == 403


# -- staff -------------------------------------------------------------------------------------


def test_the_advisor_sees_the_documents_and_each_view_is_audited(room_world, handed_in, container):
    room_id = room_world.room_id()
    log_in(room_world, room_world.advisor)

    listed = room_world.client.get(staff_url(room_id))
    first = room_world.client.get(staff_url(room_id, handed_in.clean.id, 1))
    second = room_world.client.get(staff_url(room_id, handed_in.clean.id, 2))
    pending = room_world.client.get(staff_url(room_id, handed_in.pending.id, 1))

    assert listed.status_code == 200
    assert {d["id"] for d in listed.json()["documents"]} == {
        handed_in.clean.id,
        handed_in.pending.id,
        handed_in.rejected.id,
    }
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "no-store"
    assert pending.status_code == 404
    assert views(container) == 1  # once per half hour and document, not per page


@pytest.mark.parametrize(("who", "status"), [("colleague", 404), ("stranger", 403)])
def test_other_advisors_see_nothing(room_world, handed_in, who, status):
    room_id = room_world.room_id()
    log_in(room_world, getattr(room_world, who))

    assert room_world.client.get(staff_url(room_id)).status_code == status
    assert room_world.client.get(staff_url(room_id, handed_in.clean.id)).status_code == status


def test_the_hotline_sees_nothing(room_world, handed_in, container):
    room_id = room_world.room_id()
    hotline = room_world.world.advisor([], role=Role.HOTLINE, hours=[], email="hotline@example.org")
    log_in(room_world, hotline)

    assert room_world.client.get(staff_url(room_id)).status_code == 403
    assert room_world.client.get(staff_url(room_id, handed_in.clean.id)).status_code == 403


def test_an_admin_hosting_the_room_sees_the_documents(room_world, handed_in, container):
    room_id = room_world.room_id()
    admin = room_world.world.advisor([], role=Role.ADMIN, hours=[], email="chef@example.org")
    with container.sessions.begin() as session:
        team_id = session.get(Staff, room_world.advisor.id).team_id
        session.get(Staff, admin.id).team_id = team_id
    log_in(room_world, admin)

    assert room_world.client.get(staff_url(room_id)).status_code == 200
    assert room_world.client.get(staff_url(room_id, handed_in.clean.id)).status_code == 200


def test_staff_without_a_session_get_401(room_world, handed_in):
    assert room_world.client.get(staff_url(room_world.room_id())).status_code == 401


def test_an_adhoc_room_has_no_documents(room_world, handed_in, container):
    advisor = StaffIdentity.of(room_world.advisor)
    room, _ = container.rooms.open_adhoc(advisor, "Rückfrage")
    log_in(room_world, room_world.advisor)

    response = room_world.client.get(staff_url(room.id))

    assert response.status_code == 404
