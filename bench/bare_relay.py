"""A bare WebSocket relay written with the `websockets` library: the floor that
`bench/signaling_relay.py` compares our signaling server with.

    python -m bench.bare_relay --port P

A client's first message is `{"room": r, "id": i}`, answered with `{"type": "welcome"}`. Then
a message with `"to"` is parsed, re-addressed (`"to"` removed, `"from"` added), serialised and
sent to that id in the same room; `{"type": "ping"}` is answered with `{"type": "pong"}`;
anything else is ignored. No authentication, validation, rate limits or per-client outboxes:
only the JSON parse and dump that any relay has to do. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

PONG = '{"type":"pong"}'
WELCOME = '{"type":"welcome"}'


class Relay:
    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, ServerConnection]] = {}

    async def handle(self, ws: ServerConnection) -> None:
        try:
            hello = json.loads(await ws.recv())
            room, me = str(hello["room"]), str(hello["id"])
        except (ConnectionClosed, ValueError, KeyError, TypeError):
            return
        members = self.rooms.setdefault(room, {})
        members[me] = ws
        try:
            await ws.send(WELCOME)
            async for text in ws:
                message = json.loads(text)
                to = message.pop("to", None)
                if to is not None:
                    target = members.get(to)
                    if target is not None:
                        message["from"] = me
                        with contextlib.suppress(ConnectionClosed):
                            await target.send(json.dumps(message, separators=(",", ":")))
                elif message.get("type") == "ping":
                    await ws.send(PONG)
        except (ConnectionClosed, ValueError, AttributeError):
            pass  # gone, or not a JSON object: this relay just drops the client
        finally:
            if members.get(me) is ws:
                del members[me]
            if not members:
                self.rooms.pop(room, None)


async def run(port: int) -> None:
    relay = Relay()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # As `sprechstunde serve` runs uvicorn's WebSocket protocol: no permessage-deflate, a
    # ping every 20 s.
    async with serve(
        relay.handle, "127.0.0.1", port, ping_interval=20, ping_timeout=20, compression=None
    ):
        print(f"bare relay listening on 127.0.0.1:{port}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_relay", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop; uvloop by default, as `sprechstunde serve` (uvicorn) uses",
    )
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(run(args.port))
    else:
        asyncio.run(run(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
