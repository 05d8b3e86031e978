"""A consultation in real browsers: an advisor (German) and a citizen (English) meet in a room.
Waiting room, admission, decoded video both ways, the advisor's screen shared and stopped
three times (once from the browser's own bar), a chat message, hang up, end for everyone;
axe on every screen.

Network rule: the direct call runs browser and server inside a network namespace with only
loopback (tests/browser/netns.py); the relay call forces `iceTransportPolicy: "relay"` through
coturn on 127.0.0.1, where no candidate but the relayed one may appear.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bench.common import Server
from tests.browser import netns
from tests.browser.axe import violations
from tests.browser.conftest import Browsing
from tests.browser.netns import NamespacedServer, open_room
from tests.browser.waiting import until

private_network = netns.private_network

EMAIL = "anna.host@example.org"
PASSWORD = secrets.token_urlsafe(16)
ADVISOR = "Anna Host"

SIGNALING = re.compile(r"/ws/signaling$")
QUALITY = re.compile(
    r"^(good|fair|poor) \(round trip \d+ ms, packet loss [\d.]+ %, \d+ pictures per second\)$"
)

# Every RTCPeerConnection the page makes, for the checks of candidate types below.
RECORD_PEER_CONNECTIONS = """
window.__peerConnections = [];
const Original = window.RTCPeerConnection;
window.RTCPeerConnection = function (...args) {
  const pc = new Original(...args);
  window.__peerConnections.push(pc);
  return pc;
};
window.RTCPeerConnection.prototype = Original.prototype;
"""

# The ICE username fragment of the citizen's connection: an ICE restart changes it.
LOCAL_UFRAG = (
    """() => /a=ice-ufrag:(\\S+)/.exec(window.__peerConnections[0].localDescription.sdp)[1]"""
)

# Resolves true once the video element presents a decoded frame.
DECODED_FRAME = """async (selector) => {
  const video = document.querySelector(selector);
  if (!video) return false;
  return await new Promise((resolve) => {
    video.requestVideoFrameCallback(() => resolve(video.videoWidth > 0));
    setTimeout(() => resolve(false), 8000);
  });
}"""

CANDIDATE_TYPES = """async () => {
  const types = new Set();
  for (const pc of window.__peerConnections) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "local-candidate" || s.type === "remote-candidate") types.add(s.candidateType);
    });
  }
  return [...types].sort();
}"""


def _create_host(cli: Any) -> None:
    netns.create_advisor(cli, EMAIL, PASSWORD, ADVISOR)


@pytest.fixture(scope="module")
def private_site(private_network: tuple[NamespacedServer, Any]) -> tuple[NamespacedServer, Any]:
    _create_host(private_network[0].cli)
    return private_network


def _watched(browser: Any, base_url: str) -> Browsing:
    return Browsing(browser, base_url)


def _check_watched(browsing: Browsing) -> None:
    browsing.close()
    assert browsing.foreign_requests() == [], "a page made a request to another origin"
    assert browsing.problems == []


def _frame(page: Any, selector: str) -> None:
    page.wait_for_selector(selector, state="attached")
    assert page.evaluate(DECODED_FRAME, selector), f"no decoded frame in {selector}"


def meet(browsing: Browsing, room: dict[str, Any]) -> tuple[Any, Any]:
    """The whole consultation; returns both pages, still in the call, for further checks."""
    advisor_context = browsing.context(lang="de")
    advisor_context.add_init_script(RECORD_PEER_CONNECTIONS)
    advisor_context.add_cookies(
        [{"name": "staff_session", "value": room["token"], "url": browsing.base_url}]
    )
    advisor = advisor_context.new_page()
    advisor.goto(f"/staff/raeume/{room['room_id']}")
    expect(advisor.locator("#status")).to_have_text(
        "Kamera und Mikrofon sind bereit. Sie können teilnehmen."
    )
    assert advisor.locator("#camera-select option").count() >= 1
    assert advisor.locator("#level").get_attribute("role") == "meter"
    assert violations(advisor) == []
    advisor.get_by_role("button", name="Teilnehmen").click()
    advisor.wait_for_selector("#call:not([hidden])")
    expect(advisor.locator("#status")).to_contain_text("Sie sind im Raum.")

    citizen_context = browsing.context(lang="en")
    citizen_context.add_init_script(RECORD_PEER_CONNECTIONS)
    citizen = citizen_context.new_page()
    # The citizen's signaling goes through Playwright, which can cut it (see `reconnect`).
    citizen.signaling = []
    citizen.route_web_socket(
        SIGNALING, lambda socket: citizen.signaling.append((socket, socket.connect_to_server()))
    )
    citizen.goto(room["guest_url"])
    assert citizen.url == f"{browsing.base_url}/raum"
    expect(citizen.locator("#status")).to_have_text(
        "Camera and microphone are ready. You can join."
    )
    citizen.get_by_label("Your name as shown to the advisor").fill("Erika")
    assert violations(citizen) == []
    citizen.get_by_role("button", name="Join").click()
    citizen.wait_for_selector("#waiting:not([hidden])")
    expect(citizen.locator("#status")).to_have_text(
        "You are in the waiting room. Your advisor will let you in."
    )
    assert violations(citizen) == []

    # The knock is announced to the advisor, who lets the citizen in.
    advisor.get_by_role("button", name="Erika hereinlassen").click()
    citizen.wait_for_selector("#call:not([hidden])")
    advisor.wait_for_selector("#participant-list li[data-id^='invite-']")

    # Decoded video both ways.
    _frame(citizen, "#stage video[data-kind='camera']")
    _frame(advisor, "#stage video[data-kind='camera']")
    # The citizen's first media state went out before its offer on the same socket, so it has
    # arrived by now: it is no news, the admission stays the last announcement.
    expect(advisor.locator("#status")).to_have_text("Erika ist dem Gespräch beigetreten.")
    expect(citizen.locator("#connection-state")).to_have_text("connected")
    expect(citizen.locator("#quality")).to_have_text(QUALITY, timeout=8_000)
    assert violations(citizen) == []
    assert violations(advisor) == []

    # The advisor shares the screen; the citizen sees it large; then it stops. Twice.
    share = advisor.get_by_role("button", name="Bildschirm teilen")
    for _ in range(2):
        share.click()
        expect(share).to_have_attribute("aria-pressed", "true")
        _frame(citizen, "#stage video[data-kind='screen']")
        assert "stage--screen" in (citizen.locator("#stage").get_attribute("class") or "")
        screen = citizen.locator("#stage figure[data-kind='screen']").bounding_box()
        face = citizen.locator("#stage figure[data-kind='camera']").bounding_box()
        assert screen is not None
        assert face is not None
        assert screen["width"] > 2 * face["width"]  # the document large, the face small
        assert citizen.locator("#stage figure[data-kind='screen'] figcaption").inner_text() == (
            f"Screen of {ADVISOR}"
        )
        share.click()
        expect(share).to_have_attribute("aria-pressed", "false")
        citizen.wait_for_selector("#stage video[data-kind='screen']", state="detached")
        assert "stage--screen" not in (citizen.locator("#stage").get_attribute("class") or "")

    # Once more, stopped from the browser's own "Stop sharing" bar: the capture ends and its
    # track fires `ended`, as Chromium does when that button is pressed.
    share.click()
    _frame(citizen, "#stage video[data-kind='screen']")
    advisor.evaluate(
        """() => {
            const track = document.getElementById("self-screen").srcObject.getVideoTracks()[0];
            track.stop();
            track.dispatchEvent(new Event("ended"));
        }"""
    )
    expect(share).to_have_attribute("aria-pressed", "false")
    citizen.wait_for_selector("#stage video[data-kind='screen']", state="detached")

    # Chat, both ways.
    citizen.get_by_role("textbox", name="Message").fill("Good morning!")
    citizen.get_by_role("button", name="Send").click()
    advisor.wait_for_selector("#chat-log li:has-text('Good morning!')")
    assert advisor.locator("#chat-log li").last.inner_text().startswith("Erika um ")
    advisor.get_by_role("textbox", name="Nachricht").fill("Guten Morgen")
    advisor.keyboard.press("Enter")
    citizen.wait_for_selector("#chat-log li:has-text('Guten Morgen')")
    return advisor, citizen


def reconnect(advisor: Any, citizen: Any) -> None:
    """The citizen's signaling connection drops; the page gets a new ticket, reconnects, and
    restarts ICE on the peer connection it has, which carries on."""
    ufrag = citizen.evaluate(LOCAL_UFRAG)
    page_side, server_side = citizen.signaling[-1]
    server_side.close()
    page_side.close(code=1013, reason="try_again_later")
    expect(citizen.locator("#status")).to_have_text("Connected again.")
    assert len(citizen.signaling) == 2
    expect(advisor.locator("#participant-list li[data-id^='invite-']")).to_have_count(1)
    expect(citizen.locator("#connection-state")).to_have_text("connected")
    # The same connections on both sides, not new ones: ICE restarted, media flows on.
    citizen.wait_for_function(f"(before) => ({LOCAL_UFRAG})() !== before", arg=ufrag)
    assert citizen.evaluate("window.__peerConnections.length") == 1
    assert advisor.evaluate("window.__peerConnections.length") == 1
    _frame(advisor, "#stage video[data-kind='camera']")
    _frame(citizen, "#stage video[data-kind='camera']")


def second_device(browsing: Browsing, advisor: Any, citizen: Any, guest_url: str) -> None:
    """Someone else opens the citizen's join link (a forwarded invitation) during the call: it
    waits, the advisor is told it is a second device for the person inside, and a refusal
    leaves the citizen in the call."""
    other = browsing.context(lang="en").new_page()
    other.goto(guest_url)
    expect(other.locator("#display-name")).to_have_value("")  # a join link shows no name
    other.get_by_label("Your name as shown to the advisor").fill("Erika")
    other.get_by_role("button", name="Join").click()
    other.wait_for_selector("#waiting:not([hidden])")
    expect(advisor.locator("#status")).to_have_text(
        "Erika hat sich von einem anderen Gerät neu verbunden und wartet. Hereinlassen?"
        " Die Verbindung im Gespräch endet dann."
    )
    expect(advisor.locator("#waiting-list li")).to_have_text(
        re.compile(r"^Erika \(Ratsuchende Person\) – von einem anderen Gerät")
    )
    assert violations(advisor) == []
    advisor.get_by_role("button", name="Erika nicht hereinlassen").click()
    expect(other.locator("#ended-message")).to_have_text(
        "You were not let in. If you think this is a mistake, call the hotline."
    )
    expect(citizen.locator("#connection-state")).to_have_text("connected")
    _frame(advisor, "#stage video[data-kind='camera']")
    other.context.close()


def change_camera(advisor: Any, citizen: Any) -> None:
    """During the call the citizen picks the camera again: a new track replaces the old one in
    the running call (replaceTrack), and the advisor keeps getting pictures."""
    citizen.get_by_text("Change camera or microphone").click()
    camera = citizen.get_by_label("Camera", exact=True)
    expect(camera).to_be_visible()
    before = citizen.evaluate(
        "document.querySelector('#self-view').srcObject.getVideoTracks()[0].id"
    )
    camera.select_option(index=0)
    until(
        citizen,
        "(before) => document.querySelector('#self-view').srcObject.getVideoTracks()[0].id"
        " !== before",
        before,
    )
    _frame(advisor, "#stage video[data-kind='camera']")


def invite_and_deny(browsing: Browsing, advisor: Any) -> None:
    """The advisor makes a link for an interpreter, who knocks and is not let in."""
    advisor.get_by_label("Für wen ist der Link?").fill("Dolmetscherin")
    advisor.get_by_role("button", name="Einladungslink erstellen").click()
    link = advisor.get_by_label("Link für Dolmetscherin")
    expect(link).to_be_focused()
    interpreter = browsing.page(link.input_value(), lang="en")
    expect(interpreter.locator("#display-name")).to_have_value("Dolmetscherin")
    expect(interpreter.locator("#status")).to_have_text(
        "Camera and microphone are ready. You can join."
    )
    interpreter.get_by_role("button", name="Join").click()
    interpreter.wait_for_selector("#waiting:not([hidden])")
    expect(advisor.locator("#status")).to_have_text(
        "Dolmetscherin wartet darauf, hereingelassen zu werden."
    )
    advisor.get_by_role("button", name="Dolmetscherin nicht hereinlassen").click()
    expect(interpreter.locator("#ended-message")).to_have_text(
        "You were not let in. If you think this is a mistake, call the hotline."
    )
    expect(advisor.locator("#nobody-waiting")).to_be_visible()


def hang_up(advisor: Any, citizen: Any) -> None:
    citizen.get_by_role("button", name="Hang up").click()
    citizen.wait_for_selector("#ended:not([hidden])")
    expect(citizen.locator("#ended-message")).to_have_text("You left the call.")
    end_for_everyone(advisor)


def remove(advisor: Any, citizen: Any) -> None:
    advisor.get_by_role("button", name="Erika aus dem Raum entfernen").click()
    expect(citizen.locator("#ended-message")).to_have_text("You have been removed from the room.")
    end_for_everyone(advisor)


def end_for_everyone(advisor: Any) -> None:
    advisor.wait_for_selector("#alone:not([hidden])")
    expect(advisor.locator("#participant-list li")).to_have_count(1)
    advisor.once("dialog", lambda dialog: dialog.accept())
    advisor.get_by_role("button", name="Für alle beenden").click()
    advisor.wait_for_selector("#ended:not([hidden])")
    expect(advisor.locator("#ended-message")).to_have_text("Das Gespräch wurde beendet.")


def test_advisor_and_citizen_meet_share_the_screen_chat_and_hang_up(private_site):
    server, browser = private_site
    room = server.open_room(EMAIL, PASSWORD)
    browsing = _watched(browser, server.base_url)
    try:
        advisor, citizen = meet(browsing, room)
        # The namespace has no TURN server: host candidates only, no relay.
        assert "relay" not in citizen.evaluate(CANDIDATE_TYPES)
        reconnect(advisor, citizen)
        second_device(browsing, advisor, citizen, room["guest_url"])
        change_camera(advisor, citizen)
        invite_and_deny(browsing, advisor)
        hang_up(advisor, citizen)
    finally:
        _check_watched(browsing)


def test_without_javascript_the_room_page_says_that_video_needs_it(private_site):
    server, browser = private_site
    room = server.open_room(EMAIL, PASSWORD)
    browsing = Browsing(browser, server.base_url)
    try:
        page = browsing.page(room["guest_url"], javascript=False)
        main = page.locator("main").inner_text()
        assert "Das Videogespräch braucht JavaScript." in main
        assert "rufen Sie die Hotline an" in main
        assert page.locator("#room").is_hidden()
    finally:
        _check_watched(browsing)


@pytest.fixture
def relay_server(coturn: Any, tmp_path: Path) -> Iterator[Server]:
    server = Server(
        f"sqlite:///{tmp_path / 'relay.db'}",
        tmp_path / "relay",
        extra_env={
            "SPRECHSTUNDE_TURN_URLS": coturn.turn_url,
            "SPRECHSTUNDE_TURN_SECRET": coturn.secret,
            "SPRECHSTUNDE_ICE_TRANSPORT_POLICY": "relay",
        },
    )
    try:
        server.start()
        _create_host(server.cli)
        yield server
    finally:
        server.stop()


def test_the_same_consultation_relayed_through_turn_only(chromium, coturn, relay_server):
    room = open_room(relay_server.base_url, EMAIL, PASSWORD)
    browsing = _watched(chromium, relay_server.base_url)
    try:
        advisor, citizen = meet(browsing, room)
        # Relay only: no host or server-reflexive candidate was ever gathered or used.
        assert citizen.evaluate(CANDIDATE_TYPES) == ["relay"]
        assert advisor.evaluate(CANDIDATE_TYPES) == ["relay"]
        assert coturn.logged("ALLOCATE")
        remove(advisor, citizen)
    finally:
        _check_watched(browsing)


# The person refuses the browser's request for camera and microphone.
REFUSE_MEDIA = """
if (navigator.mediaDevices) {
  navigator.mediaDevices.getUserMedia = () =>
    Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
}
"""


def test_a_refused_camera_is_explained_and_joining_stays_possible(browsing, site, demo_logins):
    login = demo_logins["advisor"]
    room = open_room(site.base_url, login.email, login.password)
    context = browsing.context(lang="en")
    context.add_init_script(REFUSE_MEDIA)
    page = context.new_page()
    page.goto(room["guest_url"])

    expect(page.locator("#alert")).to_have_text(
        "Your browser does not allow this page to use the camera and microphone. Allow access "
        "in the address bar (the camera symbol) and reload the page."
    )
    expect(page.locator("#status")).to_have_text(
        "You can join without camera and microphone: the others will not see or hear you, "
        "but you can use the chat."
    )
    expect(page.locator("#preview-off")).to_have_text("No camera picture")
    expect(page.get_by_role("button", name="Join")).to_be_enabled()
    assert violations(page) == []


def test_a_browser_without_webrtc_is_told_so_and_offered_no_join(browsing, site, demo_logins):
    login = demo_logins["advisor"]
    room = open_room(site.base_url, login.email, login.password)
    context = browsing.context(lang="de")
    # An old or locked-down browser: no peer connections at all.
    context.add_init_script("delete window.RTCPeerConnection;")
    page = context.new_page()
    page.goto(room["guest_url"])

    expect(page.locator("#alert")).to_contain_text("Mit diesem Browser sind keine Videogespräche")
    expect(page.locator("#prejoin")).to_be_hidden()
    assert violations(page) == []


def test_a_pressed_toggle_is_not_drawn_struck_through(browsing, site, demo_logins):
    login = demo_logins["advisor"]
    room = open_room(site.base_url, login.email, login.password)
    page = browsing.context(lang="en").new_page()
    page.goto(room["guest_url"])
    expect(page.locator("#status")).to_have_text("Camera and microphone are ready. You can join.")

    # Pressed is "muted" or "sharing": on, not off. The style sheet decides, so read it for
    # the toggles as they are drawn once pressed.
    decorations = page.evaluate(
        """() => [...document.querySelectorAll(".controls button[aria-pressed]")].map((b) => {
            b.setAttribute("aria-pressed", "true");
            return getComputedStyle(b).textDecorationLine;
        })"""
    )
    assert decorations == ["none", "none", "none"]


HOTLINE = "+49 391 540-4711"


@pytest.fixture
def relay_server_without_turn(tmp_path: Path) -> Iterator[Server]:
    """Relay only and no TURN server: ICE has no candidate to try, no media can flow."""
    server = Server(
        f"sqlite:///{tmp_path / 'noturn.db'}",
        tmp_path / "noturn",
        extra_env={
            "SPRECHSTUNDE_ICE_TRANSPORT_POLICY": "relay",
            "SPRECHSTUNDE_HOTLINE_PHONE": HOTLINE,
        },
    )
    try:
        server.start()
        _create_host(server.cli)
        yield server
    finally:
        server.stop()


def test_a_call_without_media_is_explained_on_both_sides(chromium, relay_server_without_turn):
    server = relay_server_without_turn
    room = open_room(server.base_url, EMAIL, PASSWORD)
    browsing = _watched(chromium, server.base_url)
    try:
        advisor_context = browsing.context(lang="de")
        advisor_context.add_cookies(
            [{"name": "staff_session", "value": room["token"], "url": browsing.base_url}]
        )
        advisor = advisor_context.new_page()
        advisor.goto(f"/staff/raeume/{room['room_id']}")
        advisor.get_by_role("button", name="Teilnehmen").click()
        advisor.wait_for_selector("#call:not([hidden])")
        citizen = browsing.context(lang="en").new_page()
        citizen.goto(room["guest_url"])
        citizen.get_by_label("Your name as shown to the advisor").fill("Erika")
        citizen.get_by_role("button", name="Join").click()
        citizen.wait_for_selector("#waiting:not([hidden])")
        advisor.get_by_role("button", name="Erika hereinlassen").click()
        citizen.wait_for_selector("#call:not([hidden])")

        # Within seconds (the pages give a link 15 s), not minutes: both sides are told.
        citizen_help = citizen.get_by_role("alert").filter(has_text="No picture or sound")
        expect(citizen_help).to_have_text(
            f"No picture or sound gets through between you and {ADVISOR}. The network probably"
            f" blocks video calls. You can switch to a phone call instead: call the hotline at"
            f" {HOTLINE}.",
            timeout=25_000,
        )
        expect(advisor.get_by_role("alert").filter(has_text="Erika")).to_have_text(
            "Zwischen Ihnen und Erika kommen weder Bild noch Ton an. Wahrscheinlich sperrt das"
            " Netzwerk Videogespräche. Erika hat keine Videoverbindung. Bitte rufen Sie Erika"
            " stattdessen an.",
            timeout=25_000,
        )
        # "You are in the call" no longer stands alone over the black tile.
        expect(citizen.locator("#status")).to_have_text("The call has no picture or sound.")
        help_box = citizen.locator("#call-help")
        expect(help_box.get_by_role("link", name="Test your connection")).to_have_attribute(
            "href", "/verbindungstest"
        )
        # "Try again" is the first stop after the call's heading, and works from the keyboard.
        citizen.locator("#call-heading").focus()
        citizen.keyboard.press("Tab")
        retry = help_box.get_by_role("button", name="Try again")
        expect(retry).to_be_focused()
        citizen.keyboard.press("Enter")
        expect(citizen.locator("#status")).to_have_text(
            "Trying again to connect picture and sound …"
        )
        assert violations(citizen) == []
        assert violations(advisor) == []
    finally:
        _check_watched(browsing)
