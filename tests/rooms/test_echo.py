"""The connection test's echo peer, through the real HTTP endpoint and on its own.

The app runs under uvicorn on 127.0.0.1 inside the test's event loop: aiortc's peers (the
server's echo and the test's "browser") must live on the loop the handlers run on. Every packet
stays on loopback: `loopback_ice`, and no STUN server on either side. The test client is a
logged-in staff member, one of those the endpoint starts tests for (who else may:
tests/web/api/test_connection_test_access.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from ipaddress import ip_network

import av
import httpx
import pytest
import uvicorn
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from fastapi import FastAPI

from rooms.echo import EchoTests, public_address, public_candidates
from tests.conftest import PASSWORD, World
from web.app import create_app

pytestmark = [pytest.mark.usefixtures("loopback_ice"), pytest.mark.anyio, pytest.mark.timeout(60)]

URL = "/api/v1/connection-test"
SIZE = (160, 120)
RED = (81, 90, 240)  # Y, U, V: far from the grey a blank or broken frame decodes to


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiortc runs on asyncio only


@pytest.fixture
def make_app(settings, clock) -> Iterator[Callable[..., FastAPI]]:
    apps: list[FastAPI] = []

    def make(**overrides: object) -> FastAPI:
        # Loopback is the echo peer's only address here: it must be allowed into the answer.
        # With Redis the hourly counts outlive a test: budgets are tested with addresses
        # of their own.
        test_defaults = {
            "connection_test_public_addresses": ["127.0.0.1"],
            "connection_tests_per_hour": 1_000_000,
        }
        update = test_defaults | overrides
        apps.append(create_app(settings.model_copy(update=update), clock=clock))
        if len(apps) == 1:
            World(apps[0].state.container)  # the staff member `serving` logs in as
        return apps[-1]

    yield make
    for app in apps:
        app.state.container.engine.dispose()


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app under uvicorn, lifespan included, on a free port of 127.0.0.1, and a client
    logged in as the staff member of `make_app`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # a failed startup raises here
                await asyncio.sleep(0.01)
        host, port = listener.getsockname()
        base_url = f"http://{host}:{port}"
        async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10) as client:
            login = {"email": "admin@example.org", "password": PASSWORD}
            token = (await client.post("/api/v1/auth/token", json=login)).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            yield client
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        listener.close()


class RedCamera(VideoStreamTrack):
    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(*SIZE, "yuv420p")
        for plane, value in zip(frame.planes, RED, strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


def plane_means(frame: av.VideoFrame) -> tuple[float, ...]:
    means = []
    for plane in frame.reformat(format="yuv420p").planes:
        data, stride = bytes(plane), plane.line_size
        total = sum(
            sum(data[row * stride : row * stride + plane.width]) for row in range(plane.height)
        )
        means.append(total / (plane.width * plane.height))
    return tuple(means)


class Browser:
    """The citizen's side: a camera and a microphone out, whatever comes back collected."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(RedCamera())
        self.pc.addTrack(AudioStreamTrack())
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.ended = asyncio.Event()

        @self.pc.on("track")
        def _received(track: MediaStreamTrack) -> None:
            self.tracks[track.kind] = track

        @self.pc.on("connectionstatechange")
        def _changed() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.ended.set()

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: dict[str, object]) -> None:
        assert answer["type"] == "answer"
        await self.pc.setRemoteDescription(RTCSessionDescription(str(answer["sdp"]), "answer"))


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    peer = Browser()
    try:
        yield peer
    finally:
        await peer.pc.close()


async def offer_sdp() -> str:
    async with browser() as peer:
        return await peer.offer()


async def test_video_and_audio_come_back(make_app):
    app = make_app()
    async with serving(app) as client, browser() as peer:
        response = await client.post(URL, json={"type": "offer", "sdp": await peer.offer()})
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["expires_in_seconds"] == 120
        assert candidate_addresses(answer["sdp"]) == {"127.0.0.1"}
        await peer.accept(answer)
        assert set(peer.tracks) == {"audio", "video"}

        async with asyncio.timeout(15):
            frames = [await peer.tracks["video"].recv() for _ in range(10)]
            sound = [await peer.tracks["audio"].recv() for _ in range(10)]

        # Our own picture, through VP8 twice.
        means = plane_means(frames[-1])
        assert all(abs(got - sent) < 12 for got, sent in zip(means, RED, strict=True)), means
        assert (frames[-1].width, frames[-1].height) == SIZE
        assert all(isinstance(frame, av.AudioFrame) for frame in sound)

        assert (await client.delete(f"{URL}/{answer['session_id']}")).status_code == 204
        async with asyncio.timeout(10):
            await peer.ended.wait()
        assert app.state.echo.active == 0


