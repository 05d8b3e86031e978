"""Real-time text in the video room's chat (EN 301 549 clause 6): what one side types shows on
the other side as it is typed, before it is sent, and gives way to the sent message.

Browser and server run inside a network namespace with only loopback, as in
tests/browser/test_video_room.py (see tests/browser/netns.py).
"""

from __future__ import annotations

import json
import secrets
import time
from functools import partial
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import netns
from tests.browser.axe import violations
from tests.browser.conftest import Browsing
from tests.browser.netns import NamespacedServer
from tests.browser.waiting import until

private_network = netns.private_network

EMAIL = "rtt.host@example.org"
PASSWORD = secrets.token_urlsafe(16)
ADVISOR = "Anna Berger"

# Clause 6.2.4: typed text goes out within 500 ms of input.
MAX_DELAY_MS = 500

# Wall-clock time (shared by the pages of one browser) when the draft first contains `marker`.
WATCH_DRAFT = """(marker) => {
  window.__draftSeenAt = null;
  const list = document.querySelector("#live-text-list");
  const observer = new MutationObserver(() => {
    if (list.textContent.includes(marker)) {
      window.__draftSeenAt = Date.now();
      observer.disconnect();
    }
  });
  observer.observe(list, { childList: true, subtree: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def private_site(private_network: tuple[NamespacedServer, Any]) -> tuple[NamespacedServer, Any]:
    netns.create_advisor(private_network[0].cli, EMAIL, PASSWORD, ADVISOR)
    return private_network


def enter(browsing: Browsing, room: dict[str, Any]) -> tuple[Any, Any]:
    """The advisor (German) in the room, the citizen (English) let in."""
    advisor_context = browsing.context(lang="de")
    advisor_context.add_cookies(
        [{"name": "staff_session", "value": room["token"], "url": browsing.base_url}]
    )
    advisor = advisor_context.new_page()
    advisor.goto(f"/staff/raeume/{room['room_id']}")
    join = advisor.get_by_role("button", name="Teilnehmen")
    expect(join).to_be_enabled()
    join.click()
    advisor.wait_for_selector("#call:not([hidden])")

    citizen = browsing.context(lang="en").new_page()
    citizen.drafts_sent = []
    citizen.on("websocket", lambda socket: socket.on("framesent", partial(_record, citizen)))
    citizen.goto(room["guest_url"])
    citizen.get_by_label("Your name as shown to the advisor").fill("Erika")
    citizen.get_by_role("button", name="Join").click()
    advisor.get_by_role("button", name="Erika hereinlassen").click()
    citizen.wait_for_selector("#call:not([hidden])")
    return advisor, citizen


def _record(page: Any, payload: str | bytes) -> None:
    message = json.loads(payload)
    if message.get("type") == "typing":
        page.drafts_sent.append(message["text"])


def test_the_advisor_reads_what_the_citizen_types_before_it_is_sent(private_site):
    server, browser = private_site
    room = server.open_room(EMAIL, PASSWORD)
    browsing = Browsing(browser, server.base_url)
    try:
        advisor, citizen = enter(browsing, room)
        drafts = advisor.locator("#live-text-list li")
        live_text = advisor.get_by_role("region", name="Live-Text")
        expect(live_text.get_by_text("Gerade schreibt niemand.")).to_be_visible()

        # The citizen types with the keyboard; the advisor reads along, nothing sent yet.
        citizen.get_by_role("textbox", name="Message").focus()
        started = time.monotonic()
        citizen.keyboard.type("Good morning, I have a question", delay=20)
        typing_seconds = time.monotonic() - started
        expect(drafts).to_have_text(["Erika schreibt: Good morning, I have a question"])
        # As it grows, at most one draft every 250 ms, not one per keystroke.
        sent = citizen.drafts_sent
        assert 2 <= len(sent) <= typing_seconds / 0.25 + 2, sent
        assert sent[0] == "G"  # the first keystroke at once
        assert sent[-1] == "Good morning, I have a question"
        expect(live_text.get_by_text("Gerade schreibt niemand.")).to_be_hidden()
        expect(advisor.locator("#chat-log li")).to_have_count(0)
        # Drafts are read on demand, never announced keystroke by keystroke.
        assert live_text.get_attribute("aria-live") is None
        assert advisor.locator("#live-text [aria-live]").count() == 0
        assert violations(advisor) == []

        # One more character reaches the advisor within the time the standard allows.
        advisor.evaluate(WATCH_DRAFT, "question?")
        typed_at = citizen.evaluate("Date.now()")
        citizen.keyboard.type("?")
        until(advisor, "() => window.__draftSeenAt !== null")
        delay = advisor.evaluate("window.__draftSeenAt") - typed_at
        assert delay < MAX_DELAY_MS, f"the draft took {delay} ms"

        # Enter commits it: the message in the log, the draft gone.
        citizen.keyboard.press("Enter")
        expect(advisor.locator("#chat-log li")).to_have_count(1)
        expect(advisor.locator("#chat-log li")).to_contain_text("Good morning, I have a question?")
        expect(drafts).to_have_count(0)
        expect(live_text.get_by_text("Gerade schreibt niemand.")).to_be_visible()
        # The citizen never sees a draft of their own.
        expect(citizen.locator("#live-text-list li")).to_have_count(0)

        # A draft deleted before sending disappears on the other side at once.
        citizen.keyboard.type("Wait")
        expect(drafts).to_have_text(["Erika schreibt: Wait"])
        citizen.keyboard.press("Control+A")
        citizen.keyboard.press("Backspace")
        expect(drafts).to_have_count(0)
        assert citizen.drafts_sent[-1] == ""
        expect(advisor.locator("#chat-log li")).to_have_count(1)

        # The other way round, in English for the citizen.
        advisor.get_by_role("textbox", name="Nachricht").press_sequentially("Einen Moment")
        expect(citizen.locator("#live-text-list li")).to_have_text(
            [f"{ADVISOR} is typing: Einen Moment"]
        )
        assert violations(citizen) == []
    finally:
        browsing.close()
        assert browsing.foreign_requests() == [], "a page made a request to another origin"
        assert browsing.problems == []
