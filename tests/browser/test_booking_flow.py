"""The complete booking flow in Chromium with the keyboard only (Tab, Shift+Tab, Enter, Space,
arrow keys: no clicks), in German and English, without JavaScript, and on a phone; axe-core
finds no WCAG 2.1 A/AA violation on any step.

The demo server is shared with other tests: each test books its own concern a different number
of weeks ahead, so no two tests want the same time, and none touches the demo's bookings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import PHONE

MAX_TABS = 150


def focused(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => {
            const e = document.activeElement;
            return {tag: e.tagName.toLowerCase(), id: e.id || "", type: e.type || "",
                    href: e.getAttribute("href") || "", text: (e.innerText || "").trim(),
                    value: e.value || "", cls: e.className || ""};
        }"""
    )


def tab_to(page: Any, match: Any, *, backwards: bool = False) -> dict[str, str]:
    """Press Tab (or Shift+Tab) until the focused element satisfies `match`."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        element = focused(page)
        if match(element):
            return element
    raise AssertionError("the keyboard never reached the element")


def by_text(text: str) -> Any:
    return lambda e: e["text"].startswith(text)


def by_id(element_id: str) -> Any:
    return lambda e: e["id"] == element_id


def press_and_wait(page: Any, key: str = "Enter") -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


@dataclass
class Accessible:
    """axe-core finds nothing on the page as it is now. Without JavaScript axe cannot run in
    the page itself (its timers never fire), so the same HTML is checked in a second, scripted
    page on our origin, with our style sheets."""

    browsing: Any
    javascript: bool = True
    scripted: Any = None

    def __call__(self, page: Any) -> None:
        if self.javascript:
            assert violations(page) == [], page.url
            return
        if self.scripted is None:
            self.scripted = self.browsing.page("")
        html = page.content()
        self.scripted.route(
            "**/axe-snapshot",
            lambda route: route.fulfill(status=200, content_type="text/html", body=html),
        )
        self.scripted.goto("/axe-snapshot")
        self.scripted.unroute("**/axe-snapshot")
        assert violations(self.scripted) == [], page.url


@dataclass(frozen=True)
class Texts:
    choose: str
    next_week: str
    step: str
    consent: str
    book: str
    booked: str


GERMAN = Texts(
    "Auswählen",
    "Nächste Woche",
    "Schritt {} von 4",
    "field-consent",
    "Termin verbindlich buchen",
    "Ihr Termin ist gebucht",
)
ENGLISH = Texts(
    "Choose",
    "Next week",
    "Step {} of 4",
    "field-consent",
    "Book the appointment",
    "Your appointment is booked",
)


def book_with_the_keyboard(
    page: Any,
    accessible: Accessible,
    texts: Texts,
    concern: str,
    channel: str | None,
    weeks_ahead: int,
    email: str,
) -> str:
    """Start page -> concern -> channel -> a week ahead -> its first time -> details ->
    confirmation, with keys only; answers the booking reference."""
    accessible(page)
    assert texts.step.format(1) in page.locator(".steps__count").inner_text()
    # The concern's "Choose" link is described by its heading; find it by the card it is in.
    card = page.locator(".concern", has=page.get_by_role("heading", name=concern))
    href = card.get_by_role("link").get_attribute("href")
    tab_to(page, lambda e: e["href"] == href)
    press_and_wait(page)

    if channel is not None:
        accessible(page)
        tab_to(page, lambda e: e["type"] == "radio")
        # Arrow keys move through a radio group and select; Space selects the focused one.
        for _ in range(3):
            if focused(page)["id"] == f"channel-{channel}":
                break
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Space")
        assert page.locator(f"#channel-{channel}").is_checked()
        tab_to(page, lambda e: e["tag"] == "button")
        press_and_wait(page)

    assert texts.step.format(2) in page.locator(".steps__count").inner_text()
    accessible(page)
    for _ in range(weeks_ahead):
        tab_to(page, by_text(texts.next_week))
        press_and_wait(page)
    tab_to(page, lambda e: e["cls"] == "slot")
    press_and_wait(page)

    assert texts.step.format(3) in page.locator(".steps__count").inner_text()
    accessible(page)
    tab_to(page, by_id("field-name"))
    page.keyboard.type("Erika Mustermann")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "field-email"
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "field-phone"
    page.keyboard.type("0391 123456")
    tab_to(page, by_id(texts.consent))
    page.keyboard.press("Space")
    assert page.locator("#field-consent").is_checked()
    # Back up one field and forward again: Shift+Tab works too.
    tab_to(page, by_id("field-notes"), backwards=True)
    page.keyboard.type("Bitte mit Unterlagen.")
    tab_to(page, by_text(texts.book))
    press_and_wait(page)

    assert page.get_by_role("heading", level=1).inner_text() == texts.booked
    assert texts.step.format(4) in page.locator(".steps__count").inner_text()
    accessible(page)
    return page.locator(".reference--large").inner_text()


@dataclass(frozen=True)
class ManageTexts:
    appointment: str
    move: str
    later: str
    confirm_move: str
    moved: str
    cancel: str
    confirm_cancel: str
    cancelled: str


GERMAN_MANAGE = ManageTexts(
    "Ihr Termin",
    "Termin verschieben",
    "Zur nächsten Woche mit freien Terminen",
    "Auf die neue Zeit verschieben",
    "Ihr Termin wurde verschoben.",
    "Termin absagen",
    "Ja, Termin absagen",
    "Ihr Termin wurde abgesagt.",
)
ENGLISH_MANAGE = ManageTexts(
    "Your appointment",
    "Move the appointment",
    "Go to the next week with free appointments",
    "Move to the new time",
    "Your appointment has been moved.",
    "Cancel the appointment",
    "Yes, cancel the appointment",
    "Your appointment has been cancelled.",
)


def manage_with_the_keyboard(
    page: Any, accessible: Accessible, reference: str, texts: ManageTexts
) -> None:
    """From the confirmation: the appointment, moved to another time, then cancelled."""
    tab_to(page, lambda e: e["href"] == "/termin")
    press_and_wait(page)
    assert page.get_by_role("heading", level=1).inner_text() == texts.appointment
    assert reference in page.locator(".appointment").inner_text()
    accessible(page)
    before = page.locator(".appointment").inner_text()

    tab_to(page, by_text(texts.move))
    press_and_wait(page)
    accessible(page)
    if page.locator("a.slot").count() == 0:
        # This week has no time left (a Friday afternoon, a weekend, the Christmas days).
        tab_to(page, by_text(texts.later))
        press_and_wait(page)
    # The last time of the week: the first ones may sit next to the booking being moved.
    slots = page.locator("a.slot").count()
    for _ in range(slots):
        tab_to(page, lambda e: e["cls"] == "slot")
    press_and_wait(page)
    accessible(page)
    tab_to(page, by_text(texts.confirm_move))
    press_and_wait(page)
    assert page.get_by_role("status").inner_text().startswith(texts.moved)
    assert page.locator(".appointment").inner_text() != before
    accessible(page)

    tab_to(page, by_text(texts.cancel))
    press_and_wait(page)
    accessible(page)
    tab_to(page, by_text(texts.confirm_cancel))
    press_and_wait(page)
    assert page.get_by_role("status").inner_text().startswith(texts.cancelled)
    accessible(page)


pytestmark = pytest.mark.office_clock

REFERENCE = re.compile(r"^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")


def test_booking_with_the_keyboard_in_german(browsing):
    page = browsing.page("/", lang="de")

    accessible = Accessible(browsing)
    reference = book_with_the_keyboard(
        page, accessible, GERMAN, "Wohngeld: Erstberatung", "video", 3, "tastatur.de@example.org"
    )

    assert REFERENCE.match(reference)
    manage_with_the_keyboard(page, accessible, reference, GERMAN_MANAGE)


def test_booking_with_the_keyboard_in_english(browsing):
    page = browsing.page("/?lang=en", lang="en")

    accessible = Accessible(browsing)
    reference = book_with_the_keyboard(
        page,
        accessible,
        ENGLISH,
        "Care assistance: consultation",
        "phone",
        4,
        "keyboard.en@example.org",
    )

    assert REFERENCE.match(reference)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "We call you at 0391 123456" in page.locator("main").inner_text()
    manage_with_the_keyboard(page, accessible, reference, ENGLISH_MANAGE)


def test_booking_without_javascript(browsing):
    page = browsing.page("/", lang="de", javascript=False)

    reference = book_with_the_keyboard(
        page,
        Accessible(browsing, javascript=False),
        GERMAN,
        "Grundsicherung: Beratung",
        "in_person",
        5,
        "ohne.script@example.org",
    )

    assert REFERENCE.match(reference)


def test_booking_on_a_phone(browsing):
    page = browsing.page("/", lang="de", viewport=PHONE)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]

    reference = book_with_the_keyboard(
        page,
        Accessible(browsing),
        GERMAN,
        "Wohngeld: Unterlagen besprechen",
        "video",
        6,
        "handy@example.org",
    )

    assert REFERENCE.match(reference)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_link_pages_are_accessible(browsing, lang):
    page = browsing.page(f"/b/not-a-valid-link?lang={lang}", lang=lang)

    assert page.locator("h1").count() == 1
    Accessible(browsing)(page)
