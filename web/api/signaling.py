"""The signaling WebSocket. The protocol is in `signaling/` and docs/signaling.md; this only
adapts Starlette's WebSocket to the hub."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from signaling.hub import Hub
from web.deps import signaling_hub

router = APIRouter()


class StarletteTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        return message.get("text") or message.get("bytes") or ""

    async def send(self, text: str) -> None:
        await self._websocket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason)


@router.websocket("/ws/signaling")
async def signaling(websocket: WebSocket) -> None:
    hub: Hub = signaling_hub(websocket)
    await websocket.accept()
    await hub.serve(StarletteTransport(websocket))
