"""The staff workspace in a real browser: each demo role logs in with the keyboard and visits
every page of its sections, in German and in English, with zero axe-core violations."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import violations
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.office_clock

PAGES = {
    "advisor": ["/staff/agenda", "/staff/woche", "/staff/zeiten", "/staff/abwesenheiten"],
    "hotline": ["/staff/hotline", "/staff/agenda", "/staff/woche"],
    "admin": [
        "/staff/admin",
        "/staff/zeiten",
        "/staff/abwesenheiten",
        "/staff/hotline",
        "/staff/agenda",
        "/staff/woche",
    ],
}
HOMES = {"advisor": "/staff/agenda", "hotline": "/staff/hotline", "admin": "/staff/admin"}


def _focused_id(page: Any) -> str:
    return page.evaluate("() => document.activeElement.id")  # type: ignore[no-any-return]


def keyboard_login(page: Any, login: Any) -> None:
    """Tab to the e-mail field, type, tab to the password, type, press Enter."""
    page.goto("/staff/login")
    for _ in range(40):
        page.keyboard.press("Tab")
        if _focused_id(page) == "email":
            break
    else:
        pytest.fail("the e-mail field is not reachable with Tab")
    page.keyboard.type(login.email)
    page.keyboard.press("Tab")
    assert _focused_id(page) == "password"
    page.keyboard.type(login.password)
    page.keyboard.press("Enter")


def _check(page: Any, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, path
    assert page.locator("h1").count() == 1
    assert violations(page) == [], path


@pytest.mark.parametrize("role", ["advisor", "hotline", "admin"])
def test_each_role_logs_in_with_the_keyboard_and_every_page_is_accessible(
    browsing, demo_logins, role
):
    page = browsing.page(None)
    keyboard_login(page, demo_logins[role])
    page.wait_for_url(f"**{HOMES[role]}")
    assert page.locator("nav.staff-nav a[aria-current=page]").count() == 1
    for path in PAGES[role]:
        _check(page, path)
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    for path in PAGES[role]:
        _check(page, path)
        assert page.locator("html").get_attribute("lang") == "en"


def test_a_wrong_password_shows_an_accessible_error_summary_and_logout_works(browsing, demo_logins):
    page = browsing.page("/staff/login")
    page.get_by_label("E-Mail-Adresse").fill("nobody@sprechstunde.example")
    page.get_by_label("Passwort").fill("wrong password")
    page.get_by_role("button", name="Anmelden").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    assert violations(page) == []
    summary.get_by_role("link").click()
    assert _focused_id(page) == "email"
    keyboard_login(page, demo_logins["advisor"])
    page.wait_for_url("**/staff/agenda")
    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url("**/staff/login?abgemeldet=true")
    assert page.get_by_role("status").inner_text() == "Sie wurden abgemeldet."
    assert violations(page) == []


def test_hotline_books_a_callback_and_opens_an_ad_hoc_room_on_a_phone(browsing, demo_logins):
    page = browsing.page(None, viewport=PHONE)
    keyboard_login(page, demo_logins["hotline"])
    page.wait_for_url("**/staff/hotline")
    page.locator("#anliegen").select_option(index=1)
    page.locator("#kanal").select_option("phone")
    page.get_by_role("button", name="Freie Zeiten suchen").click()
    times = page.locator("input[name=start]")
    # The click starts a navigation: wait for the page with the times, not the one before.
    expect(times.first).to_be_attached()
    assert violations(page) == []
    # The latest time offered: the citizens' booking tests take the earliest ones.
    times.last.check()
    page.get_by_label("Name der Bürgerin oder des Bürgers").fill("Browser Test Rückruf")
    page.locator("#phone").fill("0391 000 111")
    page.get_by_role("button", name="Termin buchen").click()
    page.wait_for_url("**/staff/buchungen/*?neu=true")
    assert "Buchungsnummer" in page.get_by_role("status").inner_text()
    assert violations(page) == []
    page.goto("/staff/hotline")
    page.get_by_role("button", name="Videoraum öffnen").click()
    page.wait_for_url("**/staff/hotline/raeume/*")
    link = page.locator("#guest-link")
    assert "/j/" in link.input_value()
    copy = page.get_by_role("button", name="Link kopieren")
    assert copy.is_visible()  # shown by the script
    assert violations(page) == []
    # At 360 px nothing needs sideways scrolling.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_agenda_and_the_hours_fit_a_phone(browsing, demo_logins):
    page = browsing.page(None, viewport=PHONE)
    keyboard_login(page, demo_logins["advisor"])
    page.wait_for_url("**/staff/agenda")
    for path in ("/staff/agenda", "/staff/woche", "/staff/abwesenheiten", "/staff/zeiten"):
        _check(page, path)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    # A period overlapping the morning (nothing is saved): the errors are accessible too.
    page.locator("#h-0-2-start").fill("09:00")
    page.locator("#h-0-2-end").fill("10:00")
    page.get_by_role("button", name="Sprechzeiten speichern").click()
    expect(page.locator(".error-summary")).to_be_visible()
    assert page.locator("#h-0-2-start").get_attribute("aria-invalid") == "true"
    assert violations(page) == []
