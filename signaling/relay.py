"""What participants inside a room send each other through the server: the negotiation of
their calls (relayed to one peer), chat and drafts, and the documents panel of a booking's
room (`doc`, for everyone else inside). Rules without I/O, like `signaling.core`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rooms.access import RoomRole
from signaling import protocol
from signaling.effects import Effect, Publish, Send, Share
from signaling.events import Broadcast, Relayed
from signaling.protocol import ServerMessage
from signaling.state import Room, Seat


def refuse(seat: Seat, code: str, message: str, **extra: object) -> list[Effect]:
    return [Send(seat.conn, protocol.error(code, message, **extra))]


def relay(
    room: Room,
    seat: Seat,
    message: protocol.Offer | protocol.Answer | protocol.Candidate | protocol.MediaFailed,
) -> list[Effect]:
    if not seat.inside:
        return refuse(seat, "not_admitted", "Wait until you are let in.")
    if message.to == seat.id:
        return refuse(seat, "unknown_peer", "You cannot signal yourself.")
    relayed = message.model_dump(exclude={"to"})
    relayed["from"] = seat.id
    target = room.seats.get(message.to)
    if target is None:
        return [Publish(Relayed(message.to, relayed))]
    # Connected here, so this is its current connection: no need to go through the bus (with
    # Redis, a round trip per candidate).
    return [Send(target.conn, relayed)] if target.inside else []


def text(seat: Seat, message: protocol.Chat | protocol.Typing, wall: float) -> list[Effect]:
    if not seat.inside:
        return refuse(seat, "not_admitted", "Wait until you are let in.")
    sent: ServerMessage = {
        "type": message.type,
        "from": seat.id,
        "name": seat.holder.name,
        "text": message.text,
    }
    if isinstance(message, protocol.Chat):
        # A sent message comes back to its sender too, as its confirmation.
        sent["at"] = datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")
        return [Publish(Broadcast(sent))]
    return [Publish(Broadcast(sent, skip=seat.id))]  # a draft, as it is typed: for the others


def share(seat: Seat, message: protocol.Doc) -> list[Effect]:
    """A step of the documents panel: to the others inside, and remembered by the bus as the
    room's shared view, for whoever joins or reconnects later. Extra guests (interpreters)
    may not see the documents, so they do not steer the panel either."""
    if not seat.inside:
        return refuse(seat, "not_admitted", "Wait until you are let in.")
    if seat.holder.role is RoomRole.EXTRA_GUEST:
        return refuse(seat, "forbidden", "Only the advisor and the citizen show documents.")
    view: ServerMessage = {"document": message.document, "page": message.page}
    if message.action == "pointer":
        view |= {"x": message.x, "y": message.y}
    step = {"type": "doc", "from": seat.id, "action": message.action, **view}
    return [
        Share(None if message.action == "close" else view),
        Publish(Broadcast(step, skip=seat.id)),
    ]
