"""What the signaling rules (`signaling.core`) work on: a `Seat` per connection of this process,
and the `Room` of the seats of one room here. The hub holds them; the rules change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rooms.access import Pass, RoomRole
from signaling.bus import Presence
from signaling.protocol import CloseCode


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(eq=False, slots=True)
class Seat:
    """One connection of a participant, as the rules see it."""

    holder: Pass
    conn: str
    can_rollback: bool
    presence: Presence
    bucket: TokenBucket
    # Monotonic seconds: the last frame from the client, and the last refresh of the member's
    # `seen` in the bus.
    last_heard: float
    last_touch: float
    strikes: int = 0
    media: dict[str, bool] = field(default_factory=dict)
    # Set by the hub as the connection closes, whether on a `Close` or because it failed.
    closing: CloseCode | None = None
    # The key that lets this participant's next connection back inside without the host; only
    # a connection let in (or back in) holds it.
    resume: str | None = None
    # Waiting beside the participant's connection inside, to replace it once a host admits it.
    replacing: bool = False

    @property
    def id(self) -> str:
        return self.holder.participant_id

    @property
    def room(self) -> str:
        return self.holder.room_id

    @property
    def is_host(self) -> bool:
        return self.holder.role is RoomRole.HOST

    @property
    def inside(self) -> bool:
        return self.presence is Presence.INSIDE and self.closing is None


@dataclass(eq=False, slots=True)
class Room:
    """The seats of one room on this process: the current connection of each participant, and
    the replacements waiting beside participants inside. A replaced connection leaves it at
    once, though it stays open until its `Kick` arrives."""

    id: str
    seats: dict[str, Seat] = field(default_factory=dict)
    replacements: dict[str, Seat] = field(default_factory=dict)

    def take(self, seat: Seat) -> None:
        (self.replacements if seat.replacing else self.seats)[seat.id] = seat

    def promote(self, seat: Seat) -> None:
        """The replacement becomes the participant's current connection."""
        if self.replacements.get(seat.id) is seat:
            del self.replacements[seat.id]
        seat.replacing = False
        self.seats[seat.id] = seat

    def vacate(self, seat: Seat) -> bool:
        """Give up the seat, unless a newer connection of the participant has it already."""
        held = self.replacements if seat.replacing else self.seats
        if held.get(seat.id) is not seat:
            return False
        del held[seat.id]
        return True

    def all_seats(self) -> list[Seat]:
        return [*self.seats.values(), *self.replacements.values()]

    @property
    def empty(self) -> bool:
        return not self.seats and not self.replacements
