"""Staff find a booking and move it from its page, in a real browser: search, open, pick a
new time in the slot picker, confirm; every page on the way without axe-core violations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe import violations
from tests.browser.test_staff_pages import keyboard_login

pytestmark = pytest.mark.office_clock

CALLER = "Zoë Suchtest-Núñez"


def test_hotline_finds_a_booking_and_moves_it_with_the_slot_picker(browsing, demo_logins):
    page = browsing.page(None)
    keyboard_login(page, demo_logins["hotline"])
    page.wait_for_url("**/staff/hotline")
    # A callback booked for the caller first, as on the phone.
    page.locator("#anliegen").select_option(index=1)
    page.locator("#kanal").select_option("phone")
    page.get_by_role("button", name="Freie Zeiten suchen").click()
    times = page.locator("input[name=start]")
    expect(times.first).to_be_attached()  # the page with the times, not the one before
    # The second-latest time: the hotline's own test takes the latest, the citizens' the earliest.
    times.nth(max(times.count() - 2, 0)).check()
    page.get_by_label("Name der Bürgerin oder des Bürgers").fill(CALLER)
    page.locator("#phone").fill("0391 000 222")
    page.get_by_role("button", name="Termin buchen").click()
    page.wait_for_url("**/staff/buchungen/*?neu=true")
    reference = page.locator(".staff-reference").inner_text()

    page.get_by_role("navigation", name="Bereiche für Mitarbeitende").get_by_role(
        "link", name="Termin finden"
    ).click()
    page.wait_for_url("**/staff/buchungen")
    assert violations(page) == []
    page.get_by_label("Buchungsnummer, Name, E-Mail oder Telefon").fill("zoe SUCHTEST-nunez")
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/buchungen?q=*")
    assert page.get_by_role("status").inner_text() == "1 Termin gefunden"
    assert violations(page) == []
    page.get_by_role("link", name=reference).click()
    page.wait_for_url(f"**/staff/buchungen/{reference}")
    assert violations(page) == []
    before = page.locator("p.lead time").get_attribute("datetime")

    page.get_by_role("link", name="Termin verschieben").click()
    page.wait_for_url(f"**/staff/buchungen/{reference}/verschieben")
    assert page.locator("h1").inner_text() == f"Termin {reference} verschieben"
    assert violations(page) == []
    slot = page.locator("a.slot").first
    if slot.count() == 0:  # nothing free in this week: the next free time, wherever it is
        slot = page.locator(".next-free a")
    slot.click()
    page.wait_for_url(re.compile(r".*/verschieben\?start=.*"))
    assert page.locator("h1").inner_text() == f"Termin {reference} verschieben?"
    assert violations(page) == []
    chosen = page.locator("input[name=start]").input_value()

    page.get_by_role("button", name="Ja, auf die neue Zeit verschieben").click()
    page.wait_for_url(f"**/staff/buchungen/{reference}?erledigt=verschoben")
    assert "Der Termin ist verschoben." in page.get_by_role("status").inner_text()
    after = page.locator("p.lead time").get_attribute("datetime")
    assert after == chosen
    assert after != before
    assert violations(page) == []

    # The other confirmation steps and a refused note are accessible too (nothing is changed).
    for path in ("absagen", "link", "notiz"):
        page.goto(f"/staff/buchungen/{reference}/{path}")
        assert page.locator("h1").count() == 1
        assert violations(page) == [], path
    page.get_by_role("button", name="Weiter").click()
    expect(page.locator(".error-summary")).to_be_visible()
    assert page.locator("#note").get_attribute("aria-invalid") == "true"
    assert violations(page) == []
    page.goto(f"/staff/buchungen?q={reference}&lang=en")
    assert page.get_by_role("status").inner_text() == "1 appointment found"
    assert violations(page) == []
