"""What can go wrong with rooms, as refinements of the booking engine's errors, so the web
layer maps them to HTTP answers (and their catalogue messages) like every other domain error.

    RoomNotOpen        (Conflict, 409)   before the room's window; `opens_at` says when
    RoomClosed         (Conflict, 409)   after the window, or ended by the host
    RoomFull           (Conflict, 409)   the maximum number of participants is inside
    InvalidOffer       (InvalidRequest, 422)  an SDP that is not a usable offer
    TooManyTests       (Busy, 503)       every connection-test session is taken
    TicketInvalid      (TokenInvalid, 401)  a forged, malformed or foreign room ticket
    TicketExpired      (TokenExpired, 401)  a room ticket past its time
    TicketRevoked      (TokenRevoked, 401)  a room ticket whose invitation was revoked

The ticket errors keep the codes of the token errors they refine; `RoomAccess.verify` raises
them, so that the signaling server knows the errors of rooms only.
"""

from __future__ import annotations

from scheduler.errors import (
    Busy,
    Conflict,
    InvalidRequest,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
)


class RoomNotOpen(Conflict):
    code = "room_not_open"


class RoomClosed(Conflict):
    code = "room_closed"


class RoomFull(Conflict):
    code = "room_full"


class InvalidOffer(InvalidRequest):
    code = "invalid_offer"


class TooManyTests(Busy):
    code = "connection_tests_busy"


class TicketInvalid(TokenInvalid):
    """A room ticket that is forged, malformed or foreign, or for a room that is gone."""


class TicketExpired(TokenExpired):
    """A room ticket past its time: the page fetches a new one."""


class TicketRevoked(TokenRevoked):
    """A room ticket whose invitation was revoked."""
