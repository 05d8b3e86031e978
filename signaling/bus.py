"""The room bus: who is in which room, and the events between the server processes.

Each signaling process keeps only its own connections. What all processes must agree on —
the members of a room, who was admitted, which tickets were withdrawn — lives in the bus,
together with a publish/subscribe channel per room for the events of `signaling.events`.
`InMemoryBus` serves one process (the embedded default); `signaling.redis_bus.RedisBus` serves
several, through Redis.

Every change of a member is conditional on its connection id (`conn`), so a connection that
was replaced by a newer one of the same participant cannot remove or change the newer one.

A participant has at most two members: its own, and, while it is inside, a **replacement**
waiting beside it: a connection from another device that showed no resume key (a join link
travels: anyone holding it could otherwise take the citizen's place in a running call). The
replacement waits until a host admits it, which swaps the two; if the member inside leaves
first, the replacement takes its place, still waiting. Admissions are remembered per
participant as a **resume key**, handed to the connection let in: only a connection showing it
comes back inside without the host.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from signaling.events import Event

Deliver = Callable[[Event], None]

# The key of a participant's replacement beside its own (participant ids have no `#`).
NEXT = "#next"


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
    # Waiting to replace the participant's connection inside (another device, no resume key).
    replacing: bool = False

    @property
    def key(self) -> str:
        return self.id + NEXT if self.replacing else self.id

    def public(self) -> dict[str, Any]:
        public: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "media": self.media,
        }
        if self.replacing:
            public["reconnect"] = True
        return public

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | bytes) -> Member:
        data = json.loads(text)
        data["state"] = Presence(data["state"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Seating:
    """The bus's answer to `join`."""

    accepted: bool
    # The participant's connection the new one takes the place of (to be closed), if any.
    replaced: Member | None = None
    # The new connection waits beside the participant's connection inside, as its replacement.
    beside: bool = False


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    """The bus's answer to `admit`: the connection let in (None if nothing changed, as for
    someone inside already) and the connection it replaces (a reconnect from another device)."""

    outcome: Admission
    conn: str | None = None
    replaced: str | None = None


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(
        self, room: str, deliver: Deliver, members: frozenset[str] = frozenset()
    ) -> None:
        """Deliver the events published to `room` (by any process) to `deliver`; a `Relayed`
        one for none of `members` (the participants connected here) may be left out. Called
        again whenever those change; the last call counts."""

    async def unsubscribe(self, room: str) -> None: ...

    async def publish(self, room: str, event: Event) -> None: ...

    async def join(self, room: str, member: Member, limit: int, stale_before: float) -> Seating:
        """Add or replace the member with `member.id`, dropping members not seen since
        `stale_before`. Refused when it would be inside and `limit` others are inside already.
        A waiting member never displaces one inside: it waits beside it as its replacement
        (replacing an earlier replacement)."""

    async def leave(self, room: str, member_id: str, conn: str) -> Member | None:
        """Remove the member (or its replacement) whose connection `conn` is; the removed
        member. A replacement takes the place of the member that left, still waiting."""

    async def admit(self, room: str, member_id: str, limit: int, resume: str) -> AdmissionResult:
        """Let in the participant's replacement (swapping it for the member inside) or its
        waiting member, within `limit`, and remember `resume` as its resume key."""

    async def forget(self, room: str, member_id: str) -> None:
        """Forget an admission: the next connection of this participant waits again."""

    async def restore(self, room: str, member_id: str, resume: str) -> None:
        """Remember the resume key of an admitted member again, unless the bus still has one
        (after Redis restarted with nothing)."""

    def on_reconnect(self, recover: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """`recover` runs whenever the bus had lost its subscriptions and has them back: what
        was published in between is lost, and so may be the rooms' state."""

    async def resume_key(self, room: str, member_id: str) -> str | None:
        """The key that lets the participant's next connection in without the host."""

    async def update(self, room: str, member_id: str, conn: str, **changes: Any) -> bool: ...

    async def members(self, room: str) -> list[Member]: ...

    async def revoke(self, room: str, ticket: str, until: float) -> None:
        """Refuse the ticket with this id until the wall-clock time `until`."""

    async def is_revoked(self, room: str, ticket: str) -> bool: ...

    async def share(self, room: str, view: dict[str, Any] | None) -> None:
        """Remember the room's shared document view (None: none), until the room empties."""

    async def shared(self, room: str) -> dict[str, Any] | None: ...


class InMemoryBus:
    """The bus of one process: plain dictionaries, events delivered synchronously."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._members: dict[str, dict[str, Member]] = {}
        self._resume: dict[str, dict[str, str]] = {}
        self._revoked: dict[str, dict[str, float]] = {}
        self._shared: dict[str, dict[str, Any]] = {}
        self._subscribers: dict[str, Deliver] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def subscribe(
        self, room: str, deliver: Deliver, members: frozenset[str] = frozenset()
    ) -> None:
        self._subscribers[room] = deliver

    async def unsubscribe(self, room: str) -> None:
        self._subscribers.pop(room, None)

    async def publish(self, room: str, event: Event) -> None:
        deliver = self._subscribers.get(room)
        if deliver is not None:
            deliver(event)

    async def join(self, room: str, member: Member, limit: int, stale_before: float) -> Seating:
        members = self._members.setdefault(room, {})
        for stale in [key for key, m in members.items() if m.seen < stale_before]:
            del members[stale]
        for replacement in [m for m in members.values() if m.replacing]:
            if replacement.id not in members:
                _promote(members, replacement.id)
        current = members.get(member.id)
        if member.state is Presence.WAITING and current and current.state is Presence.INSIDE:
            replacement = replace(member, replacing=True)
            previous = members.get(replacement.key)
            members[replacement.key] = replacement
            return Seating(True, previous, beside=True)
        if member.state is Presence.INSIDE:
            inside = sum(
                1 for m in members.values() if m.state is Presence.INSIDE and m.id != member.id
            )
            if inside >= limit:
                return Seating(False, current)
        members[member.id] = member
        return Seating(True, current)

    async def leave(self, room: str, member_id: str, conn: str) -> Member | None:
        members = self._members.get(room, {})
        member = _member_with(members, member_id, conn)
        if member is None:
            return None
        del members[member.key]
        _promote(members, member_id)
        if not members:
            # An empty room keeps nothing but its withdrawn tickets, which expire.
            self._members.pop(room, None)
            self._resume.pop(room, None)
            self._shared.pop(room, None)
        return member

    async def admit(self, room: str, member_id: str, limit: int, resume: str) -> AdmissionResult:
        members = self._members.get(room, {})
        member = members.get(member_id)
        if member is None:
            return AdmissionResult(Admission.ABSENT)
        replacement = members.pop(member_id + NEXT, None)
        if replacement is not None:
            members[member_id] = replace(replacement, replacing=False, state=Presence.INSIDE)
            self._resume.setdefault(room, {})[member_id] = resume
            return AdmissionResult(Admission.ADMITTED, replacement.conn, member.conn)
        if member.state is Presence.INSIDE:
            return AdmissionResult(Admission.ADMITTED)
        if sum(1 for m in members.values() if m.state is Presence.INSIDE) >= limit:
            return AdmissionResult(Admission.FULL)
        member.state = Presence.INSIDE
        self._resume.setdefault(room, {})[member_id] = resume
        return AdmissionResult(Admission.ADMITTED, member.conn)

    async def forget(self, room: str, member_id: str) -> None:
        self._resume.get(room, {}).pop(member_id, None)

    async def restore(self, room: str, member_id: str, resume: str) -> None:
        self._resume.setdefault(room, {}).setdefault(member_id, resume)

    def on_reconnect(self, recover: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Never called: this bus lives in the process and loses nothing."""

    async def resume_key(self, room: str, member_id: str) -> str | None:
        return self._resume.get(room, {}).get(member_id)

    async def update(self, room: str, member_id: str, conn: str, **changes: Any) -> bool:
        member = _member_with(self._members.get(room, {}), member_id, conn)
        if member is None:
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

    async def share(self, room: str, view: dict[str, Any] | None) -> None:
        if view is None:
            self._shared.pop(room, None)
        elif room in self._members:
            self._shared[room] = view

    async def shared(self, room: str) -> dict[str, Any] | None:
        return self._shared.get(room)


def _member_with(members: dict[str, Member], member_id: str, conn: str) -> Member | None:
    """The participant's member or replacement on the connection `conn`."""
    for key in (member_id, member_id + NEXT):
        member = members.get(key)
        if member is not None and member.conn == conn:
            return member
    return None


def _promote(members: dict[str, Member], member_id: str) -> None:
    """The participant's member is gone: its replacement, if any, takes its place, waiting."""
    replacement = members.pop(member_id + NEXT, None)
    if replacement is not None:
        members[member_id] = replace(replacement, replacing=False)
