"""axe-core and IBM Equal Access on every page a citizen or a staff member can reach by
following links, in German and in English, on a desktop and on a phone: zero WCAG 2.1 A/AA
violations, and no sideways scrolling at 320 px.

The pages are found by crawling from the start page (and from the staff home after logging in),
so a new page is checked as soon as something links to it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest

from tests.browser import axe, equal_access, nu_checker
from tests.browser.conftest import DESKTOP
from tests.office_clock import office_today

pytestmark = pytest.mark.office_clock
# At the hard days (.ci/run) the crawls run in German only: a calendar breaks by the date, and
# the English pages are built from the same templates and dates.
LANGS = [pytest.param("de"), pytest.param("en", marks=pytest.mark.not_repeated)]

# WCAG 1.4.10 Reflow: usable at 320 CSS pixels (a 1280 px window at 400 % zoom) without
# scrolling sideways.
NARROW = {"width": 320, "height": 640}

# Downloads, the JSON API and links that would end a session are not pages to check.
SKIP = (
    "/api/",
    "/static/",
    "/gebaerdensprache/medien/",
    "/dev/mail",
    "/docs",
    "/openapi",
    "/feeds/",
    "/healthz",
    "/readyz",
)
SKIP_SUFFIXES = (".ics", ".csv")  # downloads, not pages
MAX_PAGES = 60
# Text that cannot break (a long compound, an e-mail address) makes no element box wider
# than the window, yet the document scrolls sideways: so the document's scroll width is what
# is compared with the window.
_SCROLLS_SIDEWAYS = """() => {
    const root = document.documentElement;
    return root.scrollWidth > root.clientWidth
        ? [`scrolls sideways: ${root.scrollWidth} px wide in a ${root.clientWidth} px window`]
        : [];
}"""
# An address that cannot break at a hyphen or a dot within 320 px.
LONG_EMAIL = "erika.mustermann-beispielhausen.sozialverwaltung@kommunalverwaltung-example.org"


def problems(page: Any) -> list[Any]:
    """What axe-core and IBM Equal Access find on the page as it is now."""
    return axe.violations(page) + equal_access.violations(page)


def _shape(path: str, query: str) -> str:
    """Pages of one kind (a time of a day, a day of a week) share a shape: one of each is
    checked. Numbers in the path and the values of the query don't change the shape."""
    keys = sorted(part.partition("=")[0] for part in query.split("&") if part)
    return re.sub(r"\d+", "#", path) + "?" + "&".join(keys)


def _crawl(page: Any, base_url: str, start: str) -> dict[str, list[Any]]:
    """Visit pages breadth-first from `start`; the problems of each, by path: the two
    engines' violations, sideways scrolling when the window is narrow, and (on a desktop)
    the W3C checker's errors in the live DOM."""
    queue, shapes, found, documents = [start], {_shape(start, "")}, {}, {}
    while queue and len(found) < MAX_PAGES:
        path = queue.pop(0)
        response = page.goto(path)
        assert response is not None
        assert response.status < 500, f"{path} answered {response.status}"
        found[path] = problems(page)
        if page.viewport_size["width"] <= NARROW["width"]:
            found[path] += page.evaluate(_SCROLLS_SIDEWAYS)
        else:
            documents[path] = page.content()
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
    for path, errors in nu_checker.errors(documents).items():
        found[path] += errors
    return found


def _staff_login(page: Any, email: str, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("E-Mail", exact=False).first.fill(email)
    page.locator("input[type=password]").fill(password)
    page.locator("form button[type=submit], form input[type=submit]").last.click()
    page.wait_for_url(lambda url: "/staff/login" not in url)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("viewport", [DESKTOP, NARROW], ids=["desktop", "320px"])
def test_citizen_pages_have_no_accessibility_violations(browsing, site, lang, viewport):
    page = browsing.page(f"/?lang={lang}", lang=lang, viewport=viewport)
    found = _crawl(page, site.base_url, "/")
    assert len(found) >= 5, sorted(found)
    assert {path: v for path, v in found.items() if v} == {}


# Not at the hard days: what a date changes on the staff pages (the agenda, the week, the
# statistics' default period) tests/browser/test_staff_pages.py checks there; the crawls,
# which check markup and accessibility, took five of the hard days' thirty minutes.
@pytest.mark.not_repeated
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("role", ["admin", "advisor", "hotline"])
def test_staff_pages_have_no_accessibility_violations(browsing, site, demo_logins, lang, role):
    page = browsing.page(f"/staff/login?lang={lang}", lang=lang)
    _staff_login(page, demo_logins[role].email, demo_logins[role].password)
    found = _crawl(page, site.base_url, "/staff")
    staff_pages = [path for path in found if path.startswith("/staff")]
    assert len(staff_pages) >= 3, sorted(found)
    assert {path: v for path, v in found.items() if v} == {}


def _book_with_a_long_email(page: Any, lang: str) -> str:
    """Book through the API the last free time six to seven weeks ahead (the keyboard tests
    take the first times of the nearer weeks); answers the magic link."""
    (service, *_) = page.request.get("/api/v1/services").json()
    first = office_today() + timedelta(weeks=6)
    slots = page.request.get(
        f"/api/v1/services/{service['id']}/slots",
        params={"start": first.isoformat(), "end": (first + timedelta(days=13)).isoformat()},
    ).json()["slots"]
    body = {
        "service_id": service["id"],
        "start": slots[-1 if lang == "de" else -2]["start"],
        "channel": service["channels"][0],
        "name": "Erika Mustermann",
        "email": LONG_EMAIL,
        "language": lang,
    }
    response = page.request.post("/api/v1/bookings", data=body)
    assert response.status == 201, response.text()
    return str(response.json()["manage_url"])


@pytest.mark.parametrize("lang", ["de", "en"])
def test_pages_of_a_booking_with_a_long_email_address_fit_320px(browsing, site, lang):
    page = browsing.page("", lang=lang, viewport=NARROW)
    page.goto(_book_with_a_long_email(page, lang))
    assert LONG_EMAIL in page.inner_text("main")
    found = {}
    for path in ("/termin", "/termin/bestaetigt", "/termin/verschieben", "/termin/absagen"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        found[path] = problems(page) + page.evaluate(_SCROLLS_SIDEWAYS)
    assert {path: v for path, v in found.items() if v} == {}
