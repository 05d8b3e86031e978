"""The documents section of the appointment page in Chromium, 320 px wide, with the keyboard
only: the named document chosen, a PDF picked through the file input (opened with the Space
key), sent by the page's script with a progress bar and a polite live region, the list updated
while a real clamd checks the file and again when it is ready; the named document no longer
missing. axe-core and IBM Equal Access find nothing on the page with a document listed, and
nothing scrolls sideways.

A server of its own (the demo data, in which the housing benefit services name documents) with
a real clamd; the booking is the first free time a week ahead of the server's office clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from bench.common import Server
from tests import office_clock
from tests.browser import equal_access
from tests.browser.axe import violations
from tests.browser.conftest import Browsing
from tests.browser.test_booking_flow import by_id, focused, tab_to
from tests.documents.clamd import Clamd
from tests.documents.conftest import clamd  # noqa: F401 - the fixture, for this module
from tests.documents.test_document_desk import make_pdf

pytestmark = pytest.mark.office_clock
NARROW = {"width": 320, "height": 640}
SERVICE = "Wohngeld: Unterlagen besprechen"
_SCROLLS_SIDEWAYS = (
    "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
)
# Every text the live region and the progress figure show, in order, from before the submit.
_RECORD = """() => {
    window.seen = [];
    for (const id of ["documents-live", "documents-progress-text"]) {
        const node = document.getElementById(id);
        new MutationObserver(() => window.seen.push(`${id}: ${node.textContent}`))
            .observe(node, {childList: true, characterData: true, subtree: true});
    }
}"""


@pytest.fixture(scope="module")
def documents_site(
    tmp_path_factory: pytest.TempPathFactory,
    chromium: Any,  # skips without Chromium, before a server is started for nothing
    clamd: Clamd,  # noqa: F811 - the imported fixture
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("documents-site")
    server = office_clock.server(
        f"sqlite:///{workdir / 'site.db'}",
        workdir,
        extra_env={"SPRECHSTUNDE_CLAMAV_URL": clamd.url},
    )
    try:
        server.cli("migrate")
        server.cli("seed-demo")
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def browsing(chromium: Any, documents_site: Server) -> Iterator[Browsing]:
    browsing = Browsing(chromium, documents_site.base_url)
    try:
        yield browsing
    finally:
        browsing.close()
    assert browsing.foreign_requests() == [], "a page made a request to another origin"
    assert browsing.problems == []


def _book(base_url: str) -> str:
    """A video appointment of the service that names documents; its magic link."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        service = next(s for s in api.get("/api/v1/services").json() if s["name"] == SERVICE)
        first = office_clock.office_today() + timedelta(days=7)
        slots = api.get(
            f"/api/v1/services/{service['id']}/slots",
            params={"start": first.isoformat(), "end": (first + timedelta(days=13)).isoformat()},
        ).json()["slots"]
        answer = api.post(
            "/api/v1/bookings",
            json={
                "service_id": service["id"],
                "start": slots[0]["start"],
                "channel": "video",
                "name": "Erika Mustermann",
                "email": "erika.unterlagen@example.org",
            },
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["manage_url"])


def _accessible(page: Any) -> None:
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url
    assert page.evaluate(_SCROLLS_SIDEWAYS) is False


def test_handing_in_a_pdf_with_the_keyboard_on_a_narrow_screen(browsing, documents_site, tmp_path):
    pdf = tmp_path / "Mietbescheinigung.pdf"
    pdf.write_bytes(make_pdf())
    page = browsing.page("", viewport=NARROW)
    # Playwright asks Chromium to hand over file choosers only once someone listens, and does
    # not wait for that: a listener from the start saves the key press below from the race.
    page.on("filechooser", lambda _chooser: None)
    page.goto(_book(documents_site.base_url))
    page.wait_for_url("**/termin")
    state = page.locator("#documents-state")
    expect(state).to_contain_text("Sie haben noch keine Unterlagen eingereicht.")
    expect(state.locator(".documents__missing")).to_contain_text("Letzter Wohngeldbescheid")
    expect(state.locator(".documents__missing")).to_contain_text("Aktuelle Mietbescheinigung")
    _accessible(page)

    # The named document: the second one the list asks for.
    tab_to(page, by_id("documents-requirement"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("#documents-requirement option:checked").inner_text() == (
        "Aktuelle Mietbescheinigung"
    )
    tab_to(page, by_id("documents-file"))
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(pdf))
    tab_to(page, lambda e: e["tag"] == "button" and e["text"] == "Dokument einreichen")
    page.evaluate(_RECORD)
    url = page.url
    page.keyboard.press("Enter")

    live = page.locator("#documents-live")
    expect(live).to_have_text(
        "Ihr Dokument ist eingereicht. Es wird jetzt auf Viren geprüft.", timeout=20_000
    )
    assert page.url == url  # sent by the script: no page load
    seen = page.evaluate("window.seen")
    assert "documents-progress-text: 100 %" in seen, seen
    assert any(re.fullmatch(r"documents-live: Wird gesendet: \d+ Prozent", s) for s in seen), seen
    assert page.locator("#documents-progress-bar").evaluate("bar => bar.value") == 100
    # The list came back with the document; clamd's verdict arrives while the page polls.
    item = state.locator(".documents__item")
    expect(item).to_contain_text("Aktuelle Mietbescheinigung")
    expect(item).to_contain_text("Mietbescheinigung.pdf")
    expect(item).to_contain_text("Geprüft, bereit.", timeout=30_000)
    expect(state.locator(".documents__missing")).not_to_contain_text("Aktuelle Mietbescheinigung")
    expect(state.locator(".documents__missing")).to_contain_text("Letzter Wohngeldbescheid")
    assert page.locator("#documents-requirement option", has_text="Mietbescheinigung").count() == 0
    # The focus stayed in the form, and the form is empty again for the next document.
    assert focused(page)["text"] == "Dokument einreichen"
    assert page.locator("#documents-file").evaluate("input => input.files.length") == 0
    _accessible(page)

    # The page as it comes from the server lists it too, with its delete button.
    page.reload()
    expect(page.locator(".documents__item")).to_contain_text("Geprüft, bereit.")
    expect(
        page.get_by_role(
            "button", name=re.compile(r"^Endgültig löschen\W+Aktuelle Mietbescheinigung$")
        )
    ).to_be_visible()
    _accessible(page)
