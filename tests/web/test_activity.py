"""The count of requests being answered, which the embedded mail worker gives way to."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Receive, Scope, Send

from web.middleware import Activity, CountRequests


def test_requests_count_while_answered_and_websockets_never():
    activity = Activity()
    seen: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(activity.busy())
        if scope["path"] == "/fails":
            raise RuntimeError("the handler failed")

    counted = CountRequests(app, activity)

    async def nothing() -> dict[str, object]:
        return {}

    async def ignore(_: object) -> None:
        return None

    async def run() -> None:
        await counted({"type": "http", "path": "/"}, nothing, ignore)
        with contextlib.suppress(RuntimeError):
            await counted({"type": "http", "path": "/fails"}, nothing, ignore)
        await counted({"type": "websocket", "path": "/ws/signaling"}, nothing, ignore)

    asyncio.run(run())
    assert seen == [True, True, False]
    assert not activity.busy()  # also after a failed request


def test_the_app_hands_its_count_to_the_embedded_mail_worker(app):
    worker = app.state.container.worker
    assert worker.give_way is not None
    assert not worker.give_way()
