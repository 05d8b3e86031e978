"""The development mailbox in Chromium: a mail's HTML is shown with its own styles in a
sandboxed frame, under the site's strict Content-Security-Policy (the `browsing` fixture fails
on any CSP violation, which inline styles in the frame would cause)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.office_clock

KEPT_MAIL = 'tr:has(td:text-is("kept")) a[href^="/dev/mail/"]'


def a_kept_mail(page: Any) -> str:
    """The address of a mail the embedded worker has delivered to the mailbox: the demo data's
    or, on a fresh server, the one of a booking made here."""
    for _ in range(30):
        page.goto("/dev/mail")
        if page.locator(KEPT_MAIL).count():
            return str(page.locator(KEPT_MAIL).first.get_attribute("href"))
        page.wait_for_timeout(500)
    raise AssertionError("no mail was delivered to the mailbox")


def test_a_mail_is_shown_with_its_styles_in_a_sandboxed_frame(browsing, site):
    page = browsing.page("/dev/mail")
    page.goto(a_kept_mail(page))

    frame = page.locator("iframe[sandbox]")
    assert frame.get_attribute("sandbox") == ""
    heading = page.frame_locator("iframe[sandbox]").locator("h1")
    assert heading.evaluate("e => getComputedStyle(e).fontSize") == "24px"  # 1.5em of 16px
    box = page.frame_locator("iframe[sandbox]").locator("body > div").first
    assert box.evaluate("e => getComputedStyle(e).maxWidth") == "640px"  # 40em
    # No script runs in the frame: it is sandboxed without allow-scripts.
    assert page.frame_locator("iframe[sandbox]").locator("script").count() == 0
