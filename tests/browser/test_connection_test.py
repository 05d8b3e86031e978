"""The connection test page in a real browser: the fake camera and microphone go to the
server's echo peer (aiortc) and come back, and the page says that everything works.

Browser and server run inside a network namespace with only loopback (tests/browser/netns.py),
so the media between Chromium and the echo peer never leaves it.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser import netns
from tests.browser.axe import violations
from tests.browser.conftest import Browsing

private_network = netns.private_network


def test_camera_microphone_and_connection_work_in_german_and_english(private_network):
    server, browser = private_network
    browsing = Browsing(browser, server.base_url)
    try:
        page = browsing.page("/verbindungstest", lang="de")
        assert violations(page) == []
        page.get_by_role("button", name="Test starten").click()
        expect(page.locator("#test-summary")).to_have_text(
            "Alles funktioniert. Sie sind bereit für Ihr Videogespräch.", timeout=25_000
        )
        for result in ("#result-camera", "#result-microphone", "#result-connection"):
            expect(page.locator(result)).to_have_attribute("data-result", "ok")
        expect(page.locator("#result-connection")).to_contain_text("funktioniert (Laufzeit")
        assert violations(page) == []

        english = browsing.page("/verbindungstest?lang=en", lang="en")
        english.get_by_role("button", name="Start the test").click()
        expect(english.locator("#test-summary")).to_have_text(
            "Everything works. You are ready for your video consultation.", timeout=25_000
        )
        expect(english.get_by_role("button", name="Test again")).to_be_enabled()
        assert violations(english) == []
    finally:
        browsing.close()
    assert browsing.foreign_requests() == []
    assert browsing.problems == []


def test_without_javascript_the_page_says_what_is_needed(browsing: Any):
    page = browsing.page("/verbindungstest", javascript=False)

    assert page.locator("#test").is_hidden()
    assert "brauchen JavaScript" in page.locator("main").inner_text()
    assert "Firefox, Chrome, Edge und Safari" in page.locator("main").inner_text()
