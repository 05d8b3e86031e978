"""The connection test page in a real browser: the fake camera and microphone go to the
server's echo peer (aiortc) and come back, and the page says that everything works.

Browser and server run inside a network namespace with only loopback (tests/browser/netns.py),
so the media between Chromium and the echo peer never leaves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import netns
from tests.browser.axe import violations
from tests.browser.conftest import Browsing


@pytest.fixture(scope="module")
def private_network(
    tmp_path_factory: pytest.TempPathFactory, chromium: Any
) -> Iterator[tuple[netns.NamespacedServer, Any]]:
    """netns.private_network, with loopback as the echo peer's public address: it is the only
    address in the namespace, and the answer names internal addresses only when configured."""
    env = {"SPRECHSTUNDE_CONNECTION_TEST_PUBLIC_ADDRESSES": "127.0.0.1"}
    workdir = tmp_path_factory.mktemp("private-network")
    with netns.server_and_browser(workdir, chromium, extra_env=env) as pair:
        yield pair


def is_offer(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/api/v1/connection-test"))


def test_camera_microphone_and_connection_work_in_german_and_english(private_network):
    server, browser = private_network
    browsing = Browsing(browser, server.base_url)
    try:
        page = browsing.page("/verbindungstest", lang="de")
        assert violations(page) == []
        with page.expect_request(is_offer) as offer:
            page.get_by_role("button", name="Test starten").click()
        # Started without a booking link: on the proof of work the widget solved in Chromium.
        assert "booking_link" not in {c["name"] for c in page.context.cookies()}
        assert offer.value.headers.get("x-altcha")
        assert offer.value.response().status == 201
        expect(page.locator("#test-summary")).to_have_text(
            "Alles funktioniert. Sie sind bereit für Ihr Videogespräch.", timeout=25_000
        )
        for result in ("#result-camera", "#result-microphone", "#result-connection"):
            expect(page.locator(result)).to_have_attribute("data-result", "ok")
        expect(page.locator("#result-connection")).to_contain_text("funktioniert (Laufzeit")
        assert violations(page) == []

        english = browsing.page("/verbindungstest?lang=en", lang="en")
        with english.expect_request(is_offer) as first:
            english.get_by_role("button", name="Start the test").click()
        expect(english.locator("#test-summary")).to_have_text(
            "Everything works. You are ready for your video consultation.", timeout=25_000
        )
        expect(english.get_by_role("button", name="Test again")).to_be_enabled()
        # A proof counts once: testing again goes out with a fresh one.
        with english.expect_request(is_offer) as again:
            english.get_by_role("button", name="Test again").click()
        assert again.value.response().status == 201
        assert again.value.headers["x-altcha"] != first.value.headers["x-altcha"]
        expect(english.get_by_role("button", name="Test again")).to_be_enabled(timeout=25_000)
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
