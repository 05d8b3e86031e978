"""A citizen's rights through the magic link in Chromium, with the keyboard only and 320 px wide:
from the appointment to "Your data", the details corrected (a refused entry first, then name,
phone and a new e-mail address), the new address confirmed through the link from the
development mailbox, the erasure explained while the appointment stands, the appointment
cancelled and the data erased; afterwards the link no longer works. axe-core and IBM Equal
Access find nothing on any of these pages, and nothing scrolls sideways.

The shared demo server (tests/browser/conftest.py `site`), on the office clock; the booking is
the first free time a week ahead.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests import office_clock
from tests.browser import equal_access
from tests.browser.axe import violations
from tests.browser.test_booking_flow import by_id, by_text, focused, press_and_wait, tab_to

pytestmark = pytest.mark.office_clock
NARROW = {"width": 320, "height": 640}
EMAIL = "erika.rechte@example.org"
NEW = "erika.rechte.neu@example.net"
_SCROLLS_SIDEWAYS = (
    "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
)


def _book(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as api:
        service = next(s for s in api.get("/api/v1/services").json() if "video" in s["channels"])
        first = office_clock.office_today() + timedelta(days=7)
        slots = api.get(
            f"/api/v1/services/{service['id']}/slots",
            params={"start": first.isoformat(), "end": (first + timedelta(days=13)).isoformat()},
        ).json()["slots"]
        answer = api.post(
            "/api/v1/bookings",
            json={
                "service_id": service["id"],
                "start": slots[0]["start"],
                "channel": "video",
                "name": "Erika Mustermann",
                "email": EMAIL,
            },
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["manage_url"])


def _mail_to(base_url: str, recipient: str) -> str:
    """The text of the first mail to `recipient` in the development mailbox, once sent."""
    with httpx.Client(base_url=base_url, timeout=30) as mailbox:
        for _ in range(100):
            rows = re.findall(
                r"<td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td>", mailbox.get("/dev/mail").text
            )
            for number, to in reversed(rows):
                text = mailbox.get(f"/dev/mail/{number}").text if to == recipient else ""
                if "<pre>" in text and "(composed when sent" not in text:
                    return text
            time.sleep(0.1)
    raise AssertionError(f"no mail to {recipient} went out")


def _confirm_link(base_url: str) -> str:
    found = re.search(
        r"https?://\S+/termin/email-bestaetigen\?token=[\w.-]+", _mail_to(base_url, NEW)
    )
    assert found is not None
    return found[0]


def _accessible(page: Any) -> None:
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url
    assert page.evaluate(_SCROLLS_SIDEWAYS) is False, page.url


def _follow(page: Any, match: Any) -> None:
    tab_to(page, match)
    press_and_wait(page)


def test_seeing_correcting_and_erasing_with_the_keyboard(browsing, site):
    page = browsing.page("", viewport=NARROW)
    page.goto(_book(site.base_url))
    page.wait_for_url("**/termin")
    _mail_to(site.base_url, EMAIL)  # the confirmation, so that the data page lists its text

    _follow(page, lambda e: e["href"] == "/termin/daten")
    expect(page.locator("h1")).to_have_text("Ihre Daten")
    expect(page.locator("#data-booking")).to_be_visible()
    expect(page.locator("main")).to_contain_text(EMAIL)
    _accessible(page)
    tab_to(page, by_text("Text der E-Mail anzeigen"))
    page.keyboard.press("Enter")  # the confirmation mail's text, opened: it wraps at 320 px
    expect(page.locator("pre.data-mail").first).to_be_visible()
    _accessible(page)

    _follow(page, lambda e: e["href"] == "/termin/daten/aendern")
    _accessible(page)
    tab_to(page, by_id("data-name"))
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    _follow(page, by_text("Änderungen speichern"))
    expect(page.locator(".error-summary")).to_contain_text("Namen")
    assert page.locator("#data-name").get_attribute("aria-invalid") == "true"
    _accessible(page)

    tab_to(page, by_id("data-name"))
    page.keyboard.type("Erika Musterfrau")
    tab_to(page, by_id("data-phone"))
    page.keyboard.type("0391 654321")
    tab_to(page, by_id("data-email"))
    page.keyboard.press("Control+A")
    page.keyboard.type(NEW)
    _follow(page, by_text("Änderungen speichern"))
    page.wait_for_url("**/termin/daten?erfolg=geaendert,bestaetigen")
    expect(page.locator("[role=status]")).to_contain_text("Ihr Name und Ihre Telefonnummer")
    expect(page.locator("main")).to_contain_text("Erika Musterfrau")
    _accessible(page)

    # The new mailbox, read on another device: no link cookie there.
    phone = browsing.page("", viewport=NARROW)
    phone.goto(_confirm_link(site.base_url))
    expect(phone.locator("main")).to_contain_text(NEW)
    _accessible(phone)
    _follow(phone, by_text("Ja, diese Adresse verwenden"))
    phone.wait_for_url("**/termin/email-bestaetigt")
    expect(phone.locator("h1")).to_have_text("Ihre E-Mail-Adresse wurde geändert")
    _accessible(phone)

    page.goto("/termin/daten")
    expect(page.locator("main")).to_contain_text(NEW)
    _follow(page, lambda e: e["href"] == "/termin/daten/loeschen")
    expect(page.locator("h1")).to_have_text("Ihre Daten können noch nicht gelöscht werden")
    _accessible(page)
    _follow(page, lambda e: e["href"] == "/termin/absagen")
    _follow(page, by_text("Ja, Termin absagen"))
    page.wait_for_url("**/termin?erfolg=abgesagt")

    _follow(page, lambda e: e["href"] == "/termin/daten")
    _follow(page, lambda e: e["href"] == "/termin/daten/loeschen")
    expect(page.locator("h1")).to_have_text("Ihre Daten löschen?")
    _accessible(page)
    _follow(page, by_text("Ja, meine Daten löschen"))
    page.wait_for_url("**/termin/daten/geloescht")
    expect(page.locator("h1")).to_have_text("Ihre Daten wurden gelöscht")
    assert focused(page)["tag"] in ("body", "a", "main")
    _accessible(page)

    answer = page.goto("/termin/daten")
    assert answer is not None
    assert answer.status == 401
