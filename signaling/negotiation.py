"""Who offers and who yields between two peers: MDN's "perfect negotiation" pattern, decided
by the server so that exactly one side of every pair is polite (docs/signaling.md)."""

from __future__ import annotations

from signaling.bus import Member, Presence
from signaling.protocol import ServerMessage


def polite(me_can_rollback: bool, other_can_rollback: bool, me_is_newcomer: bool) -> bool:
    """Exactly one side of a pair is polite (MDN's perfect negotiation): never a peer that
    cannot roll back (aiortc); otherwise the one that was there first."""
    if not me_can_rollback:
        return False
    if not other_can_rollback:
        return True
    return not me_is_newcomer


def participants(newcomer_can_rollback: bool, others: list[Member]) -> list[ServerMessage]:
    """Those inside, as a connection coming in meets them: it is the newcomer of every pair."""
    return [
        {**m.public(), "polite": polite(newcomer_can_rollback, m.can_rollback, True)}
        for m in others
        if m.state is Presence.INSIDE
    ]
