"""What the signaling processes tell each other about a room, over the bus.

An event is published on one room's channel and handled by every process with connections in
that room (`signaling.core.Core.deliver`):

    Relayed    an offer, answer or candidate for one participant, if it is inside
    Broadcast  a server message for those inside, or for the hosts, maybe not for its sender
    Joined     someone came inside: each of the others hears `peer-joined`, with politeness
    Admitted   a waiting connection was let in, with its resume key
    Kick       close one connection (replaced, denied, removed, invitation revoked)
    Ended      the host ended the room

In one process the objects travel as they are (`InMemoryBus`). Between processes
(`RedisBus`) they are JSON tagged with their `kind` and validated strictly on arrival, so
anything else on the channel is dropped as a whole, never half understood.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from signaling.protocol import CloseCode, ServerMessage


@dataclass(frozen=True, slots=True)
class Relayed:
    to: str
    # As the recipient gets it: the client's message with `from` instead of `to`.
    message: ServerMessage
    kind: Literal["relayed"] = "relayed"


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: ServerMessage
    # For the hosts only (knocks and departures from the waiting room), else for all inside.
    hosts: bool = False
    # Not for this participant: its own media state and drafts do not come back to it.
    skip: str | None = None
    kind: Literal["broadcast"] = "broadcast"


@dataclass(frozen=True, slots=True)
class Joined:
    id: str
    name: str
    role: str
    can_rollback: bool
    media: dict[str, bool] = field(default_factory=dict)
    kind: Literal["joined"] = "joined"

    def peer(self) -> ServerMessage:
        return {"id": self.id, "name": self.name, "role": self.role, "media": self.media}


@dataclass(frozen=True, slots=True)
class Admitted:
    id: str
    # The connection let in: a participant may have a replacement waiting beside it.
    conn: str
    resume: str
    kind: Literal["admitted"] = "admitted"


@dataclass(frozen=True, slots=True)
class Kick:
    id: str
    # The connection to close, not whichever the participant has by the time this arrives.
    conn: str
    code: CloseCode
    kind: Literal["kick"] = "kick"


@dataclass(frozen=True, slots=True)
class Ended:
    kind: Literal["ended"] = "ended"


Event = Relayed | Broadcast | Joined | Admitted | Kick | Ended

_events: TypeAdapter[Event] = TypeAdapter(
    # A union is no `type` to mypy, which does not know type forms (PEP 747) yet.
    cast(Any, Annotated[Event, Field(discriminator="kind")]),
    config=ConfigDict(strict=True),
)


class InvalidEvent(ValueError):
    """Text from a room's channel that is no event of this version."""


def encode(event: Event) -> bytes:
    return _events.dump_json(event)


def decode(text: str | bytes) -> Event:
    try:
        return _events.validate_json(text)
    except ValidationError as exc:
        raise InvalidEvent(str(exc.errors(include_url=False)[0]["msg"])) from None
