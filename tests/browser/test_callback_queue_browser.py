"""The callback life cycle through the pages, in Chromium: a citizen asks for a callback with
the form at `/rueckruf`; the hotline opens the queue from the navigation, claims the request,
logs "not reached" (back to the queue), claims it again, logs "reached" and books an appointment
from it with the slot picker, landing on the booking's page; the citizen's page of the request
then says an appointment was arranged. Every page on the way without axe-core violations.

The citizen chooses the second office day the form offers and its 10–12 block; the slot taken
is the latest of the week the picker shows, or the next free one: the day of the year does not
matter."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import violations
from tests.browser.test_staff_pages import keyboard_login

pytestmark = pytest.mark.office_clock

CALLER = "Rüdiger Rückruf-Browsertest"


def _ask_for_a_callback(browsing: Any, phone: str) -> tuple[str, str]:
    """A citizen's request through the form; its reference and the address of its own page."""
    page = browsing.page("/rueckruf")
    page.locator("#field-service").select_option(index=1)
    page.locator("#field-name").fill(CALLER)
    page.locator("#field-phone").fill(phone)
    page.locator("#field-window1-day").select_option(index=2)
    page.locator("#field-window1-time").select_option("10-12")
    page.locator("#field-note").fill("Browsertest")
    page.get_by_role("button", name="Um Rückruf bitten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Wir rufen Sie zurück")
    reference = page.locator(".callback-reference").inner_text()
    own_page = page.get_by_role("link", name="Bitte ansehen oder zurücknehmen").get_attribute(
        "href"
    )
    assert own_page is not None
    assert own_page.startswith("/r/")
    page.close()
    return reference, own_page


def test_hotline_claims_logs_calls_and_books_from_the_queue(browsing, demo_logins):
    # A number of its own: the shared server keeps the requests of other tests.
    phone = f"0391 {secrets.randbelow(10**6):06d}"
    reference, own_page = _ask_for_a_callback(browsing, phone)
    page = browsing.page(None)
    keyboard_login(page, demo_logins["hotline"])
    page.wait_for_url("**/staff/hotline")

    page.get_by_role("navigation", name="Bereiche für Mitarbeitende").get_by_role(
        "link", name="Rückrufe"
    ).click()
    page.wait_for_url("**/staff/rueckrufe")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rückrufbitten")
    assert violations(page) == []
    page.get_by_role("link", name=reference).click()
    page.wait_for_url("**/staff/rueckrufe/*")
    request_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rückrufbitte {reference}")
    expect(page.locator("a[href^='tel:']")).to_have_text(phone)
    assert violations(page) == []

    page.get_by_role("button", name="Rückrufbitte übernehmen").click()
    page.wait_for_url("**?erledigt=uebernommen")
    expect(page.get_by_role("status")).to_contain_text("Sie haben die Rückrufbitte übernommen.")
    assert violations(page) == []
    page.get_by_label("Nicht erreicht").check()
    page.get_by_role("button", name="Anruf vermerken").click()
    page.wait_for_url("**?erledigt=not_reached")
    expect(page.get_by_role("status")).to_contain_text("für den nächsten Versuch wieder")
    expect(page.locator("table")).to_contain_text("Nicht erreicht")
    assert violations(page) == []

    page.get_by_role("button", name="Rückrufbitte übernehmen").click()
    page.wait_for_url("**?erledigt=uebernommen")
    page.get_by_label("Erreicht", exact=True).check()
    page.get_by_role("button", name="Anruf vermerken").click()
    page.wait_for_url("**?erledigt=reached")
    assert violations(page) == []

    page.get_by_role("link", name="Termin vereinbaren").click()
    page.wait_for_url("**/buchen")
    assert violations(page) == []
    slot = page.locator("a.slot").last
    if slot.count() == 0:  # nothing free in this week: the next free time, wherever it is
        slot = page.locator(".next-free a")
    slot.click()
    page.wait_for_url("**/buchen?*start=*")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Diesen Termin für Rückrufbitte {reference} buchen?"
    )
    expect(page.locator("main")).to_contain_text(CALLER)
    assert violations(page) == []
    page.get_by_role("button", name="Ja, Termin buchen").click()

    page.wait_for_url("**/staff/buchungen/*?neu=true")
    expect(page.locator("main")).to_contain_text(CALLER)
    expect(page.locator("main")).to_contain_text(phone)
    assert violations(page) == []
    page.goto(request_url)
    expect(page.locator("main")).to_contain_text("Termin gebucht")
    assert page.get_by_role("button", name="Rückrufbitte übernehmen").count() == 0

    citizen = browsing.page(own_page)
    expect(citizen.locator("main")).to_contain_text("Wir haben einen Termin mit Ihnen vereinbart")
    assert citizen.get_by_role("button", name="Bitte zurücknehmen").count() == 0


def test_hotline_takes_a_request_on_the_phone_and_settles_it(browsing, demo_logins):
    page = browsing.page(None)
    keyboard_login(page, demo_logins["hotline"])
    page.wait_for_url("**/staff/hotline")
    page.goto("/staff/rueckrufe")
    page.get_by_role("link", name="Rückrufbitte aufnehmen").click()
    page.wait_for_url("**/staff/rueckrufe/neu")
    assert violations(page) == []

    page.get_by_role("button", name="In die Warteschlange stellen").click()
    expect(page.locator(".error-summary")).to_be_visible()
    assert page.locator("#field-name").get_attribute("aria-invalid") == "true"
    assert violations(page) == []

    page.locator("#field-service").select_option(index=1)
    page.locator("#field-name").fill("Petra Telefon-Browsertest")
    page.locator("#field-phone").fill("0391 555 111")
    # The second office day offered: today's blocks may all be over.
    page.locator("#field-window1-day").select_option(index=2)
    page.locator("#field-window1-time").select_option("14-16")
    page.get_by_role("button", name="In die Warteschlange stellen").click()
    page.wait_for_url("**?erledigt=neu")
    expect(page.get_by_role("status")).to_contain_text("in der Warteschlange")
    assert violations(page) == []

    page.get_by_role("link", name="Am Telefon erledigt").click()
    page.wait_for_url("**/erledigt")
    assert violations(page) == []
    page.get_by_role("button", name="Ja, am Telefon erledigt").click()
    page.wait_for_url("**?erledigt=erledigt")
    expect(page.get_by_role("status")).to_contain_text("Die Rückrufbitte ist erledigt.")
    assert violations(page) == []
    page.goto("/staff/rueckrufe?lang=en")
    assert violations(page) == []
