"""Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi from the Node scripts in
`tests/browser/firefox/` (Playwright's Python package needs its own patched Firefox): the
booking by keyboard only, and a call with a Chromium host in which Firefox shares the screen.

Firefox has no clock control over BiDi: the scripts replace the pages' `Date` with one moved
to the office clock (`firefox/firefox.mjs`), as Playwright's clock does for Chromium.

Firefox has no fake screen source: for the call it runs headful under an Xvfb the test starts
inside the call's network namespace (see `netns.py` for why that namespace has a veth pair).

Firefox's AudioContext never runs without an audio output, so the level meter's test gives
it PulseAudio with a null sink.

Firefox, Xvfb, PulseAudio, Node and `npm ci --prefix tests/browser` are required under CI;
elsewhere their absence skips these tests.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import office_clock
from tests.browser import netns
from tests.browser.conftest import Browsing
from tests.browser.netns import Namespace, NamespacedServer
from tests.browser.test_booking_flow import REFERENCE
from tests.browser.test_video_room import DECODED_FRAME, RECORD_PEER_CONNECTIONS

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "firefox"
FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
NODE = shutil.which("node") or "/usr/bin/node"
XVFB = shutil.which("Xvfb") or "/usr/bin/Xvfb"
PULSEAUDIO = shutil.which("pulseaudio") or "/usr/bin/pulseaudio"
CALL_STATE = (HERE / "call_state.js").read_text()
SCRIPT_SECONDS = 120
X_SECONDS = 30

private_network = netns.private_network

EMAIL = "firefox.host@example.org"
PASSWORD = secrets.token_urlsafe(16)


def require_firefox() -> None:
    problem = None
    if not Path(FIREFOX).exists():
        problem = f"Firefox is missing at {FIREFOX}: CI must install the firefox-esr package"
    elif not Path(NODE).exists():
        problem = "Node is missing: CI must install the nodejs package"
    elif not (HERE / "node_modules" / "puppeteer-core").is_dir():
        problem = "puppeteer-core is missing: run `npm ci --prefix tests/browser`"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


def office_now_ms() -> int | None:
    """The office clock for the pages' scripts, in epoch milliseconds, or None for real time."""
    if not office_clock.OFFSET:
        return None
    return int(office_clock.office_now().timestamp() * 1000)


def run_script(
    name: str, argument: dict[str, Any], *, command: list[str] | None = None, env: Any = None
) -> dict[str, Any]:
    """Run `firefox/<name>` with its JSON argument; its JSON answer (or the error it printed)."""
    argv = [*(command or []), NODE, str(SCRIPTS / name), json.dumps(argument)]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=SCRIPT_SECONDS,
        env={**os.environ, "FIREFOX": FIREFOX, **(env or {})},
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.office_clock
def test_booking_with_the_keyboard_in_firefox(site):
    require_firefox()

    booked = run_script(
        "book_by_keyboard.mjs",
        {
            "baseUrl": site.base_url,
            "lang": "de",
            "officeNow": office_now_ms(),
            # Further ahead than the Chromium keyboard tests, so no two want the same time.
            "concern": "Wohngeld: Erstberatung",
            "channel": "in_person",
            "weeksAhead": 8,
            "nextWeek": "Nächste Woche",
            "book": "Termin verbindlich buchen",
            "email": "firefox.tastatur@example.org",
        },
    )

    assert "Firefox/" in booked["userAgent"]
    assert [step.strip() for step in booked["steps"]] == [
        f"Schritt {n} von 4" for n in (1, 2, 3, 4)
    ]
    assert booked["channelChecked"]
    assert booked["consentChecked"]
    assert booked["afterName"] == "field-email"
    assert booked["heading"] == "Ihr Termin ist gebucht"
    assert REFERENCE.match(booked["reference"].strip())
    assert booked["problems"] == []


@contextmanager
def xvfb(namespace: Namespace, workdir: Path) -> Iterator[str]:
    """An X display inside the namespace for a headful Firefox; answers its DISPLAY."""
    if not Path(XVFB).exists():
        _missing("Xvfb", "xvfb")
    # -displayfd: Xvfb picks a free display itself and writes its number once it accepts clients.
    read, write = os.pipe()
    log = (workdir / "xvfb.log").open("ab")
    process = subprocess.Popen(
        namespace.command(
            XVFB, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"
        ),
        pass_fds=(write,),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    os.close(write)
    log.close()
    try:
        with os.fdopen(read) as display:
            number = display.readline().strip()
        assert number, f"Xvfb did not start:\n{(workdir / 'xvfb.log').read_text()}"
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=X_SECONDS)


def host_joins(browsing: Browsing, room: dict[str, Any]) -> Any:
    context = browsing.context(lang="de")
    context.add_init_script(RECORD_PEER_CONNECTIONS)
    context.add_cookies(
        [{"name": "staff_session", "value": room["token"], "url": browsing.base_url}]
    )
    host = context.new_page()
    host.goto(f"/staff/raeume/{room['room_id']}")
    host.get_by_role("button", name="Teilnehmen").click()
    host.wait_for_selector("#call:not([hidden])")
    return host


