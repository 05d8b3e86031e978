"""The staff's side of the documents (documents/staff.py, web/pages/staff_documents.py,
web/api/staff_documents.py): who sees what on the booking's page and the agenda, the viewer,
the page images, the download and "checked", each role in a table; every view, download and
check audited, a view once per half hour."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scheduler.db import read_session
from scheduler.models import AuditEntry, Role
from tests.documents.clamd import EICAR, Clamd
from tests.documents.test_document_checks import make_pdf
from tests.documents.test_document_desk import at, book
from tests.documents.test_document_desk import make_pdf as make_pdf_with
from tests.web.pages.test_staff_login import post, staff_client


@pytest.fixture
def settings(settings, clamd: Clamd):
    return settings.model_copy(update={"clamav_url": clamd.url})


@pytest.fixture
def service(world):
    return world.service(name="Wohngeld", channels=["video", "phone"])


@pytest.fixture
def people(world, service):
    return {
        "anna": world.advisor([service], email="anna@example.org"),
        "bernd": world.advisor([service], email="bernd@example.org"),
        "hotline": world.advisor([], email="hotline@example.org", role=Role.HOTLINE),
    }


@pytest.fixture
def booking(container, service, people):
    booking = book(container, service, hour=9)
    assert booking.advisor_id in (people["anna"].id, people["bernd"].id)
    return booking


@pytest.fixture
def owner(people, booking) -> str:
    return "anna" if booking.advisor_id == people["anna"].id else "bernd"


@pytest.fixture
def other(owner) -> str:
    return "bernd" if owner == "anna" else "anna"


@pytest.fixture
def documents(container, booking):
    """A clean three-page PDF and one refused for malware."""
    desk = container.documents
    clean = desk.hand_in(booking.id, make_pdf(3), "Bescheid März.pdf", "Letzter Bescheid")
    infected = desk.hand_in(booking.id, make_pdf_with(extra=EICAR), "lohn.pdf")
    desk.scan_pending()
    return {"clean": clean, "infected": infected}


def client_of(app, who: str) -> TestClient:
    if who == "anonymous":
        return TestClient(app)
    return staff_client(app, f"{who}@example.org")


def audit(container, action: str) -> list[AuditEntry]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# Who may: one table over every page and endpoint


ALLOWED = {"admin", "owner"}


@pytest.mark.parametrize("who", ["admin", "owner", "other", "hotline", "anonymous"])
def test_every_view_of_a_document_by_role(app, world, booking, documents, owner, other, who):
    name = {"owner": owner, "other": other}.get(who, who)
    client = client_of(app, name)
    ref, doc = booking.reference, documents["clean"].id
    base = f"/staff/buchungen/{ref}/unterlagen/{doc}"
    answers = {
        "viewer": client.get(f"{base}?seite=2", follow_redirects=False),
        "image": client.get(f"{base}/seiten/2.png?breite=480", follow_redirects=False),
        "file": client.get(f"{base}/datei", follow_redirects=False),
        "checked": post(client, f"{base}/geprueft"),
    }
    api = {} if who == "anonymous" else world.login(TestClient(app), f"{name}@example.org")
    api_base = f"/api/v1/staff/bookings/{ref}/documents"
    answers |= {
        "api list": client.get(api_base, headers=api),
        "api file": client.get(f"{api_base}/{doc}/file", headers=api),
        "api checked": client.post(f"{api_base}/{doc}/checked", headers=api),
    }
    statuses = {what: response.status_code for what, response in answers.items()}
    if who in ALLOWED:
        expected = dict.fromkeys(answers, 200) | {"checked": 303}
    elif who == "other":  # another advisor learns nothing, not even that it exists
        expected = dict.fromkeys(answers, 404)
    elif who == "hotline":
        expected = dict.fromkeys(answers, 403)
    else:
        # Pages lead to the login; the API asks for a token.
        expected = dict.fromkeys(answers, 303) | dict.fromkeys(
            ("api list", "api file", "api checked"), 401
        )
    assert statuses == expected


# What they see


def test_the_booking_page_lists_the_documents_for_the_advisor_and_counts_for_the_hotline(
    app, booking, documents, owner
) -> None:
    page = client_of(app, owner).get(f"/staff/buchungen/{booking.reference}").text
    assert "Letzter Bescheid" in page
    assert "Bescheid März.pdf" in page
    assert "Eicar-Test-Signature" in page  # staff see what the scanner found
    assert f"/unterlagen/{documents['clean'].id}/datei" in page
    assert f"/unterlagen/{documents['infected'].id}/datei" not in page

    hotline = client_of(app, "hotline").get(f"/staff/buchungen/{booking.reference}").text
    assert "2 Unterlagen eingereicht." in hotline
    assert "Letzter Bescheid" not in hotline


def test_the_agenda_counts_documents_and_those_not_yet_checked(
    app, container, world, booking, documents, owner
) -> None:
    client = client_of(app, owner)
    day = at(9).date().isoformat()
    assert "1 noch nicht geprüft" in client.get(f"/staff/agenda?tag={day}").text
    container.staff_documents.mark_checked(world.admin, booking.reference, documents["clean"].id)
    page = client.get(f"/staff/agenda?tag={day}").text
    assert "2 Unterlagen" in page
    assert "noch nicht geprüft" not in page


def test_the_viewer_shows_a_page_and_turns_pages_without_javascript(
    app, booking, documents, owner
) -> None:
    client = client_of(app, owner)
    base = f"/staff/buchungen/{booking.reference}/unterlagen/{documents['clean'].id}"
    page = client.get(f"{base}?seite=2").text
    assert "Seite 2 von 3" in page
    assert f'href="{base}?seite=1"' in page
    assert f'href="{base}?seite=3"' in page
    assert f"{base}/seiten/2.png?breite=1200" in page
    assert "Seite 99" not in client.get(f"{base}?seite=99").text  # the last page instead
    image = client.get(f"{base}/seiten/2.png?breite=480")
    assert image.content.startswith(b"\x89PNG")
    assert image.headers["cache-control"] == "no-store"


def test_the_download_is_the_checked_file_with_a_safe_name(
    app, container, booking, documents, owner
) -> None:
    response = client_of(app, owner).get(
        f"/staff/buchungen/{booking.reference}/unterlagen/{documents['clean'].id}/datei"
    )
    _, stored = container.documents.content(booking.id, documents["clean"].id)
    assert response.content == stored
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Bescheid M_rz.pdf\"; filename*=UTF-8''Bescheid%20M%C3%A4rz.pdf"
    )


def test_a_refused_or_pending_document_and_pages_it_lacks_are_not_found(
    app, container, booking, documents, owner
) -> None:
    client = client_of(app, owner)
    pending = container.documents.hand_in(booking.id, make_pdf(1), "neu.pdf")
    base = f"/staff/buchungen/{booking.reference}/unterlagen"
    for document_id in (documents["infected"].id, pending.id, 999_999):
        assert client.get(f"{base}/{document_id}").status_code == 404
        assert client.get(f"{base}/{document_id}/datei").status_code == 404
    clean = documents["clean"].id
    assert client.get(f"{base}/{clean}/seiten/4.png").status_code == 404
    assert client.get(f"{base}/{clean}/seiten/0.png").status_code == 422
    assert client.get(f"{base}/{clean}/seiten/1.png?breite=5000").status_code == 422
    assert client.get(f"{base}/abc").status_code == 422
    assert client.get(f"{base}/{2**40}").status_code == 422


# The audit


def test_views_downloads_and_checks_are_audited_a_view_once_per_half_hour(
    app, container, clock, world, booking, documents, owner
) -> None:
    client = client_of(app, owner)
    base = f"/staff/buchungen/{booking.reference}/unterlagen/{documents['clean'].id}"
    for page in (1, 2, 3):  # turning pages is one view
        client.get(f"{base}?seite={page}")
        client.get(f"{base}/seiten/{page}.png")
    assert len(audit(container, "document_view")) == 1
    clock.advance(minutes=31)
    client.get(f"{base}/seiten/1.png")
    client.get(f"{base}/datei")
    post(client, f"{base}/geprueft")

    views = audit(container, "document_view")
    assert len(views) == 2
    assert {entry.booking_id for entry in views} == {booking.id}
    assert {entry.detail for entry in views} == {f"document {documents['clean'].id}"}
    assert len(audit(container, "document_download")) == 1
    assert len(audit(container, "document_checked")) == 1
    checked = container.documents.documents(booking.id)[0]
    assert checked.checked_at == clock.now
