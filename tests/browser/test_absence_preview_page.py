"""The preview of an absence over booked appointments in a real browser without JavaScript:
reached with the ordinary form, accessible (zero axe-core violations) in German and English.
It only previews: the shared demo site's bookings stay as they are."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.axe import violations
from tests.browser.test_staff_pages import keyboard_login
from tests.office_clock import office_today

pytestmark = pytest.mark.office_clock


def _a_booked_day(base_url: str, login: Any) -> tuple[int, str, str]:
    """An advisor, a local day on which they have a confirmed appointment, and its reference."""
    with httpx.Client(base_url=base_url) as client:
        token = client.post(
            "/api/v1/auth/token", json={"email": login.email, "password": login.password}
        ).json()["access_token"]
        today = office_today()
        bookings = client.get(
            "/api/v1/staff/bookings",
            params={"start": today.isoformat(), "end": (today + timedelta(days=13)).isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    later = [
        b
        for b in bookings
        if b["status"] == "confirmed"
        and datetime.fromisoformat(b["start"]).date() > today  # not begun, whatever the hour
    ]
    assert later, "the demo data has no appointments"
    first = later[0]
    return first["advisor_id"], first["start"][:10], first["reference"]


def _preview(browsing: Any, admin: Any, language: str, *, javascript: bool) -> Any:
    advisor_id, day, reference = _a_booked_day(browsing.base_url, admin)
    page = browsing.page(None, javascript=javascript)
    keyboard_login(page, admin)
    page.wait_for_url("**/staff/admin")
    page.goto(f"/staff/abwesenheiten?berater={advisor_id}&lang={language}")
    page.locator("#start_date").fill(day)
    page.locator("form.staff-form button[type=submit]").click()
    expect(page.locator("main")).to_contain_text(reference)
    return page


HEADINGS = {
    "de": "Termine in dieser Abwesenheit prüfen",
    "en": "Check the appointments in this absence",
}


def test_the_absence_preview_works_without_javascript(browsing, demo_logins):
    page = _preview(browsing, demo_logins["admin"], "de", javascript=False)

    assert page.locator("h1").inner_text() == HEADINGS["de"]
    page.locator("a.button--secondary").click()  # back without saving
    expect(page).to_have_url(re.compile(r"/staff/abwesenheiten"))


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_absence_preview_is_accessible(browsing, demo_logins, language):
    page = _preview(browsing, demo_logins["admin"], language, javascript=True)

    assert page.locator("h1").inner_text() == HEADINGS[language]
    assert violations(page) == []
