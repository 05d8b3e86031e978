"""The documents panel of a booking's video room in Chromium: a citizen handed in a two-page
PDF before the call, which a real clamd passed; citizen (English) and advisor (German) meet in
the room; the advisor shows the document, both see page 1; the citizen turns to page 2 and the
advisor's panel follows (announced in its live region); the advisor places the pointer by
keyboard and by click, and the citizen sees it at the same place. axe finds nothing on either
page with the panel open. Afterwards the advisor finds the document on the appointment's page,
opens it in the staff viewer, turns its page and marks it as checked, by keyboard.

A server of its own with the demo data, on fixed office clocks: first a Monday a week before
the appointment to book it (with Anna Berger, the demo advisor who can log in), then, started
again on the same database, five minutes before the appointment, when the room is open.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bench.common import Server
from scheduler.db import read_session
from scheduler.models import Booking, Staff
from tests.browser.axe import violations
from tests.browser.conftest import PHONE, Browsing
from tests.browser.waiting import until
from tests.documents.clamd import Clamd
from tests.documents.conftest import clamd  # noqa: F401 - the fixture, for this module
from tests.web.pages.test_room_documents import make_pages_pdf
from web.container import Container
from web.demo import LOGINS
from web.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
ROOT = Path(__file__).resolve().parents[2]
BOOKED_AT = datetime(2031, 1, 13, 8, 0, tzinfo=BERLIN)  # a Monday
SERVICE = "Wohngeld: Unterlagen besprechen"
ADVISOR = "Anna Berger"
VIEWER_IMAGE_SHOWN = """() => {
  const image = document.querySelector(".document-page img");
  return image.complete && image.naturalWidth > 0;
}"""
IMAGE_SHOWN = """(page) => {
  const image = document.getElementById("documents-image");
  return image.complete && image.naturalWidth > 0 && image.src.includes(`/seiten/${page}.png`);
}"""


def _server(workdir: Path, at: datetime, scanner: Clamd, again: Server | None = None) -> Server:
    """`sprechstunde` on an office clock that says `at` now (and ticks on from there); `again`:
    the server it replaces, whose key and address (the tokens' issuer) it takes over."""
    offset = (at - datetime.now(UTC)).total_seconds()
    command = (sys.executable, "-m", "tests.office_clock", "--offset", str(offset))
    extra_env = {
        "PYTHONPATH": str(ROOT),
        "SPRECHSTUNDE_CLAMAV_URL": scanner.url,
        "SPRECHSTUNDE_DOCUMENT_DIR": str(workdir / "documents"),
    }
    database = f"sqlite:///{workdir / 'site.db'}"
    server = Server(database, workdir, command=command, extra_env=extra_env)
    if again is not None:
        server.secret_key = again.secret_key
    return server


def _start_again(server: Server, again: Server) -> None:
    """Start `server` on the address of `again` (stopped), which issued the links."""
    server.port = again.port
    server._launch()


def _container(server: Server, scanner: Clamd) -> Container:
    """The server's parts in this process, on its database and document store."""
    settings = Settings(
        _env_file=None,
        env="test",
        database_url=server.database_url,
        secret_key=server.secret_key,
        base_url=server.base_url,
        document_dir=server.workdir / "documents",
        clamav_url=scanner.url,
    )
    return Container.build(settings)


def _book(server: Server, scanner: Clamd) -> dict[str, Any]:
    """A video appointment with Anna Berger in the days after `BOOKED_AT`, with a clean
    two-page PDF handed in and scanned through the desk (as the server would)."""
    container = _container(server, scanner)
    try:
        advisor = next(login for login in LOGINS if login.role == "advisor")
        with read_session(container.sessions) as session:
            advisor_id = session.scalar(select(Staff.id).where(Staff.email == advisor.email))
        with httpx.Client(base_url=server.base_url, timeout=30) as api:
            service = next(s for s in api.get("/api/v1/services").json() if s["name"] == SERVICE)
            first = BOOKED_AT.date() + timedelta(days=1)
            slots = api.get(
                f"/api/v1/services/{service['id']}/slots",
                params={"start": first.isoformat(), "end": (first + timedelta(days=6)).isoformat()},
            ).json()["slots"]
            for slot in slots:  # the first one that is Anna Berger's
                answer = api.post(
                    "/api/v1/bookings",
                    json={
                        "service_id": service["id"],
                        "advisor_id": advisor_id,
                        "start": slot["start"],
                        "channel": "video",
                        "name": "Erika Mustermann",
                        "email": "erika.raum@example.org",
                    },
                )
                if answer.status_code == 201:
                    break
            assert answer.status_code == 201, answer.text
        booked = answer.json()
        with read_session(container.sessions) as session:
            found = select(Booking.id).where(Booking.reference == booked["reference"])
            booking_id = session.scalar(found)
        assert booking_id is not None
        container.documents.hand_in(booking_id, make_pages_pdf(2), "bescheid.pdf", "Bescheid")
        assert container.documents.scan_pending().examined == 1
        [document] = container.documents.documents(booking_id)
        assert document.status == "clean"
    finally:
        container.engine.dispose()
    return {
        "start": datetime.fromisoformat(slot["start"]),
        "reference": booked["reference"],
        "join_token": booked["join_url"].rsplit("/", 1)[1],
    }


@pytest.fixture(scope="module")
def room_site(
    tmp_path_factory: pytest.TempPathFactory,
    chromium: Any,  # skips without Chromium, before a server is started for nothing
    clamd: Clamd,  # noqa: F811 - the imported fixture
) -> Iterator[tuple[Server, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("room-documents")
    booking_server = _server(workdir, BOOKED_AT, clamd)
    booking_server.cli("migrate")
    booking_server.cli("seed-demo")
    booking_server.start()
    try:
        booking = _book(booking_server, clamd)
    finally:
        booking_server.stop()
    server = _server(workdir, booking["start"] - timedelta(minutes=5), clamd, booking_server)
    _start_again(server, booking_server)
    try:
        yield server, booking
    finally:
        server.stop()


def _room(base_url: str, reference: str) -> dict[str, str]:
    advisor = next(login for login in LOGINS if login.role == "advisor")
    with httpx.Client(base_url=base_url, timeout=30) as api:
        login = api.post(
            "/api/v1/auth/token", json={"email": advisor.email, "password": advisor.password}
        )
        token = login.raise_for_status().json()["access_token"]
        room = api.post(
            f"/api/v1/bookings/{reference}/room", headers={"Authorization": f"Bearer {token}"}
        )
    return {"token": token, "room_id": room.raise_for_status().json()["id"]}


def test_both_sides_see_the_same_page_and_pointer(room_site, chromium):
    server, booking = room_site
    room = _room(server.base_url, booking["reference"])
    browsing = Browsing(chromium, server.base_url)
    try:
        advisor_context = browsing.context(lang="de")
        advisor_context.add_cookies(
            [{"name": "staff_session", "value": room["token"], "url": server.base_url}]
        )
        advisor = advisor_context.new_page()
        advisor.goto(f"/staff/raeume/{room['room_id']}")
        join = advisor.get_by_role("button", name="Teilnehmen")
        expect(join).to_be_enabled()
        join.click()
        advisor.wait_for_selector("#call:not([hidden])")

        citizen = browsing.context(lang="en", viewport=PHONE).new_page()
        citizen.goto(f"/j/{booking['join_token']}")
        citizen.get_by_label("Your name as shown to the advisor").fill("Erika")
        citizen.get_by_role("button", name="Join").click()
        advisor.get_by_role("button", name="Erika hereinlassen").click()
        citizen.wait_for_selector("#call:not([hidden])")

        # The advisor opens the panel and shows the document: page 1 on both sides.
        advisor.get_by_role("button", name="Unterlagen").click()
        expect(advisor.get_by_role("button", name="Unterlagen")).to_have_attribute(
            "aria-expanded", "true"
        )
        advisor.get_by_role("button", name="Bescheid zeigen").click()
        expect(advisor.locator("#documents-page-number")).to_have_text("Seite 1 von 2")
        until(advisor, IMAGE_SHOWN, 1, timeout_ms=15_000)
        expect(citizen.locator("#documents-page-number")).to_have_text("Page 1 of 2")
        until(citizen, IMAGE_SHOWN, 1, timeout_ms=15_000)
        expect(citizen.locator("#documents-live")).to_have_text("Bescheid is shown, page 1 of 2.")
        expect(citizen.get_by_role("img", name="Bescheid, page 1 of 2")).to_be_visible()

        # The citizen turns the page; the advisor's panel follows and says so.
        citizen.get_by_role("button", name="Next page").click()
        expect(citizen.locator("#documents-page-number")).to_have_text("Page 2 of 2")
        expect(advisor.locator("#documents-page-number")).to_have_text("Seite 2 von 2")
        expect(advisor.locator("#documents-live")).to_have_text("Seite 2 von 2")
        until(advisor, IMAGE_SHOWN, 2, timeout_ms=15_000)
        expect(advisor.get_by_role("button", name="Nächste Seite")).to_be_disabled()

        # The advisor places the pointer with the keyboard, then with a click.
        advisor.locator("#documents-page").focus()
        for _ in range(5):
            advisor.keyboard.press("ArrowRight")
        advisor.keyboard.press("Enter")
        marker = citizen.locator("#documents-marker")
        expect(marker).to_be_visible()
        expect(marker).to_have_attribute("style", "left: 60%; top: 50%;")
        box = advisor.locator("#documents-image").bounding_box()
        assert box is not None
        advisor.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
        # Where the click was, give or take a pixel of rounding.
        expect(marker).to_have_attribute(
            "style", re.compile(r"^left: 2[45](\.\d+)?%; top: 7[45](\.\d+)?%;$")
        )
        expect(citizen.locator("#documents-live")).to_have_text(
            "The pointer is at this place on the page."
        )

        assert violations(citizen) == []
        assert violations(advisor) == []

        # On the citizen's phone the page is below the video and fits the screen's width.
        image = citizen.locator("#documents-image")
        image.scroll_into_view_if_needed()
        expect(image).to_be_in_viewport(ratio=0.3)
        shown = image.bounding_box()
        assert shown is not None
        assert shown["width"] <= PHONE["width"]
        assert citizen.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # Next to screen sharing: the advisor shares the screen, the document stays in view.
        share = advisor.get_by_role("button", name="Bildschirm teilen")
        share.click()
        expect(share).to_have_attribute("aria-pressed", "true")
        expect(advisor.locator("#self-screen")).to_be_visible()
        expect(advisor.locator("#documents-image")).to_be_in_viewport(ratio=0.5)
        advisor.get_by_role("button", name="Vorige Seite").click()
        expect(citizen.locator("#documents-page-number")).to_have_text("Page 1 of 2")
        share.click()
        expect(share).to_have_attribute("aria-pressed", "false")

        # During the call the citizen hands in a missing paper; once clamd has passed it, it
        # is in the advisor's open panel too, without anyone reloading.
        citizen.get_by_role("button", name="Close document").click()
        citizen.locator("#documents-file").set_input_files(
            files=[
                {"name": "konto.pdf", "mimeType": "application/pdf", "buffer": make_pages_pdf(1)}
            ]
        )
        citizen.get_by_label("What is it? (optional)").fill("Kontoauszug")
        citizen.get_by_role("button", name="Hand in", exact=True).click()
        expect(citizen.get_by_role("button", name="Show Kontoauszug")).to_be_visible(timeout=20_000)
        expect(advisor.get_by_role("button", name="Kontoauszug zeigen")).to_be_visible(
            timeout=20_000
        )

        # After the call: the document on the appointment's page and in the staff viewer,
        # turned and marked as checked with the keyboard.
        reference = booking["reference"]
        advisor.goto(f"/staff/buchungen/{reference}")
        assert violations(advisor) == []
        advisor.get_by_role("link", name="Öffnen – Bescheid").focus()
        advisor.keyboard.press("Enter")
        advisor.wait_for_url(re.compile(r".*/unterlagen/\d+\?seite=1$"))
        until(advisor, VIEWER_IMAGE_SHOWN, timeout_ms=15_000)
        assert violations(advisor) == []
        advisor.get_by_role("link", name="Nächste Seite").focus()
        advisor.keyboard.press("Enter")
        advisor.wait_for_url(re.compile(r".*\?seite=2$"))
        expect(advisor.get_by_role("img", name="Seite 2 von 2 von Bescheid")).to_be_visible()
        advisor.get_by_role("button", name="Als geprüft markieren").focus()
        advisor.keyboard.press("Enter")
        expect(advisor.get_by_role("status")).to_have_text(
            "Die Unterlage ist als geprüft markiert."
        )
        assert violations(advisor) == []
    finally:
        browsing.close()
    assert browsing.foreign_requests() == [], "a page made a request to another origin"
    assert browsing.problems == []
