"""Closing an aiortc peer connection without breaking aiortc's own close.

aiortc closes a connection by itself once its transports have closed. A second `close()`
meanwhile waits for the first one's future, and a caller cancelled while waiting (a timeout,
an end of session) cancels that future with it: aiortc's own close then fails with
`InvalidStateError`, which asyncio logs when the task is collected ("Task exception was never
retrieved"). Its log line formats a traceback, and on Python 3.11 that parses source with
`ast`: collected in the middle of another `ast.parse`, it broke that one.
"""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection


async def close_peer(pc: RTCPeerConnection) -> None:
    """Close `pc`; if the caller is cancelled, the close goes on and aiortc's is left whole."""
    await asyncio.shield(pc.close())
