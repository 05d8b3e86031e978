"""The sign language page and its administration: an admin uploads a topic's video (checked by
its bytes, under the size limit) with its WebVTT captions; the public page shows it with a
German captions track, and both files are served from our origin under names of our own."""

from __future__ import annotations

import io
import re
from fractions import Fraction
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.web.pages.test_staff_login import csrf_token, field_error, staff_client
from web.settings import Settings
from web.sign_videos import TOPICS

CAPTIONS = b"WEBVTT\n\n00:00.000 --> 00:01.000\nWillkommen bei der Sprechstunde.\n"


def generated_video(container_format: str = "webm", codec: str = "libvpx") -> bytes:
    """A real, playable video of half a second: 12 frames of 64 x 48 pixels."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 24)
        for index in range(12):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([index * 20 % 256]) * plane.buffer_size)
            frame.pts = index
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "media_dir": tmp_path / "media",
            "media_max_bytes": 32 * 1024,
            # Smaller than a video may be: uploads have a limit of their own.
            "max_body_bytes": 16 * 1024,
        }
    )


@pytest.fixture
def admin(app, world) -> TestClient:
    return staff_client(app, "admin@example.org")


def upload(
    client: TestClient,
    topic: str,
    video: bytes,
    captions: bytes = CAPTIONS,
    video_name: str = "clip.webm",
):
    files = {
        f"{topic}-video": (video_name, video, "video/webm"),
        f"{topic}-captions": ("clip.vtt", captions, "text/vtt"),
    }
    return client.post(
        f"/staff/medien/{topic}",
        data={"csrf_token": csrf_token(client)},
        files=files,
        follow_redirects=False,
    )


def test_an_uploaded_video_is_shown_with_german_captions_and_served(admin, client, settings):
    video = generated_video()

    response = upload(admin, "offer", video)

    assert response.status_code == 303
    assert response.headers["location"] == "/staff/medien?gespeichert=offer"
    page = client.get("/gebaerdensprache").text
    source = re.search(r'<source src="(/gebaerdensprache/medien/offer-[0-9a-f]{16}\.webm)"', page)
    track = re.search(
        r'<track kind="captions" srclang="de" label="Deutsch" '
        r'src="(/gebaerdensprache/medien/offer-[0-9a-f]{16}\.vtt)" default>',
        page,
    )
    assert source
    assert track
    served = client.get(source[1])
    assert served.status_code == 200
    assert served.headers["content-type"] == "video/webm"
    assert served.content == video
    assert "immutable" in served.headers["cache-control"]  # a new upload gets a new name
    captions = client.get(track[1])
    assert captions.headers["content-type"].startswith("text/vtt")
    assert captions.content == CAPTIONS


def test_an_mp4_video_is_accepted_by_its_bytes(admin, client):
    video = generated_video("mp4", "mpeg4")

    # The name and the declared type say WebM; the bytes say MP4, and they decide.
    assert upload(admin, "navigation", video, video_name="clip.webm").status_code == 303

    page = client.get("/gebaerdensprache").text
    assert re.search(
        r'src="/gebaerdensprache/medien/navigation-[0-9a-f]{16}\.mp4" type="video/mp4"', page
    )


def test_a_file_that_only_claims_to_be_a_video_is_refused(admin, settings):
    response = upload(admin, "offer", b"<html><script>alert(1)</script></html>" * 10)

    assert response.status_code == 422
    assert field_error(response.text, "offer-video") == (
        "Bitte wählen Sie ein Video im Format MP4 oder WebM aus."
    )
    assert not settings.media_dir.exists() or not any(settings.media_dir.iterdir())


def test_a_video_over_the_size_limit_is_refused(admin):
    too_big = generated_video()[:64] + bytes(32 * 1024)

    response = upload(admin, "offer", too_big)

    assert response.status_code == 422
    assert field_error(response.text, "offer-video") == (
        "Bitte wählen Sie ein Video mit höchstens 32 KB aus."
    )


@pytest.mark.parametrize(
    "captions",
    [b"", b"00:00.000 --> 00:01.000\nText\n", b"WEBVTT\n\nno cue here\n", b"WEBVTT\n\xff\xfe"],
    ids=["empty", "no-signature", "no-cue", "not-utf8"],
)
def test_captions_that_are_not_webvtt_are_refused(admin, client, captions):
    response = upload(admin, "accessibility", generated_video(), captions)

    assert response.status_code == 422
    assert field_error(response.text, "accessibility-captions") == (
        "Bitte wählen Sie eine Untertitel-Datei im Format WebVTT (.vtt) aus."
    )
    assert "<video" not in client.get("/gebaerdensprache").text


def test_a_new_upload_replaces_the_topics_files(admin, client, settings):
    upload(admin, "offer", generated_video())
    first = sorted(path.name for path in settings.media_dir.iterdir())

    upload(admin, "offer", generated_video())

    second = sorted(path.name for path in settings.media_dir.iterdir())
    assert len(second) == 2
    assert not set(first) & set(second)
    assert client.get(f"/gebaerdensprache/medien/{first[0]}").status_code == 404


@pytest.mark.parametrize(
    "name", ["..%2Fsettings.py", "offer-0123456789abcdef.html", "other-0123456789abcdef.vtt"]
)
def test_only_our_own_file_names_are_served(client, name):
    assert client.get(f"/gebaerdensprache/medien/{name}").status_code == 404


def test_the_admins_navigation_leads_to_the_page_and_marks_only_it(admin):
    page = admin.get("/staff/admin").text
    assert 'href="/staff/medien"' in page

    page = admin.get("/staff/medien").text

    assert page.count('aria-current="page"') == 1
    assert 'href="/staff/medien" aria-current="page"' in page


@pytest.mark.parametrize("role", [Role.ADVISOR, Role.HOTLINE])
def test_only_admins_may_upload(app, world, role):
    world.advisor([], email="staff@example.org", role=role)
    staff = staff_client(app, "staff@example.org")

    assert 'href="/staff/medien"' not in staff.get("/staff/agenda").text
    assert staff.get("/staff/medien").status_code == 403
    assert upload(staff, "offer", generated_video()).status_code == 403


def test_without_videos_the_page_says_so_for_each_topic(client):
    page = client.get("/gebaerdensprache", headers={"Accept-Language": "en"}).text

    assert "<video" not in page
    assert page.count("This video is not available yet.") == len(TOPICS)


def test_a_video_larger_than_other_requests_may_be_goes_through(admin, settings):
    video = generated_video() + bytes(24 * 1024)

    assert settings.max_body_bytes < len(video) < settings.media_max_bytes
    assert upload(admin, "offer", video).status_code == 303
    assert admin.post("/staff/login", content=bytes(len(video))).status_code == 413