def next_event(citizen: subprocess.Popen[str], expected: str) -> dict[str, Any]:
    assert citizen.stdout is not None
    line = citizen.stdout.readline()
    if not line:
        citizen.wait(timeout=SCRIPT_SECONDS)
        assert citizen.stderr is not None
        raise AssertionError(f"call.mjs ended before {expected!r}:\n{citizen.stderr.read()}")
    event: dict[str, Any] = json.loads(line)
    assert event["event"] == expected, event
    return event


def test_a_call_between_firefox_and_chromium_with_the_screen_shared_from_firefox(
    private_network: tuple[NamespacedServer, Any], tmp_path: Path
):
    require_firefox()
    server, chromium = private_network
    netns.create_advisor(server.cli, EMAIL, PASSWORD, "Frieda Host")
    room = server.open_room(EMAIL, PASSWORD)
    browsing = Browsing(chromium, server.base_url)
    try:
        host = host_joins(browsing, room)
        with xvfb(server.namespace, tmp_path) as display:
            argument = {
                "guestUrl": room["guest_url"],
                "name": "Erika",
                "officeNow": office_now_ms(),
            }
            with subprocess.Popen(
                server.namespace.command(NODE, str(SCRIPTS / "call.mjs"), json.dumps(argument)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "FIREFOX": FIREFOX, "DISPLAY": display},
            ) as citizen:
                try:
                    next_event(citizen, "knocking")
                    host.get_by_role("button", name="Erika hereinlassen").click(timeout=30_000)
                    assert "Firefox/" in next_event(citizen, "in the call")["userAgent"]
                    host.wait_for_selector("#stage video[data-kind='camera']", state="attached")
                    assert host.evaluate(DECODED_FRAME, "#stage video[data-kind='camera']")

                    next_event(citizen, "sharing")
                    screen = "#stage video[data-kind='screen']"
                    host.wait_for_selector(screen, state="attached", timeout=30_000)
                    assert host.evaluate(DECODED_FRAME, screen), "the shared screen never arrived"
                    expect(
                        host.locator("#stage figure[data-kind='screen'] figcaption")
                    ).to_have_text("Bildschirm von Erika")

                    assert citizen.stdin is not None
                    citizen.stdin.write("done\n")
                    citizen.stdin.flush()
                    done = next_event(citizen, "done")
                except AssertionError as failure:
                    # The Chromium side of the call too: where the media stopped.
                    host_side = json.dumps(host.evaluate(CALL_STATE))
                    raise AssertionError(f"{failure}\nthe host's side: {host_side}") from None
                finally:
                    # An end of stdin releases the script too, should the test fail before "done".
                    if citizen.stdin is not None:
                        citizen.stdin.close()
                    citizen.wait(timeout=SCRIPT_SECONDS)
        traffic = done["traffic"]
        assert traffic["inbound"]["video"] > 0
        assert traffic["inbound"]["audio"] > 0
        assert traffic["outbound"]["video"] > 0
        assert traffic["outbound"]["audio"] > 0
        assert any(candidate.startswith("host 192.0.2.") for candidate in traffic["candidates"]), (
            traffic
        )
        assert done["problems"] == []
    finally:
        browsing.close()
    assert browsing.foreign_requests() == []
    assert browsing.problems == []


def _missing(tool: str, package: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is missing: CI must install the {package} package")
    pytest.skip(f"{tool} is not installed")


@contextmanager
def pulseaudio(workdir: Path) -> Iterator[dict[str, str]]:
    """A PulseAudio with a null sink, for Firefox's audio output; answers the environment
    that points Firefox at it (a file socket, so it reaches into the namespace too)."""
    if not Path(PULSEAUDIO).exists():
        _missing("PulseAudio", "pulseaudio")
    socket = workdir / "pulse-native"
    log = (workdir / "pulseaudio.log").open("ab")
    process = subprocess.Popen(
        [
            PULSEAUDIO,
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disable-shm=yes",
            "-n",
            "--load=module-null-sink",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
        ],
        env={**os.environ, "HOME": str(workdir), "XDG_RUNTIME_DIR": str(workdir)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        while not socket.exists():
            assert process.poll() is None, (workdir / "pulseaudio.log").read_text()
            time.sleep(0.05)
        yield {"PULSE_SERVER": f"unix:{socket}"}
    finally:
        process.terminate()
        process.wait(timeout=X_SECONDS)


def test_the_microphone_level_meter_moves_before_joining_in_firefox(
    private_network: tuple[NamespacedServer, Any], tmp_path: Path
):
    require_firefox()
    server, _ = private_network
    netns.create_advisor(server.cli, "firefox.meter@example.org", PASSWORD, "Mia Meter")
    room = server.open_room("firefox.meter@example.org", PASSWORD)

    with pulseaudio(tmp_path) as audio:
        meter = run_script(
            "level_meter.mjs",
            {"guestUrl": room["guest_url"], "name": "Erika", "officeNow": office_now_ms()},
            command=server.namespace.command(),
            env=audio,
        )

    assert meter["joinVisible"], "the page joined the call by itself"
    assert meter["moved"], f"the meter stayed at 0, its AudioContext was: {meter['states']}"
    assert meter["problems"] == []
