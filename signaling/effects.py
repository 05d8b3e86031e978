"""What the signaling rules (`signaling.core`) ask the hub to do, in the order given.

    Send, Close      on a local connection, at once: its outbox takes it
    Publish          an event on the room's channel, for every process
    Join             the bus adds the member; its answer goes to `Core.joined`
    TakeSeat         seat the connection in its room here, the room's channel subscribed
    Greet, LetIn     the room's members, to `Core.welcome` or `Core.let_in`
    Admit            the bus lets a member in; its answer goes to `Core.admission`
    Expel            the room's members, to `Core.expel`
    UpdateMedia, Touch, Forget, Revoke     changes of the bus
    Share            the room's shared document view, kept by the bus
    EndRoom          the room ends for good

A connection that never got a seat is closed with a `Refusal` instead.

The effects are not frozen: one is made for every relayed message, and a frozen dataclass takes
more than twice as long to make.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaling.bus import Member
from signaling.events import Event
from signaling.protocol import CloseCode, ServerMessage


@dataclass(frozen=True, slots=True)
class Refusal:
    """How to close a connection that never got a seat."""

    code: CloseCode
    reason: str


@dataclass(slots=True)
class Send:
    conn: str
    message: ServerMessage


@dataclass(slots=True)
class Close:
    """Close after what is queued for the connection has gone out."""

    conn: str
    code: CloseCode


@dataclass(slots=True)
class Publish:
    event: Event


@dataclass(slots=True)
class Join:
    """Add the member to the room within the participant limit, dropping members not seen
    since `stale_before`; the answer goes to `Core.joined`."""

    member: Member
    stale_before: float


@dataclass(slots=True)
class TakeSeat:
    """Seat the connection in its room here; listen to the room's channel before going on."""

    conn: str


@dataclass(slots=True)
class Greet:
    """The room's members, and the connection's ICE servers, to `Core.welcome`."""

    conn: str


@dataclass(slots=True)
class LetIn:
    """The room's members, and the connection's ICE servers, to `Core.let_in`."""

    conn: str


@dataclass(slots=True)
class Admit:
    """Move a waiting member inside within the participant limit; to `Core.admission`."""

    id: str
    by: str


@dataclass(slots=True)
class Expel:
    """The room's members to `Core.expel`."""

    id: str
    code: CloseCode
    by: str


@dataclass(slots=True)
class UpdateMedia:
    id: str
    conn: str
    media: dict[str, bool]


@dataclass(slots=True)
class Touch:
    """Refresh the member's `seen` (in the background: a failure only waits for the next)."""

    id: str
    conn: str
    seen: float


@dataclass(slots=True)
class Forget:
    """Forget the admission: the participant's next connection waits again."""

    id: str


@dataclass(slots=True)
class Revoke:
    ticket: str
    until: float


@dataclass(slots=True)
class Share:
    """Remember the room's shared document view (None: no document open) for whoever comes
    in later."""

    view: ServerMessage | None


@dataclass(slots=True)
class EndRoom:
    """End the room for good: no more tickets, and none issued before lets anyone in."""


Effect = (
    Send
    | Close
    | Publish
    | Join
    | TakeSeat
    | Greet
    | LetIn
    | Admit
    | Expel
    | UpdateMedia
    | Touch
    | Forget
    | Revoke
    | Share
    | EndRoom
)
