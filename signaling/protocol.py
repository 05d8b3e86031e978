"""The signaling protocol, version 1: JSON text frames, one message per frame.

Client messages are validated here (pydantic, strict types, size caps); server messages are
plain dicts built by the rules in `signaling.core`. `docs/signaling.md` describes both, with a
sequence diagram.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

VERSION = 1
MAX_SDP = 60_000
PeerId = Annotated[str, Field(min_length=1, max_length=64)]
# A server message, as it goes out as JSON.
ServerMessage = dict[str, Any]


def too_big(frame: str | bytes, limit: int) -> bool:
    """Over `limit` bytes, as `max_message_bytes` tells the client: a text frame as UTF-8."""
    if isinstance(frame, bytes) or 4 * len(frame) <= limit:
        # A character is at most 4 bytes: most frames need no encoding to be measured.
        return len(frame) > limit
    return len(frame.encode("utf-8", "surrogatepass")) > limit


class CloseCode(IntEnum):
    """WebSocket close codes: 1000 after `leave`, else the application range (4000-4999).
    The close reason is the lower-case name, for the page to look up its message."""

    NORMAL = 1000
    TRY_AGAIN_LATER = 1013
    PROTOCOL_ERROR = 4000
    TICKET_INVALID = 4001
    TICKET_EXPIRED = 4002
    TICKET_REVOKED = 4003
    ROOM_NOT_OPEN = 4004
    ROOM_CLOSED = 4005
    REPLACED = 4006
    DENIED = 4007
    HEARTBEAT_TIMEOUT = 4008
    MESSAGE_TOO_BIG = 4009
    ROOM_FULL = 4010
    RATE_LIMITED = 4011
    TOO_SLOW = 4012
    REMOVED = 4013
    ENDED = 4014
    SHUTTING_DOWN = 4015

    @property
    def reason(self) -> str:
        return self.name.lower()


class _Message(BaseModel):
    # Strict: "1" is not 1 and "true" is not true. Unknown fields are ignored, so a newer
    # client stays understood by an older server.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Auth(_Message):
    type: Literal["auth"]
    v: Literal[1] = 1
    ticket: str = Field(min_length=1, max_length=4096)
    # Peers that cannot roll back a local offer (aiortc) are never the polite one.
    can_rollback: bool = True
    # The resume key of `welcome` or `admitted`: back inside without the host's admission.
    resume: str | None = Field(default=None, max_length=128)


class Offer(_Message):
    type: Literal["offer"]
    to: PeerId
    sdp: str = Field(min_length=1, max_length=MAX_SDP)


class Answer(_Message):
    type: Literal["answer"]
    to: PeerId
    sdp: str = Field(min_length=1, max_length=MAX_SDP)


class IceCandidate(_Message):
    candidate: str = Field(max_length=1000)
    sdpMid: str | None = Field(default=None, max_length=64)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)
    usernameFragment: str | None = Field(default=None, max_length=256)


class Candidate(_Message):
    type: Literal["candidate"]
    to: PeerId
    # None: the end of this peer's candidates.
    candidate: IceCandidate | None


class MediaFailed(_Message):
    """No picture or sound flows between the sender and `to` (ICE failed, or no connection
    after a while): relayed like a candidate, so that `to` shows the same help even if it has
    not noticed yet."""

    type: Literal["media-failed"]
    to: PeerId


class Media(_Message):
    type: Literal["media"]
    audio: bool
    video: bool
    screen: bool = False


class Chat(_Message):
    type: Literal["chat"]
    text: str = Field(min_length=1, max_length=2000)


class Typing(_Message):
    """Real-time text (EN 301 549 clause 6): the draft as it stands, sent while typing; empty
    once the draft is cleared. The `chat` that commits it follows."""

    type: Literal["typing"]
    text: str = Field(max_length=2000)


class Doc(_Message):
    """The documents panel of a booking's room, kept in step: a document opened or closed, a
    page turned, the pointer placed at a relative position of the page (0..1 from the top
    left). Ids and pages are only numbers: the page images come over HTTP, where access is
    checked."""

    type: Literal["doc"]
    action: Literal["open", "page", "pointer", "close"]
    document: int = Field(ge=1, le=2**31 - 1)
    page: int = Field(default=1, ge=1, le=10_000)
    x: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    y: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _pointer_has_position(self) -> Doc:
        if (self.action == "pointer") != (self.x is not None and self.y is not None):
            raise ValueError("x and y belong to a pointer, and only to one")
        return self


class Ping(_Message):
    type: Literal["ping"]


class Leave(_Message):
    type: Literal["leave"]


class Admit(_Message):
    type: Literal["admit"]
    id: PeerId


class Deny(_Message):
    type: Literal["deny"]
    id: PeerId


class Remove(_Message):
    type: Literal["remove"]
    id: PeerId


class End(_Message):
    type: Literal["end"]


ClientMessage = Annotated[
    Auth
    | Offer
    | Answer
    | Candidate
    | MediaFailed
    | Media
    | Chat
    | Typing
    | Doc
    | Ping
    | Leave
    | Admit
    | Deny
    | Remove
    | End,
    Field(discriminator="type"),
]
# A union is no `type` to mypy, which does not know type forms (PEP 747) yet.
_client_message: TypeAdapter[ClientMessage] = TypeAdapter(cast(Any, ClientMessage))


class InvalidMessage(ValueError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse(text: str | bytes) -> ClientMessage:
    """One client message, or `InvalidMessage` saying what is wrong with it."""
    try:
        return _client_message.validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise InvalidMessage(f"{where}: {first['msg']}"[:200]) from None


def error(code: str, message: str, **extra: object) -> ServerMessage:
    return {"type": "error", "code": code, "message": message, **extra}
