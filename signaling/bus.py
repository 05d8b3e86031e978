"""The room bus: who is in which room, and the events between the server processes.

Each signaling process keeps only its own connections. What all processes must agree on —
the members of a room, who was admitted, which tickets were withdrawn — lives in the bus,
together with a publish/subscribe channel per room for the events of `signaling.events`.
`InMemoryBus` serves one process (the embedded default); `signaling.redis_bus.RedisBus` serves
several, through Redis.

Every change of a member is conditional on its connection id (`conn`), so a connection that
was replaced by a newer one of the same participant cannot remove or change the newer one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from signaling.events import Event

Deliver = Callable[[Event], None]


class Presence(StrEnum):
    WAITING = "waiting"
    INSIDE = "inside"


class Admission(StrEnum):
    ADMITTED = "admitted"
    FULL = "full"
    ABSENT = "absent"


@dataclass(slots=True)
class Member:
    id: str
    name: str
    role: str
    state: Presence
    conn: str
    ticket: str
    can_rollback: bool = True
    media: dict[str, bool] = field(default_factory=dict)
    # Wall-clock seconds of the last sign of life; members of a crashed process go stale.
    seen: float = 0.0

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "media": self.media}

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | bytes) -> Member:
        data = json.loads(text)
        data["state"] = Presence(data["state"])
        return cls(**data)


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, room: str, deliver: Deliver) -> None:
        """Deliver every event published to `room` (by any process) to `deliver`."""

    async def unsubscribe(self, room: str) -> None: ...

    async def publish(self, room: str, event: Event) -> None: ...

    async def join(
        self, room: str, member: Member, limit: int, stale_before: float
    ) -> tuple[bool, Member | None]:
        """Add or replace the member with `member.id`. Refused (False) when it would be
        inside and `limit` others are inside already. Returns the member it replaced, and
        drops members not seen since `stale_before`."""

    async def leave(self, room: str, member_id: str, conn: str) -> Member | None:
        """Remove the member if `conn` is still its connection; the removed member."""

    async def admit(self, room: str, member_id: str, limit: int) -> Admission:
        """Move a waiting member inside, and remember the admission for its reconnects."""

    async def forget(self, room: str, member_id: str) -> None:
        """Forget an admission: the next connection of this participant waits again."""

    async def is_admitted(self, room: str, member_id: str) -> bool: ...

    async def update(self, room: str, member_id: str, conn: str, **changes: Any) -> bool: ...

    async def members(self, room: str) -> list[Member]: ...

    async def revoke(self, room: str, ticket: str, until: float) -> None:
        """Refuse the ticket with this id until the wall-clock time `until`."""

    async def is_revoked(self, room: str, ticket: str) -> bool: ...


class InMemoryBus:
    """The bus of one process: plain dictionaries, events delivered synchronously."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._members: dict[str, dict[str, Member]] = {}
        self._admitted: dict[str, set[str]] = {}
        self._revoked: dict[str, dict[str, float]] = {}
        self._subscribers: dict[str, Deliver] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def subscribe(self, room: str, deliver: Deliver) -> None:
        self._subscribers[room] = deliver

    async def unsubscribe(self, room: str) -> None:
        self._subscribers.pop(room, None)

    async def publish(self, room: str, event: Event) -> None:
        deliver = self._subscribers.get(room)
        if deliver is not None:
            deliver(event)

    async def join(
        self, room: str, member: Member, limit: int, stale_before: float
    ) -> tuple[bool, Member | None]:
        members = self._members.setdefault(room, {})
        for stale in [m.id for m in members.values() if m.seen < stale_before]:
            del members[stale]
        previous = members.get(member.id)
        if member.state is Presence.INSIDE:
            inside = sum(
                1 for m in members.values() if m.state is Presence.INSIDE and m.id != member.id
            )
            if inside >= limit:
                return False, previous
        members[member.id] = member
        return True, previous

    async def leave(self, room: str, member_id: str, conn: str) -> Member | None:
        members = self._members.get(room, {})
        member = members.get(member_id)
        if member is None or member.conn != conn:
            return None
        del members[member_id]
        if not members:
            # An empty room keeps nothing but its withdrawn tickets, which expire.
            self._members.pop(room, None)
            self._admitted.pop(room, None)
        return member

    async def admit(self, room: str, member_id: str, limit: int) -> Admission:
        members = self._members.get(room, {})
        member = members.get(member_id)
        if member is None:
            return Admission.ABSENT
        if member.state is not Presence.INSIDE:
            if sum(1 for m in members.values() if m.state is Presence.INSIDE) >= limit:
                return Admission.FULL
            member.state = Presence.INSIDE
        self._admitted.setdefault(room, set()).add(member_id)
        return Admission.ADMITTED

    async def forget(self, room: str, member_id: str) -> None:
        self._admitted.get(room, set()).discard(member_id)

    async def is_admitted(self, room: str, member_id: str) -> bool:
        return member_id in self._admitted.get(room, set())

    async def update(self, room: str, member_id: str, conn: str, **changes: Any) -> bool:
        member = self._members.get(room, {}).get(member_id)
        if member is None or member.conn != conn:
            return False
        for name, value in changes.items():
            setattr(member, name, value)
        return True

    async def members(self, room: str) -> list[Member]:
        return list(self._members.get(room, {}).values())

    async def revoke(self, room: str, ticket: str, until: float) -> None:
        revoked = self._revoked.setdefault(room, {})
        now = self._clock()
        for old in [t for t, expiry in revoked.items() if expiry <= now]:
            del revoked[old]
        revoked[ticket] = until

    async def is_revoked(self, room: str, ticket: str) -> bool:
        return self._revoked.get(room, {}).get(ticket, 0.0) > self._clock()
