"""Screenshots of the main pages for the README, in German, at phone and desktop width.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts `sprechstunde serve` with the demo data on a new SQLite file, walks through a booking,
the room's pre-join screen and the staff workspace in Debian's Chromium (/usr/bin/chromium),
and writes `<page>-<phone|desktop>.png`. Then a consultation with a shared screen, seen by the
citizen: that call runs, like the video tests, in a network namespace of its own with only
loopback (needs root and `ip`), so that no media leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Server  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, DESKTOP, PHONE  # noqa: E402
from tests.browser.netns import NamespacedServer, network_namespace  # noqa: E402
from web.demo import LOGINS  # noqa: E402

WIDTHS = {"phone": PHONE, "desktop": DESKTOP}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        server = Server(f"sqlite:///{workdir}/demo.db", Path(workdir))
        server.cli("migrate")
        server.cli("seed-demo")
        server.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                for width, viewport in WIDTHS.items():
                    _shoot(
                        browser,
                        server.base_url,
                        viewport,
                        lambda name, w=width: out / f"{name}-{w}.png",
                    )
                browser.close()
        finally:
            server.stop()
        with sync_playwright() as playwright:
            _shoot_call(playwright, Path(workdir), out)
    print(f"screenshots written to {out}")


def _shoot_call(playwright: Any, workdir: Path, out: Path) -> None:
    advisor_login = next(login for login in LOGINS if login.role == "advisor")
    with network_namespace() as namespace:
        server = NamespacedServer(namespace, workdir / "call")
        server.workdir.mkdir()
        server.start()
        browser = playwright.chromium.launch(
            executable_path=str(namespace.chromium(CHROMIUM, server.workdir)),
            args=[*CHROMIUM_FLAGS, "--allow-loopback-in-peer-connection"],
        )
        try:
            server.cli("seed-demo")
            for width, viewport in WIDTHS.items():
                # A room of its own for each width: the guest of a room is let in only once.
                room = server.open_room(advisor_login.email, advisor_login.password)
                advisor = browser.new_context(base_url=server.base_url, locale="de-DE")
                advisor.add_cookies(
                    [{"name": "staff_session", "value": room["token"], "url": server.base_url}]
                )
                host = advisor.new_page()
                host.goto(f"/staff/raeume/{room['room_id']}")
                host.get_by_role("button", name="Teilnehmen").click()
                host.wait_for_selector("#call:not([hidden])")
                citizen = browser.new_context(
                    base_url=server.base_url, locale="de-DE", viewport=viewport
                ).new_page()
                citizen.goto(room["guest_url"])
                citizen.get_by_label("Ihr Name, wie ihn die Beratung sieht").fill("Erika")
                citizen.get_by_role("button", name="Teilnehmen").click()
                citizen.wait_for_selector("#waiting:not([hidden])")
                citizen.screenshot(path=out / f"room-waiting-{width}.png")
                host.get_by_role("button", name="Erika hereinlassen").click()
                citizen.wait_for_selector("#call:not([hidden])")
                host.get_by_role("button", name="Bildschirm teilen").click()
                citizen.wait_for_selector("#stage video[data-kind='screen']")
                citizen.wait_for_timeout(2000)  # frames arrive, the quality settles
                citizen.screenshot(path=out / f"room-call-{width}.png")
                citizen.context.close()
                advisor.close()
        finally:
            browser.close()
            server.stop()


def _shoot(browser: Browser, base_url: str, viewport: dict[str, int], path) -> None:  # type: ignore[no-untyped-def]
    api = httpx.Client(base_url=base_url, timeout=30)
    video = next(s for s in api.get("/api/v1/services").json() if "video" in s["channels"])

    citizen = browser.new_context(base_url=base_url, locale="de-DE", viewport=viewport)
    page = citizen.new_page()
    page.goto("/")
    page.screenshot(path=path("start"))
    page.goto(f"/buchen/{video['id']}/zeit?kanal=video")
    page.screenshot(path=path("time"))
    page.locator("a[href*='/angaben']").last.click()
    page.fill("#field-name", "Erika Mustermann")
    page.fill("#field-email", "erika@example.org")
    page.screenshot(path=path("details"), full_page=True)
    page.check("#field-consent")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/termin/bestaetigt")
    page.screenshot(path=path("confirmation"), full_page=True)
    page.goto("/termin")
    page.screenshot(path=path("manage"))
    page.goto("/verbindungstest")
    page.screenshot(path=path("connection-test"))

    hotline = next(login for login in LOGINS if login.role == "hotline")
    token = api.post(
        "/api/v1/auth/token", json={"email": hotline.email, "password": hotline.password}
    ).json()["access_token"]
    room = api.post(
        "/api/v1/rooms", json={"title": "Rückruf"}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    page.goto(room["guest"]["url"])
    page.wait_for_timeout(1500)  # the camera preview starts
    page.screenshot(path=path("room-prejoin"))
    citizen.close()

    for role, start, name in [
        ("advisor", "/staff/agenda", "staff-agenda"),
        ("hotline", "/staff/hotline", "staff-hotline"),
        ("admin", "/staff/admin", "staff-admin"),
    ]:
        login = next(login for login in LOGINS if login.role == role)
        staff = browser.new_context(base_url=base_url, locale="de-DE", viewport=viewport)
        page = staff.new_page()
        _login(page, login.email, login.password)
        page.goto(start)
        page.screenshot(path=path(name))
        staff.close()
    api.close()


def _login(page: Page, email: str, password: str) -> None:
    page.goto("/staff/login")
    page.locator("input[type=email], input[name=email]").first.fill(email)
    page.locator("input[type=password]").fill(password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/staff/login" not in url)


if __name__ == "__main__":
    main()
