"""The information pages in Chromium (the accessibility statement, the privacy notice, the
explanations in Leichte Sprache and in sign language): reachable from every page's footer,
readable on a phone at 320 CSS pixels, and free of WCAG 2.1 A/AA violations (axe-core and
IBM Equal Access) in German and English. A sign language video uploaded by an admin plays
with its German captions."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import equal_access
from tests.browser.axe import violations
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_every_page import _staff_login
from tests.browser.waiting import until
from tests.web.pages.test_sign_language import CAPTIONS, generated_video

PAGES = {
    "/barrierefreiheit": {"de": "Erklärung zur Barrierefreiheit", "en": "Accessibility statement"},
    "/datenschutz": {"de": "Datenschutz und Impressum", "en": "Privacy and imprint"},
    "/leichte-sprache": {
        "de": "Informationen in Leichter Sprache",
        "en": "Information in easy read",
    },
    "/gebaerdensprache": {"de": "Deutsche Gebärdensprache", "en": "German Sign Language"},
}
NARROW = {"width": 320, "height": 640}
_SCROLL_WIDTH = "() => document.documentElement.scrollWidth"


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_page_is_accessible_in_both_languages(browsing, path, viewport):
    page = browsing.page(path, viewport=viewport)
    expect(page.locator("h1")).to_have_text(PAGES[path]["de"])
    assert violations(page) == []
    assert equal_access.violations(page) == []
    # No sideways scrolling at 320 CSS pixels (WCAG 1.4.10), in German with its long words.
    page.set_viewport_size(NARROW)
    assert page.evaluate(_SCROLL_WIDTH) <= NARROW["width"]
    page.set_viewport_size(viewport)

    page.get_by_role("link", name="English").click()

    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == PAGES[path]["en"]
    assert violations(page) == []
    assert equal_access.violations(page) == []
    page.set_viewport_size(NARROW)
    assert page.evaluate(_SCROLL_WIDTH) <= NARROW["width"]


def test_the_start_page_leads_to_the_explanations(browsing):
    page = browsing.page("/")
    page.get_by_role("main").get_by_role("link", name="in Leichter Sprache").click()
    expect(page.locator("h1")).to_have_text(PAGES["/leichte-sprache"]["de"])
    page.goto("/")
    page.get_by_role("main").get_by_role("link", name="in Deutscher Gebärdensprache").click()
    expect(page.locator("h1")).to_have_text(PAGES["/gebaerdensprache"]["de"])
    page.get_by_role("contentinfo").get_by_role("link", name="Leichte Sprache").click()
    expect(page.locator("h1")).to_have_text(PAGES["/leichte-sprache"]["de"])


def test_an_uploaded_sign_language_video_plays_with_german_captions(browsing, demo_logins):
    admin = browsing.page("/staff/login?lang=de")
    _staff_login(admin, demo_logins["admin"].email, demo_logins["admin"].password)
    admin.goto("/staff")
    admin.get_by_role("link", name="Gebärdensprach-Videos").click()
    admin.wait_for_url("**/staff/medien**")
    assert violations(admin) == []
    assert equal_access.violations(admin) == []
    video = {"name": "erklaerung.webm", "mimeType": "video/webm", "buffer": generated_video()}
    captions = {"name": "erklaerung.vtt", "mimeType": "text/vtt", "buffer": CAPTIONS}
    admin.set_input_files("#offer-video", video)
    admin.set_input_files("#offer-captions", captions)
    with admin.expect_navigation():
        admin.locator('form[action="/staff/medien/offer"] button[type=submit]').click()
    assert "wurde gespeichert" in admin.get_by_role("status").inner_text()

    page = browsing.page("/gebaerdensprache")
    player = page.locator("section[aria-labelledby=sign-offer] video")
    track = player.locator("track")
    assert track.get_attribute("kind") == "captions"
    assert track.get_attribute("srclang") == "de"
    # The browser loads the video's data and the captions' cues from our origin.
    until(
        page,
        "v => v.readyState >= 1 && v.textTracks[0].cues && v.textTracks[0].cues.length > 0",
        player.element_handle(),
    )
    cue = player.evaluate("v => v.textTracks[0].cues[0].text")
    assert cue == "Willkommen bei der Sprechstunde."
    assert violations(page) == []
    assert equal_access.violations(page) == []


def test_the_footer_leads_to_both_pages(browsing):
    page = browsing.page("/")
    page.get_by_role("contentinfo").get_by_role(
        "link", name=PAGES["/barrierefreiheit"]["de"]
    ).click()
    expect(page.locator("h1")).to_have_text(PAGES["/barrierefreiheit"]["de"])
    page.get_by_role("contentinfo").get_by_role("link", name=PAGES["/datenschutz"]["de"]).click()
    expect(page.locator("h1")).to_have_text(PAGES["/datenschutz"]["de"])


def test_the_table_of_contents_moves_to_its_section(browsing):
    page = browsing.page("/datenschutz?lang=en")
    page.get_by_role("link", name="How long we keep your data").click()
    assert page.url.endswith("#retention")
    assert page.locator("#retention").is_visible()
