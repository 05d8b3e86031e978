"""A TOTP login end to end in Chromium against the real server: a new staff member sets up the
second factor (the test computes the code from the key shown on the page, at the server's
office clock), logs out, logs in with password and code, a wrong code is refused; the new
pages pass axe-core and IBM Equal Access."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser import axe, equal_access
from tests.browser.conftest import DESKTOP, PHONE
from tests.office_clock import office_now

pytestmark = pytest.mark.office_clock

EMAIL = "totp.browser@sprechstunde.example"
PASSWORD = "seven green lanterns hum softly"


def _new_staff_member(base_url: str, admin: Any) -> int:
    """Through the API, so the demo accounts (which other browser tests use) stay as they are."""
    with httpx.Client(base_url=base_url) as api:
        token = api.post(
            "/api/v1/auth/token", json={"email": admin.email, "password": admin.password}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        known = api.get("/api/v1/advisors", headers=headers).json()
        existing = [a["id"] for a in known if a["email"] == EMAIL]
        if existing:
            return int(existing[0])
        created = api.post(
            "/api/v1/advisors",
            headers=headers,
            json={"name": "Toni Tester", "email": EMAIL, "service_ids": [], "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        return int(created.json()["id"])


def _accessible(page: Any) -> None:
    assert page.locator("h1").count() == 1
    assert axe.violations(page) + equal_access.violations(page) == [], page.url


def _step() -> int:
    return int(office_now().timestamp()) // 30


def _log_in(page: Any) -> None:
    page.goto("/staff/login")
    page.get_by_label("E-Mail-Adresse").fill(EMAIL)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()


def test_totp_enrolment_and_login(browsing, site, demo_logins):
    staff_id = _new_staff_member(site.base_url, demo_logins["admin"])
    page = browsing.page(None)
    _log_in(page)
    page.wait_for_url("**/staff/agenda")
    page.goto("/staff/zweiter-faktor")
    _accessible(page)
    assert page.locator("svg.totp-qr").count() == 1
    assert page.locator("#totp-uri").inner_text().startswith("otpauth://totp/")
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    page.set_viewport_size(DESKTOP)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    enrolled_step = _step()
    page.get_by_label("Code, den die App jetzt zeigt").fill(totp.at(enrolled_step * 30))
    page.get_by_role("button", name="Zweiten Faktor bestätigen").click()
    # The click only starts the navigation: wait for the page that shows the codes.
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    _accessible(page)

    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url("**/staff/login?abgemeldet=true")
    _log_in(page)
    page.wait_for_url("**/staff/login/code**")
    _accessible(page)
    page.get_by_label("Code", exact=True).fill("000000")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator("#code-error")).to_have_text(
        "Der Code ist falsch oder wurde schon benutzt."
    )
    _accessible(page)
    # The enrolment's code is spent: the next step's code is within the window of ±1 step.
    page.get_by_label("Code", exact=True).fill(totp.at(max(enrolled_step + 1, _step()) * 30))
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url("**/staff/agenda")
    page.goto("/staff/zweiter-faktor")
    assert "Ihr zweiter Faktor ist eingerichtet." in page.locator("main").inner_text()

    admin = browsing.page(None, viewport=PHONE)
    admin.goto("/staff/login")
    admin.get_by_label("E-Mail-Adresse").fill(demo_logins["admin"].email)
    admin.get_by_label("Passwort").fill(demo_logins["admin"].password)
    admin.get_by_role("button", name="Anmelden").click()
    admin.wait_for_url("**/staff/admin")
    for path in (f"/staff/admin/sitzungen/{staff_id}", "/staff/admin/zweiter-faktor"):
        admin.goto(path)
        _accessible(admin)
    admin.goto(f"/staff/admin/sitzungen/{staff_id}")
    admin.get_by_role("button", name="Zweiten Faktor entfernen").click()
    expect(admin.locator("main")).to_contain_text("Der zweite Faktor wurde entfernt")


def test_password_pages_are_accessible(browsing):
    page = browsing.page("/staff/passwort-vergessen", viewport=PHONE)
    _accessible(page)
    page.get_by_label("E-Mail-Adresse").fill("nobody@sprechstunde.example")
    page.get_by_role("button", name="Link senden").click()
    page.wait_for_url("**gesendet=1")
    _accessible(page)
    page.goto("/staff/passwort-neu?token=nothing")
    _accessible(page)
