"""The rooms side of signaling: checking tickets, ending rooms, ICE servers per participant.

`RoomAccess` works on the database and is synchronous; the signaling server is not, so its
calls run in worker threads and never stall the other rooms of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio.to_thread

from rooms.access import Pass, RoomAccess
from rooms.ice import IceServers


class Gate:
    def __init__(self, access: RoomAccess, ice: IceServers, clock: Callable[[], datetime]) -> None:
        self._access = access
        self._ice = ice
        self.clock = clock

    async def verify(self, ticket: str) -> Pass:
        return await anyio.to_thread.run_sync(self._access.verify, ticket)

    async def end(self, room_id: str) -> None:
        await anyio.to_thread.run_sync(self._access.end, room_id)

    def ice_servers(self, holder: Pass) -> list[dict[str, Any]]:
        # An opaque participant name for the TURN server's logs: no person's name.
        participant = f"{holder.room_id}.{holder.participant_id}"
        return [server.as_dict() for server in self._ice.for_participant(participant)]

    @property
    def max_participants(self) -> int:
        return self._access.config.max_participants
