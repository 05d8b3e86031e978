"""The citizen's callback request form in Chromium, in German, with the keyboard only: from the
start page's link to the form (concern preselected), a first try without a phone number (the
error summary, at the field), then the request sent with the ALTCHA widget solving on submit,
the success page with the request number, and its link to the request's own page. axe-core and
IBM Equal Access find nothing on the form, the form with errors and the success page, nor the
W3C checker on the latter two.

The day chosen is the second office day the form offers (never today, whatever the server's
office clock says), the time its first block: nothing depends on today's date.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import equal_access, nu_checker
from tests.browser.axe import violations
from tests.browser.test_booking_flow import by_id, focused, press_and_wait, tab_to


def _accessible(page: Any) -> None:
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url


@pytest.mark.office_clock
def test_asking_for_a_callback_with_the_keyboard(browsing, site):
    with httpx.Client(base_url=site.base_url, timeout=30) as api:
        service = api.get("/api/v1/services").json()[0]
    # A number of its own: the shared server keeps the requests of other tests.
    phone = f"0391 {secrets.randbelow(10**6):06d}"

    page = browsing.page("/")
    link = page.get_by_role("link", name=f"Um Rückruf bitten: {service['name']}")
    link.focus()
    press_and_wait(page)
    page.wait_for_url(f"**/rueckruf?anliegen={service['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Um Rückruf bitten")
    assert page.locator("#field-service").input_value() == str(service["id"])
    _accessible(page)

    tab_to(page, by_id("field-name"))
    page.keyboard.type("Erika Rückruf")
    # Without a phone number: the form comes back with the error at the field.
    tab_to(page, by_id("field-window1-day"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    day = page.locator("#field-window1-day").input_value()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "field-window1-time"
    page.keyboard.press("ArrowDown")
    assert page.locator("#field-window1-time").input_value() == "08-10"
    tab_to(page, by_id("field-note"))
    page.keyboard.type("Frage zum Wohngeld-Bescheid")
    tab_to(page, by_id("field-email"))
    page.keyboard.type(f"rueckruf-{secrets.token_hex(3)}@example.org")
    press_and_wait(page)

    expect(page.locator(".error-summary")).to_contain_text(
        "Geben Sie die Telefonnummer ein, unter der wir Sie anrufen sollen."
    )
    assert page.title().startswith("Fehler:")
    # What was typed is kept.
    assert page.locator("#field-name").input_value() == "Erika Rückruf"
    assert page.locator("#field-window1-day").input_value() == day
    _accessible(page)
    documents = {"form with errors": page.content()}

    page.locator(".error-summary a").first.focus()
    page.keyboard.press("Enter")
    if focused(page)["id"] != "field-phone":  # the link moved the starting point only
        tab_to(page, by_id("field-phone"))
    page.keyboard.type(phone)
    tab_to(page, lambda e: e["tag"] == "button" and e["text"] == "Um Rückruf bitten")
    press_and_wait(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Wir rufen Sie zurück")
    reference = page.locator(".callback-reference").inner_text()
    assert re.fullmatch(r"R[0-9A-Z]{3}-[0-9A-Z]{4}", reference), reference
    main = page.locator("main").inner_text()
    assert service["name"] in main
    assert phone in main
    assert ", 08:00–10:00" in main
    assert "Bestätigung mit dem Link zu Ihrer Bitte per E-Mail geschickt" in main
    _accessible(page)
    documents["success"] = page.content()
    # The W3C checker (the crawl of test_every_page checks the empty form).
    assert nu_checker.errors(documents) == {}

    page.get_by_role("link", name="Bitte ansehen oder zurücknehmen").focus()
    press_and_wait(page)
    assert "/r/" in page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Bitte um Rückruf")
    expect(page.locator("main")).to_contain_text(reference)
