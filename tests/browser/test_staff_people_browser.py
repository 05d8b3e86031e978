"""Requests about a person in Chromium (web/pages/staff_people.py): the administrator finds a
person by e-mail address, downloads the records, and walks the erasure's two confirmations with
the keyboard alone; a demo citizen with an appointment to come is refused as busy, and too few
digits are shown at the form. Every page in each state has no axe-core or IBM Equal Access
violations, no W3C HTML checker errors, and at 320 px nothing scrolls sideways.

A server of its own with the demo data, so that the records erased here are missing from no
other browser test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from bench.common import Server
from tests import office_clock
from tests.browser import equal_access, nu_checker
from tests.browser.axe import violations
from tests.browser.conftest import Browsing
from tests.browser.test_staff_pages import keyboard_login
from web.demo import LOGINS

pytestmark = pytest.mark.office_clock
NARROW = {"width": 320, "height": 640}
GRETA = "greta.probe@example.org"
MARIA = "maria.schmidt@example.org"  # a demo citizen: her appointment is still to come
_SCROLLS_SIDEWAYS = (
    "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
)
CONTINUE = "form[action='/staff/personen/loeschen/bestaetigen'] button[type=submit]"
_FOCUSED_MATCHES = "selector => document.activeElement.matches(selector)"


@pytest.fixture(scope="module")
def people_site(
    tmp_path_factory: pytest.TempPathFactory,
    chromium: Any,  # skips without Chromium, before a server is started for nothing
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("people-site")
    server = office_clock.server(f"sqlite:///{workdir / 'site.db'}", workdir)
    try:
        server.cli("migrate")
        server.cli("seed-demo")
        server.start()
        _put_greta_on_a_waiting_list(server.base_url)
        yield server
    finally:
        server.stop()


def _put_greta_on_a_waiting_list(base_url: str) -> None:
    """Greta calls the hotline: a place on a waiting list is all we hold about her."""
    admin = next(login for login in LOGINS if login.role == "admin")
    with httpx.Client(base_url=base_url) as api:
        token = api.post(
            "/api/v1/auth/token", json={"email": admin.email, "password": admin.password}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        service = next(s for s in api.get("/api/v1/services").json() if "video" in s["channels"])
        joined = api.post(
            "/api/v1/staff/waitlist",
            json={
                "service_id": service["id"],
                "name": "Greta Probe",
                "email": GRETA,
                "channel": "video",
            },
            headers=headers,
        )
        assert joined.status_code == 201, joined.text


@pytest.fixture
def browsing(chromium: Any, people_site: Server) -> Iterator[Browsing]:
    browsing = Browsing(chromium, people_site.base_url)
    try:
        yield browsing
    finally:
        browsing.close()
    assert browsing.foreign_requests() == [], "a page made a request to another origin"
    assert browsing.problems == []


def _clean(page: Any, documents: dict[str, str]) -> None:
    """The page as it is now has no violations; its DOM is kept for the W3C checker, which
    checks them all in one run at the end (it starts a JVM)."""
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url
    assert not page.evaluate(_SCROLLS_SIDEWAYS), page.url
    documents[f"{len(documents)}: {page.url}"] = page.content()


def _tab_to(page: Any, selector: str) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate(_FOCUSED_MATCHES, selector):
            return
    pytest.fail(f"{selector} is not reachable with Tab on {page.url}")


def _search(page: Any, field: str, value: str) -> None:
    page.goto("/staff/personen")
    _tab_to(page, f"#{field}")
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/personen?**")


@pytest.fixture
def office(browsing: Browsing) -> Any:
    page = browsing.page(None, viewport=NARROW, accept_downloads=True)
    keyboard_login(page, next(login for login in LOGINS if login.role == "admin"))
    page.wait_for_url("**/staff/admin")
    return page


def test_the_administrator_finds_exports_and_erases_with_the_keyboard(office, tmp_path: Path):
    page, documents = office, {}
    page.get_by_role("link", name="Auskunft und Löschung").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Auskunft und Löschung")
    _clean(page, documents)

    _search(page, "email", GRETA)
    expect(page.locator(".people-counts")).to_contain_text("1 Platz auf einer Warteliste")
    expect(page.locator(".people-list")).to_contain_text("Greta Probe")
    _clean(page, documents)

    with page.expect_download() as download:
        _tab_to(page, "form[action='/staff/personen/export'] button")
        page.keyboard.press("Enter")
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["counts"] == {"bookings": 0, "callbacks": 0, "waitlist": 1}
    assert exported["waitlist"][0]["email"] == GRETA

    _tab_to(page, "form[action='/staff/personen/auskunft'] button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/personen/auskunft?**")
    expect(page.locator("main")).to_contain_text("Greta Probe")
    _clean(page, documents)
    page.emulate_media(media="print")  # the letter: the records, without menu or staff note
    expect(page.locator("nav.staff-nav")).to_be_hidden()
    expect(page.locator(".no-print")).to_be_hidden()
    expect(page.get_by_role("heading", name="Plätze auf Wartelisten")).to_be_visible()
    page.emulate_media(media="screen")
    _waiting_list_pages(page, documents)  # hers, before her place is erased below
    _search(page, "email", GRETA)

    _tab_to(page, "button.button--danger")
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/personen/loeschen")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Die Daten der Person löschen?")
    _clean(page, documents)

    _tab_to(page, CONTINUE)  # not yet confirmed
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/personen/loeschen/bestaetigen")
    expect(page.locator(".error-summary")).to_be_visible()
    _clean(page, documents)

    _tab_to(page, "#geprueft")
    page.keyboard.press("Space")
    _tab_to(page, CONTINUE)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Diese Daten endgültig löschen?")
    expect(page.locator(".people-counts")).to_contain_text("1 Platz auf einer Warteliste")
    _clean(page, documents)

    _tab_to(page, "button.button--danger")
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/personen/loeschen/ausfuehren")
    expect(page.get_by_role("heading", level=1)).to_have_text("Daten gelöscht")
    expect(page.get_by_role("row", name="Plätze auf Wartelisten gelöscht")).to_contain_text("1")
    _clean(page, documents)

    _search(page, "email", GRETA)
    expect(page.locator(".people-counts")).to_contain_text("0 Plätze auf Wartelisten")
    assert nu_checker.errors(documents) == {}


def _waiting_list_pages(page: Any, documents: dict[str, str]) -> None:
    """The people on Greta's waiting list, and the page that asks before removing her
    (web/pages/staff_waitlist.py); nobody is removed."""
    page.goto("/staff/warteliste")
    lines = page.eval_on_selector_all(
        "a[href^='/staff/warteliste/anliegen/']", "links => links.map(a => a.pathname)"
    )
    for line in lines:
        page.goto(line)
        if "Greta Probe" in page.inner_text("main"):
            break
    else:
        pytest.fail("Greta is on none of the lists")
    _clean(page, documents)
    page.get_by_role("link", name=re.compile("Greta Probe")).click()
    page.wait_for_url("**/staff/warteliste/eintrag/*/entfernen")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Greta Probe")
    _clean(page, documents)


def test_someone_with_an_appointment_to_come_is_refused_and_too_few_digits_are_shown(office):
    page, documents = office, {}
    _search(page, "email", MARIA)
    expect(page.locator("tr.people-booking")).to_have_count(1)
    _clean(page, documents)
    _tab_to(page, "button.button--danger")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Die Daten können noch nicht gelöscht werden"
    )
    expect(page.get_by_role("heading", name="Bevorstehende Termine")).to_be_visible()
    _clean(page, documents)

    _search(page, "phone", "0815")
    expect(page.locator(".error-summary")).to_be_visible()
    assert page.locator("#phone").get_attribute("aria-invalid") == "true"
    _clean(page, documents)
    assert nu_checker.errors(documents) == {}
