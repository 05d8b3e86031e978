"""The waiting list in Chromium, through a running server: a concern without free times -> the
"no free times" page links to the waiting list -> joining shows the place in line -> staff
give the concern an advisor with weekly hours -> the offer loop mails an offer (development
mailbox) -> the offer link -> accept -> the booking's own page. axe-core and IBM Equal Access
find nothing on the new pages (the form, the confirmation, the offer, the staff's lists).

The shared demo server keeps its data: this test makes its own concern and advisor, with
names of its own, and nothing depends on today's date (the slot offered is whatever the
server's office clock finds first).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.browser import equal_access
from tests.browser.axe import violations
from tests.browser.test_staff_pages import keyboard_login

ALL_WEEK_9_TO_17 = [{"weekday": day, "start": "09:00", "end": "17:00"} for day in range(7)]


def _accessible(page: Any) -> None:
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url


@contextmanager
def _api(base_url: str, login: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        token = client.post(
            "/api/v1/auth/token", json={"email": login.email, "password": login.password}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _offer_link(page: Any, recipient: str) -> str:
    """The offer link of the mail to `recipient`, once the worker has written it."""
    for _ in range(60):
        page.goto("/dev/mail")
        rows = page.locator(f'tr:has(td:text-is("{recipient}")) a[href^="/dev/mail/"]')
        for href in [rows.nth(i).get_attribute("href") for i in range(rows.count())]:
            page.goto(str(href))
            found = re.search(
                r"https?://[^\s/]+(/o/[A-Za-z0-9._~-]+)", page.locator("pre").inner_text()
            )
            if found:
                return found[1]
        page.wait_for_timeout(500)
    raise AssertionError("no offer mail reached the development mailbox")


@pytest.mark.office_clock
def test_from_no_free_times_to_a_booking_through_the_waiting_list(browsing, demo_logins):
    suffix = secrets.token_hex(3)
    email = f"warteliste-{suffix}@example.org"
    with _api(browsing.base_url, demo_logins["admin"]) as admin:
        created = admin.post(
            "/api/v1/services",
            json={
                "name": f"Warteliste {suffix}",
                "duration_minutes": 30,
                "channels": ["video"],
                "min_notice_minutes": 60,
                "horizon_days": 60,
            },
        )
        assert created.status_code == 201, created.text
        service_id = created.json()["id"]

        # No advisor yet: no free times at all, and the page says so with the way out.
        page = browsing.page(f"/buchen/{service_id}/zeit?kanal=video")
        assert "keine freien Termine" in page.locator("main").inner_text()
        page.get_by_role("link", name="Auf die Warteliste setzen").first.click()
        page.wait_for_url(f"**/warteliste?anliegen={service_id}")
        assert page.locator("#field-service").input_value() == str(service_id)
        _accessible(page)

        page.locator("#field-name").fill("Erika Wartend")
        page.locator("#field-email").fill(email)
        page.locator("#field-part-morning").check()
        page.locator("#field-part-afternoon").check()
        page.get_by_role("button", name="Auf die Warteliste setzen").click()
        page.wait_for_selector("h1:text-is('Sie stehen auf der Warteliste')")
        assert page.locator(".waitlist-position").inner_text() == "1"
        _accessible(page)

        # The staff's view of the lists shows the person waiting.
        staff = browsing.page(None)
        keyboard_login(staff, demo_logins["hotline"])
        staff.wait_for_url("**/staff/hotline")
        staff.goto("/staff/warteliste")
        row = staff.locator(f'tr:has(th:text-is("Warteliste {suffix}"))')
        assert row.locator("td").first.inner_text() == "1"
        _accessible(staff)

        # Staff free times: an advisor for the concern, with weekly hours (this wakes the
        # server's offer loop).
        advisor = admin.post(
            "/api/v1/advisors",
            json={
                "name": f"Berater {suffix}",
                "email": f"berater-{suffix}@example.org",
                "service_ids": [service_id],
            },
        )
        assert advisor.status_code == 201, advisor.text
        hours = admin.put(
            f"/api/v1/advisors/{advisor.json()['id']}/weekly-hours", json=ALL_WEEK_9_TO_17
        )
        assert hours.status_code == 200, hours.text

    offer_path = _offer_link(page, email)
    page.goto(offer_path)
    assert page.locator("h1").inner_text() == "Ihr Terminangebot"
    _accessible(page)
    page.get_by_role("button", name="Termin annehmen").click()
    page.wait_for_url(lambda url: "/o/" not in url)
    main = page.locator("main").inner_text()
    assert f"Warteliste {suffix}" in main
    assert "Gebucht" in main
    _accessible(page)
