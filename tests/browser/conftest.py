"""Browser fixtures: Debian's Chromium driven by Playwright against a real `sprechstunde serve`
with the demo data, on 127.0.0.1.

Every page opened through `browsing` is watched: a request to any other origin, a violation
of the Content-Security-Policy or an uncaught script error fails the test that caused it.
Chromium is required under CI; elsewhere its absence skips these tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.common import Server
from tests import office_clock
from web.demo import LOGINS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    # Host candidates as plain loopback addresses, not mDNS names sent to the local network.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # Nothing in the background: this machine's network is closed, and tests stay on loopback.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: CI must install the chromium package")
    pytest.skip("Chromium is not installed")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with the demo data for all browser tests. It has its own SQLite file: the
    PostgreSQL test database is emptied between tests, which a shared server cannot have."""
    _require_chromium()
    workdir = tmp_path_factory.mktemp("site")
    server = office_clock.server(f"sqlite:///{workdir / 'site.db'}", workdir)
    try:
        server.cli("migrate")
        server.cli("seed-demo")
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Chromium for one test module. Playwright's sync API keeps an event loop running on this
    thread while it is open, which would break `asyncio.run` in every later test of the session."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class Browsing:
    """Opens pages of the site in fresh browser contexts and records what they load."""

    browser: Any
    base_url: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def context(
        self,
        *,
        lang: str = "de",
        javascript: bool = True,
        viewport: dict[str, int] = DESKTOP,
        **options: Any,
    ) -> Any:
        context = self.browser.new_context(
            base_url=self.base_url,
            locale="de-DE" if lang == "de" else "en-GB",
            java_script_enabled=javascript,
            viewport=viewport,
            timezone_id="Europe/Berlin",
            **options,
        )
        if office_clock.OFFSET:
            # The pages' scripts count down to times the server gave them.
            context.clock.install(time=office_clock.office_now())
        context.set_default_timeout(10_000)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def page(self, path: str = "/", **options: Any) -> Any:
        page = self.context(**options).new_page()
        if path:
            page.goto(path)
        return page

    def _watch(self, page: Any) -> None:
        page.on("websocket", lambda socket: self.requests.append(socket.url))
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def foreign_requests(self) -> list[str]:
        ours = (self.base_url, self.base_url.replace("http://", "ws://"), "data:", "blob:")
        return [url for url in self.requests if not url.startswith(ours)]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(chromium: Any, site: Server) -> Iterator[Browsing]:
    browsing = Browsing(chromium, site.base_url)
    try:
        yield browsing
    finally:
        browsing.close()
    assert browsing.foreign_requests() == [], "a page made a request to another origin"
    assert browsing.problems == []


@pytest.fixture
def demo_logins() -> dict[str, Any]:
    return {login.role: login for login in LOGINS}