def candidate_addresses(sdp: str) -> set[str]:
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


def without_media(sdp: str) -> str:
    return sdp.split("m=", 1)[0]


def as_answer(sdp: str) -> str:
    return sdp.replace("a=setup:actpass", "a=setup:active")


def without_codecs_in_common(sdp: str) -> str:
    return re.sub(r"(a=rtpmap:\d+ )[\w-]+", r"\1x-unknown", sdp)


def receive_only(sdp: str) -> str:
    return sdp.replace("a=sendrecv", "a=recvonly")


def broken_m_line(sdp: str) -> str:
    return re.sub(r"m=video \d+", "m=video nine", sdp)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda sdp: "hello",
        lambda sdp: "v=0\r\n",
        without_media,
        as_answer,
        without_codecs_in_common,
        receive_only,
        broken_m_line,
        lambda sdp: sdp.replace("a=ice-pwd:", "a=x-ice-pwd:"),
        lambda sdp: sdp.replace("a=fingerprint:", "a=x-fingerprint:"),
    ],
    ids=[
        "not-sdp",
        "only-version",
        "no-m-lines",
        "answer-not-offer",
        "no-common-codec",
        "receive-only",
        "broken-m-line",
        "no-ice-password",
        "no-fingerprint",
    ],
)
async def test_an_unusable_offer_is_refused_with_422(make_app, spoil):
    app = make_app()
    async with serving(app) as client:
        sdp = spoil(await offer_sdp())
        response = await client.post(
            URL, json={"type": "offer", "sdp": sdp}, headers={"Accept-Language": "en"}
        )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_offer"
    assert body["field"] == "sdp"
    assert body["detail"].startswith("The connection offer is not valid")
    assert app.state.echo.active == 0


@pytest.mark.parametrize(
    "body",
    [
        {"type": "answer", "sdp": "v=0\r\n"},
        {"type": "offer", "sdp": 42},
        {"type": "offer"},
        {"sdp": "v=0\r\n"},
        {"type": "offer", "sdp": ""},
        {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 5000},
        ["offer"],
    ],
    ids=["answer", "sdp-not-string", "no-sdp", "no-type", "empty-sdp", "too-long", "a-list"],
)
async def test_a_body_of_the_wrong_shape_is_refused_with_422(make_app, body):
    async with serving(make_app()) as client:
        response = await client.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_beyond_the_limit_the_answer_is_503_with_retry_after(make_app):
    app = make_app(connection_test_sessions=1, connection_test_seconds=60)
    async with serving(app) as client, browser() as first, browser() as second:
        taken = await client.post(URL, json={"type": "offer", "sdp": await first.offer()})
        assert taken.status_code == 201, taken.text
        sdp = await second.offer()

        refused = await client.post(URL, json={"type": "offer", "sdp": sdp})
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "connection_tests_busy"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60

        gone = await client.delete(f"{URL}/{taken.json()['session_id']}")
        assert gone.status_code == 204
        admitted = await client.post(URL, json={"type": "offer", "sdp": sdp})
        assert admitted.status_code == 201, admitted.text


async def test_delete_is_idempotent_and_ignores_unknown_sessions(make_app):
    async with serving(make_app()) as client, browser() as peer:
        answer = await client.post(URL, json={"type": "offer", "sdp": await peer.offer()})
        session = f"{URL}/{answer.json()['session_id']}"
        assert (await client.delete(session)).status_code == 204
        assert (await client.delete(session)).status_code == 204
        assert (await client.delete(f"{URL}/no-such-session")).status_code == 204


async def test_a_session_ends_after_its_time_and_the_peer_sees_it_close(make_app):
    app = make_app(connection_test_seconds=1)
    async with serving(app) as client, browser() as peer:
        sdp = await peer.offer()
        started = asyncio.get_running_loop().time()
        response = await client.post(URL, json={"type": "offer", "sdp": sdp})
        assert response.json()["expires_in_seconds"] == 1
        await peer.accept(response.json())

        async with asyncio.timeout(10):
            await peer.ended.wait()
        elapsed = asyncio.get_running_loop().time() - started
        assert 1 <= elapsed < 5
        assert peer.pc.connectionState == "closed"
        assert app.state.echo.active == 0


async def test_a_session_ends_when_the_browser_goes_away():
    echo = EchoTests(max_seconds=60)
    async with browser() as peer:
        answer = await echo.answer(await peer.offer())
        await peer.accept({"type": "answer", "sdp": answer.answer_sdp})
        async with asyncio.timeout(10):
            await peer.tracks["video"].recv()
    async with asyncio.timeout(10):
        while echo.active:
            await asyncio.sleep(0.05)


