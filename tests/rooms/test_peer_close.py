"""A close cancelled while aiortc closes the connection itself leaves aiortc's close whole
(rooms/peer_close.py)."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection

from rooms.peer_close import close_peer


async def _closing_twice(close) -> BaseException | None:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    pc.createDataChannel("chat")
    await pc.setLocalDescription(await pc.createOffer())
    # As aiortc does once the transports have closed: a close of its own, in a task.
    own = asyncio.ensure_future(pc.close())
    await asyncio.sleep(0)
    assert not own.done()
    ours = asyncio.ensure_future(close(pc))
    await asyncio.sleep(0)
    ours.cancel()
    try:
        await own
    except Exception as exc:  # what asyncio would log as never retrieved
        return exc
    finally:
        await asyncio.gather(ours, return_exceptions=True)
    assert pc.connectionState == "closed"
    return None


def test_a_cancelled_close_leaves_aiortcs_own_close_whole() -> None:
    assert asyncio.run(_closing_twice(close_peer)) is None


def test_without_it_aiortcs_own_close_fails() -> None:
    """The failure that close_peer prevents, so that this test notices if aiortc fixes it."""

    async def plain(pc: RTCPeerConnection) -> None:
        await pc.close()

    assert isinstance(asyncio.run(_closing_twice(plain)), asyncio.InvalidStateError)
