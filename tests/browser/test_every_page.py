"""axe-core on every page a citizen or a staff member can reach by following links, in German
and in English, on a desktop and on a phone: zero WCAG 2.1 A/AA violations.

The pages are found by crawling from the start page (and from the staff home after logging in),
so a new page is checked as soon as something links to it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import DESKTOP

pytestmark = pytest.mark.office_clock

# WCAG 1.4.10 Reflow: usable at 320 CSS pixels (a 1280 px window at 400 % zoom) without
# scrolling sideways.
NARROW = {"width": 320, "height": 640}

# Downloads, the JSON API and links that would end a session are not pages to check.
SKIP = ("/api/", "/static/", "/dev/mail", "/docs", "/openapi", "/feeds/", "/healthz", "/readyz")
SKIP_SUFFIXES = (".ics",)
MAX_PAGES = 60
# The elements that stick out of a narrow window, which then scrolls sideways.
_WIDER_THAN_WINDOW = """() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    return [...document.querySelectorAll("body *")]
        .filter(e => e.getBoundingClientRect().right > width + 0.5)
        .slice(0, 5)
        .map(e => `scrolls sideways at ${width} px: ${e.tagName} "${e.className}"`);
}"""


def _shape(path: str, query: str) -> str:
    """Pages of one kind (a time of a day, a day of a week) share a shape: one of each is
    checked. Numbers in the path and the values of the query don't change the shape."""
    keys = sorted(part.partition("=")[0] for part in query.split("&") if part)
    return re.sub(r"\d+", "#", path) + "?" + "&".join(keys)


def _crawl(page: Any, base_url: str, start: str) -> dict[str, list[Any]]:
    """Visit pages breadth-first from `start`; the problems of each, by path: axe-core's
    violations, and sideways scrolling when the window is narrow."""
    queue, shapes, found = [start], {_shape(start, "")}, {}
    while queue and len(found) < MAX_PAGES:
        path = queue.pop(0)
        response = page.goto(path)
        assert response is not None
        assert response.status < 500, f"{path} answered {response.status}"
        found[path] = violations(page)
        if page.viewport_size["width"] <= NARROW["width"]:
            found[path] += page.evaluate(_WIDER_THAN_WINDOW)
        # The last link of each new shape: the latest time of a list, which the booking tests,
        # taking the earliest, leave alone.
        new: dict[str, str] = {}
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            url = urldefrag(href)[0]
            if not url.startswith(base_url):
                continue
            parts = urlsplit(url)
            if (
                parts.path.startswith(SKIP)
                or parts.path.endswith(SKIP_SUFFIXES)
                or "lang=" in parts.query  # the same page in the other language: its own run
            ):
                continue
            shape = _shape(parts.path, parts.query)
            if shape not in shapes:
                new[shape] = parts.path + (f"?{parts.query}" if parts.query else "")
        shapes |= new.keys()
        queue.extend(new.values())
    return found


def _staff_login(page: Any, email: str, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("E-Mail", exact=False).first.fill(email)
    page.locator("input[type=password]").fill(password)
    page.locator("form button[type=submit], form input[type=submit]").last.click()
    page.wait_for_url(lambda url: "/staff/login" not in url)


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("viewport", [DESKTOP, NARROW], ids=["desktop", "320px"])
def test_citizen_pages_have_no_accessibility_violations(browsing, site, lang, viewport):
    page = browsing.page(f"/?lang={lang}", lang=lang, viewport=viewport)
    found = _crawl(page, site.base_url, "/")
    assert len(found) >= 5, sorted(found)
    assert {path: v for path, v in found.items() if v} == {}


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("role", ["admin", "advisor", "hotline"])
def test_staff_pages_have_no_accessibility_violations(browsing, site, demo_logins, lang, role):
    page = browsing.page(f"/staff/login?lang={lang}", lang=lang)
    _staff_login(page, demo_logins[role].email, demo_logins[role].password)
    found = _crawl(page, site.base_url, "/staff")
    staff_pages = [path for path in found if path.startswith("/staff")]
    assert len(staff_pages) >= 3, sorted(found)
    assert {path: v for path, v in found.items() if v} == {}
