"""The page frame in a real browser: language switch, skip link, error pages, no third party."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.axe import violations


def test_error_page_is_accessible_in_both_languages(browsing):
    page = browsing.page("/no-such-page")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Seite nicht gefunden"
    assert violations(page) == []
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Page not found")
    assert page.locator("html").get_attribute("lang") == "en"
    assert violations(page) == []


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_main(browsing):
    page = browsing.page("/no-such-page")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent")
    assert focused == "Zum Inhalt springen"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
