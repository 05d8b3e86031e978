"""The staff import in Chromium: an administrator checks a file with an overlapping day, sees
the bad line named in the report, checks the corrected file and imports it; the import page in
each state, the appointment export and the audit viewer have no axe-core or IBM Equal Access
violations, and at 320 px nothing scrolls sideways.

A server of its own with the demo data, so that the accounts imported here appear in no other
browser test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from bench.common import Server
from tests import office_clock
from tests.browser import equal_access
from tests.browser.axe import violations
from tests.browser.conftest import Browsing
from web.demo import LOGINS

pytestmark = pytest.mark.office_clock
NARROW = {"width": 320, "height": 640}
HEADER = "email;name;role;services;monday;tuesday;wednesday;thursday;friday;saturday;sunday"
GOOD = "carla.neu@example.org;Carla Neu;advisor;;08:00-12:00;08:00-12:00;;;;;"
BAD = "dora.neu@example.org;Dora Neu;hotline;;08:00-12:00 11:00-13:00;;;;;;"
_SCROLLS_SIDEWAYS = (
    "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
)


@pytest.fixture(scope="module")
def tools_site(
    tmp_path_factory: pytest.TempPathFactory,
    chromium: Any,  # skips without Chromium, before a server is started for nothing
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("tools-site")
    server = office_clock.server(f"sqlite:///{workdir / 'site.db'}", workdir)
    try:
        server.cli("migrate")
        server.cli("seed-demo")
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def browsing(chromium: Any, tools_site: Server) -> Iterator[Browsing]:
    browsing = Browsing(chromium, tools_site.base_url)
    try:
        yield browsing
    finally:
        browsing.close()
    assert browsing.foreign_requests() == [], "a page made a request to another origin"
    assert browsing.problems == []


def _clean(page: Any) -> None:
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url
    assert not page.evaluate(_SCROLLS_SIDEWAYS), page.url


def _check_file(page: Any, *lines: str) -> None:
    content = ("\r\n".join((HEADER, *lines)) + "\r\n").encode("utf-8")
    page.set_input_files("#file", {"name": "team.csv", "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="Datei prüfen lassen").click()


def test_a_bad_line_is_shown_then_the_fixed_file_is_imported(browsing):
    admin = next(login for login in LOGINS if login.role == "admin")
    page = browsing.page("/staff/login", viewport=NARROW)
    page.get_by_label("E-Mail-Adresse").fill(admin.email)
    page.get_by_label("Passwort").fill(admin.password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url("**/staff/admin")
    page.get_by_role("link", name="Mitarbeitende importieren").click()
    _clean(page)

    _check_file(page, GOOD, BAD)
    problem = page.locator("tr.import-problem")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("3")
    expect(problem).to_contain_text("monday")
    expect(problem).to_contain_text("Diese Zeiten überschneiden sich.")
    expect(page.get_by_role("button", name="Mitarbeitende importieren")).to_have_count(0)
    _clean(page)

    _check_file(page, GOOD, BAD.replace(" 11:00-13:00", " 12:30-13:00"))
    expect(page.get_by_role("heading", name="Die Datei ist fehlerfrei")).to_be_visible()
    _clean(page)
    page.get_by_role("button", name="2 Mitarbeitende importieren").click()
    expect(page.get_by_role("status")).to_contain_text("2 Mitarbeitende wurden importiert.")
    _clean(page)

    page.goto("/staff/admin")
    expect(page.get_by_role("row", name="Carla Neu")).to_be_visible()
    for path in ("/staff/export", "/staff/protokoll"):
        page.goto(path)
        _clean(page)
    expect(page.locator("tr.audit-row").first).to_contain_text("staff_imported")
