"""The rooms' part of the retention purge (scheduler/retention.py): an ad-hoc room's title and
an invitation's label may name a person (the caller, the interpreter)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_, select

from rooms.models import Room, RoomInvite
from scheduler.retention import Cutoffs, Eraser, due_bookings


def _room_due(cutoffs: Cutoffs) -> ColumnElement[bool]:
    """A booking's room goes with the booking's data; an ad-hoc room counts from when it
    ended, or closed, or (never opened) was made."""
    return or_(
        Room.booking_id.in_(due_bookings(cutoffs)),
        and_(
            Room.booking_id.is_(None),
            func.coalesce(Room.ended_at, Room.closes_at, Room.created_at) <= cutoffs.personal,
        ),
    )


# Before the rooms, so that they are counted rather than taken along by the cascade.
ROOM_INVITES = Eraser(
    "room_invites_deleted",
    RoomInvite.id,
    lambda c: RoomInvite.room_id.in_(select(Room.id).where(_room_due(c))),
)
ROOMS = Eraser("rooms_deleted", Room.id, _room_due)

ERASERS = (ROOM_INVITES, ROOMS)
