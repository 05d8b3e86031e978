"""The accessibility statement and the privacy notice in Chromium: reachable from every page's
footer, readable on a phone, and free of WCAG 2.1 A/AA violations in German and English."""

from __future__ import annotations

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import DESKTOP, PHONE

PAGES = {
    "/barrierefreiheit": {"de": "Erklärung zur Barrierefreiheit", "en": "Accessibility statement"},
    "/datenschutz": {"de": "Datenschutz und Impressum", "en": "Privacy and imprint"},
}


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_page_is_accessible_in_both_languages(browsing, path, viewport):
    page = browsing.page(path, viewport=viewport)
    assert page.locator("h1").inner_text() == PAGES[path]["de"]
    assert violations(page) == []

    page.get_by_role("link", name="English").click()

    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == PAGES[path]["en"]
    assert violations(page) == []
    # Nothing wider than a phone: no sideways scrolling at 320 CSS pixels (WCAG 1.4.10).
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320


def test_the_footer_leads_to_both_pages(browsing):
    page = browsing.page("/")
    page.get_by_role("contentinfo").get_by_role(
        "link", name=PAGES["/barrierefreiheit"]["de"]
    ).click()
    assert page.locator("h1").inner_text() == PAGES["/barrierefreiheit"]["de"]
    page.get_by_role("contentinfo").get_by_role("link", name=PAGES["/datenschutz"]["de"]).click()
    assert page.locator("h1").inner_text() == PAGES["/datenschutz"]["de"]


def test_the_table_of_contents_moves_to_its_section(browsing):
    page = browsing.page("/datenschutz?lang=en")
    page.get_by_role("link", name="How long we keep your data").click()
    assert page.url.endswith("#retention")
    assert page.locator("#retention").is_visible()
