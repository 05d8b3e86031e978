"""A slot search the scheduler has just answered, answered again before FastAPI routes it.

When the slots are released, thousands of citizens search the same fortnight within a second,
and each gets the answer kept for that moment (`scheduler.slot_cache`). Routing, dependency
resolution, validation and the response class cost several times more than handing over that
answer (measured in docs/benchmarks.md, "The morning the slots are released"). This
middleware sits inside every middleware of ours, so the request id, the log event, the
metrics, the security headers and the language stay as they are; it answers only a plain
`GET` whose parameters are well-formed and whose answer is kept. Anything else (another
parameter, a malformed date, a range that is refused, nothing kept) goes on to the route,
which answers it as before, with the same checks.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from scheduler.errors import SchedulerError
from scheduler.models import Channel
from web.container import Container
from web.deps import SEARCH_CHECKED
from web.errors import domain_error
from web.protection import Protection, RateLimited

PATH = "/api/v1/services/{service_id}/slots"
_PATH = re.compile(r"/api/v1/services/([1-9][0-9]{0,17})/slots")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CHANNELS = frozenset(channel.value for channel in Channel)
_HEADERS = [(b"content-type", b"application/json")]
# A search without `end` covers a fortnight (the route's default, too).
FORTNIGHT_AFTER = timedelta(days=13)

Search = tuple[int, date, date, str | None]


def parse(path: str, query: bytes) -> Search | None:
    """The search a request asks for, or None if the route should look at it itself."""
    found = _PATH.fullmatch(path)
    if found is None:
        return None
    # As Starlette reads a query string; a name given twice or any other name goes on.
    given = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    if len(given) != query.count(b"&") + 1 or not given.keys() <= {"start", "end", "channel"}:
        return None
    first = _date(given.get("start"))
    channel = given.get("channel")
    if first is None or (channel is not None and channel not in _CHANNELS):
        return None
    try:
        last = _date(given["end"]) if "end" in given else first + FORTNIGHT_AFTER
    except OverflowError:  # near the year 9999: the route answers what it answers
        return None
    if last is None:
        return None
    return int(found[1]), first, last, channel


def _date(text: str | None) -> date | None:
    if text is None or not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class KeptSearches:
    def __init__(
        self, app: ASGIApp, container: Container, protection: Protection, route: BaseRoute
    ) -> None:
        self.app = app
        self.container = container
        self.protection = protection
        # The route it stands in for: the log event and the metrics name its pattern.
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        search = None
        if scope["type"] == "http" and scope["method"] == "GET":
            search = parse(scope["path"], scope["query_string"])
        if search is None:
            await self.app(scope, receive, send)
            return
        # In the route's order: the address's budget first, then the kept answer.
        client = scope.get("client")
        try:
            await self.protection.acheck_search(client[0] if client else "unknown")
        except RateLimited as refused:
            scope["route"] = self.route
            await (await domain_error(Request(scope), refused))(scope, receive, send)
            return
        scope.setdefault("state", {})[SEARCH_CHECKED] = True
        scheduler = self.container.scheduler
        try:
            kept = scheduler.kept_slots(*search)
        except (SchedulerError, OverflowError):  # the route refuses it, in the request's language
            kept = None
        if kept is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        body = self.container.slot_answers.body(kept, scheduler.config.timezone, scheduler.tz)
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