async def test_close_all_leaves_no_task_behind():
    runner = asyncio.all_tasks()  # the test runner's own
    echo = EchoTests()
    async with browser() as peer, browser() as other:
        for citizen in (peer, other):
            answer = await echo.answer(await citizen.offer())
            await citizen.accept({"type": "answer", "sdp": answer.answer_sdp})
        async with asyncio.timeout(10):
            await peer.tracks["video"].recv()
            await other.tracks["video"].recv()
        await echo.close_all()
        assert echo.active == 0
    async with asyncio.timeout(5):
        while asyncio.all_tasks() - runner:
            await asyncio.sleep(0.05)


# -- per client, and only public addresses in the answer ------------------------------------


def from_client(address: str) -> dict[str, str]:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1, as from the reverse proxy.
    return {"X-Forwarded-For": address}


def fresh_client() -> str:
    """A documentation address in a /64 of its own: with Redis, counts outlive a test."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"


async def test_one_client_runs_one_test_at_a_time(make_app):
    app = make_app(connection_test_sessions=4)
    one, other = fresh_client(), fresh_client()
    async with serving(app) as client, browser() as first, browser() as second:
        sdp = await second.offer()
        taken = await client.post(
            URL, json={"type": "offer", "sdp": await first.offer()}, headers=from_client(one)
        )
        assert taken.status_code == 201, taken.text

        refused = await client.post(
            URL, json={"type": "offer", "sdp": sdp}, headers=from_client(one)
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "connection_tests_busy"
        assert 1 <= int(refused.headers["Retry-After"]) <= 120
        assert app.state.echo.active == 1  # three places left, none of them for this client

        admitted = await client.post(
            URL, json={"type": "offer", "sdp": sdp}, headers=from_client(other)
        )
        assert admitted.status_code == 201, admitted.text


async def test_a_client_gets_its_hourly_budget_of_tests(make_app):
    app = make_app(connection_tests_per_hour=2)
    address = fresh_client()
    async with serving(app) as client:
        for _ in range(2):
            async with browser() as peer:
                body = {"type": "offer", "sdp": await peer.offer()}
                answer = await client.post(URL, json=body, headers=from_client(address))
                assert answer.status_code == 201, answer.text
                await client.delete(f"{URL}/{answer.json()['session_id']}")
        async with browser() as peer:
            body = {"type": "offer", "sdp": await peer.offer()}
            refused = await client.post(URL, json=body, headers=from_client(address))
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0


async def test_the_answer_names_no_internal_address_unless_configured(make_app):
    app = make_app(connection_test_public_addresses=[])
    async with serving(app) as client, browser() as peer:
        response = await client.post(URL, json={"type": "offer", "sdp": await peer.offer()})
        assert response.status_code == 201, response.text
        await client.delete(f"{URL}/{response.json()['session_id']}")
    sdp = response.json()["sdp"]
    assert candidate_addresses(sdp) == set()
    assert "127.0.0.1" not in sdp


INTERNAL_ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=video 5000 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 172.17.0.2",
        "a=candidate:1 1 udp 2130706431 172.17.0.2 5000 typ host",
        "a=candidate:2 1 udp 2130706431 10.20.0.7 5001 typ host",
        "a=candidate:3 1 udp 2130706431 fd00::7 5002 typ host",
        "a=candidate:4 1 udp 2130706431 84.17.1.2 5003 typ host",
        "a=candidate:5 1 udp 1694498815 84.17.9.9 6000 typ srflx raddr 172.17.0.2 rport 5000",
        "a=candidate:6 1 udp 16777215 10.9.9.9 49152 typ relay raddr 84.17.9.9 rport 6000",
        "a=end-of-candidates",
        "",
    ]
)


def test_host_candidates_of_internal_interfaces_leave_the_answer():
    kept = public_candidates(INTERNAL_ANSWER, public_address([ip_network("10.20.0.0/16")]))

    # Public and configured host addresses, the reflexive and the relayed one stay.
    assert candidate_addresses(kept) == {"10.20.0.7", "84.17.1.2", "84.17.9.9", "10.9.9.9"}
    assert "172.17.0.2 5000 typ host" not in kept
    assert "fd00::7" not in kept
    assert "c=IN IP4 172.17.0.2" not in kept  # the default address: a public one instead
    assert "c=IN IP4 10.20.0.7" in kept
    assert "a=end-of-candidates" in kept
