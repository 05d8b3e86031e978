"""The city's videos in German Sign Language (DGS), one per topic, each with its captions:
checked by their content, stored under names of our own, served from our origin.

BITV 2.0 § 4 asks for explanations in sign language of what the site offers, how to find one's
way on it, and of the accessibility statement: those are the three topics.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from web.settings import Settings

TOPICS = ("offer", "navigation", "accessibility")
# What a video's first bytes are (ISO/IEC 14496-12 § 4.3: an MP4 starts with its `ftyp` box;
# a WebM file is EBML, RFC 8794, whose header names the document type "webm").
_EBML = b"\x1a\x45\xdf\xa3"
# The name of a stored file: nothing of the uploader's file name, so no path, no surprise type.
_STORED_NAME = re.compile(r"(?P<topic>[a-z]+)-(?P<key>[0-9a-f]{16})\.(?P<ext>mp4|webm|vtt)")
MEDIA_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "vtt": "text/vtt; charset=utf-8"}
# WebVTT (W3C) § 4.1: the file starts with "WEBVTT", then a space, a tab or a line end; a cue
# timing line is "start --> end", with hours optional.
_VTT_SIGNATURE = re.compile(r"WEBVTT(?:[ \t][^\r\n]*)?(?:\r\n|\r|\n|$)")
_TIMESTAMP = r"(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}"
_CUE_TIMING = re.compile(rf"^{_TIMESTAMP}[ \t]+-->[ \t]+{_TIMESTAMP}(?:[ \t].*)?$", re.MULTILINE)


class MediaRejected(Exception):
    """An upload that is not what it claims to be; `reason` names which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignVideo:
    topic: str
    video: str  # stored file names
    captions: str

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.video.rpartition(".")[2]]


def video_extension(head: bytes) -> str:
    """`mp4` or `webm` by the file's first bytes; MediaRejected otherwise."""
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(_EBML) and b"webm" in head[:64]:
        return "webm"
    raise MediaRejected("video_type")


def check_captions(data: bytes) -> None:
    """A WebVTT file in UTF-8 with at least one cue; MediaRejected otherwise."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise MediaRejected("captions") from None
    if not _VTT_SIGNATURE.match(text) or not _CUE_TIMING.search(text):
        raise MediaRejected("captions")


class SignVideos:
    """The stored videos in `directory`. A topic's files share one random key; the captions
    are written last, so a topic counts as present only once both are complete."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> SignVideos:
        return cls(settings.media_dir, settings.media_max_bytes)

    def get(self, topic: str) -> SignVideo | None:
        # Normally one pair; after two uploads at once, the one completed last.
        found = self.directory.glob(f"{topic}-*.vtt")
        for captions in sorted(found, key=lambda path: path.stat().st_mtime_ns, reverse=True):
            for ext in ("mp4", "webm"):
                video = captions.with_suffix(f".{ext}")
                if _STORED_NAME.fullmatch(captions.name) and video.exists():
                    return SignVideo(topic, video.name, captions.name)
        return None

    def all(self) -> dict[str, SignVideo | None]:
        return {topic: self.get(topic) for topic in TOPICS}

    def put(self, topic: str, video: bytes, captions: bytes) -> SignVideo:
        """Check and store a topic's video and captions, replacing what it had."""
        if topic not in TOPICS:
            raise MediaRejected("topic")
        if not video or len(video) > self.max_bytes:
            raise MediaRejected("video_size")
        ext = video_extension(video[:64])
        check_captions(captions)
        self.directory.mkdir(parents=True, exist_ok=True)
        old = [path for path in self.directory.glob(f"{topic}-*") if path.is_file()]
        key = secrets.token_hex(8)
        stored = SignVideo(topic, f"{topic}-{key}.{ext}", f"{topic}-{key}.vtt")
        self._write(stored.video, video)
        self._write(stored.captions, captions)
        for path in old:
            path.unlink(missing_ok=True)
        return stored

    def path(self, name: str) -> Path | None:
        """The file stored under `name`, if `name` is one of ours and exists."""
        match = _STORED_NAME.fullmatch(name)
        if match is None or match["topic"] not in TOPICS:
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def _write(self, name: str, data: bytes) -> None:
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(data)
        partial.replace(self.directory / name)
