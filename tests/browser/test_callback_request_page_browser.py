"""The page of a callback request (`/r/{token}`, the link of its confirmation mail) in
Chromium: axe-core and IBM Equal Access find nothing before and after withdrawing, in
English. No page links to it (only the mail does), so the crawl of test_every_page misses it.
The request's window is the office day after the server's today: callbacks check no opening
hours, so no day of the year is harder than another for it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect

from tests.browser import equal_access
from tests.browser.axe import violations
from tests.office_clock import office_today

BERLIN = ZoneInfo("Europe/Berlin")


def _accessible(page: Any) -> None:
    assert violations(page) == [], page.url
    assert equal_access.violations(page) == [], page.url


def test_the_request_page_reads_well_and_withdraws(browsing, site):
    day = office_today() + timedelta(days=1)
    window = {
        "start": datetime.combine(day, time(9), BERLIN).isoformat(),
        "end": datetime.combine(day, time(12), BERLIN).isoformat(),
    }
    with httpx.Client(base_url=site.base_url, timeout=30) as api:
        service = api.get("/api/v1/services").json()[0]
        created = api.post(
            "/api/v1/callbacks",
            json={
                "service_id": service["id"],
                "name": "Erika Test",
                "phone": "0391 123456",
                "windows": [window],
                "language": "en",
            },
        )
    assert created.status_code == 201, created.text

    page = browsing.page(urlsplit(created.json()["withdraw_url"]).path, lang="en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your callback request")
    expect(page.locator("dd").nth(1)).to_have_text(service["name"])
    _accessible(page)

    page.get_by_role("button", name="Withdraw the request").click()
    expect(page.locator("p.lead")).to_have_text(
        "You have withdrawn the request. We will not call you."
    )
    _accessible(page)
