"""FastAPI dependencies, and the one place that reads what `create_app` keeps on `app.state`:
the container, the page renderer, the bot protection, the catalogues, the connection tests and
the signaling hub. Then the staff member behind a bearer token, the client and its limits.

Each of the app's parts comes twice: a plain function of the request (or WebSocket), for code
that is no dependency (error handlers, the helpers of pages), and an `Annotated` alias for
handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from rooms.echo import EchoTests
from scheduler.accounts import StaffIdentity
from scheduler.errors import TokenInvalid
from signaling.hub import Hub
from web.container import Container
from web.i18n import Catalogues

# web/pages/__init__.py imports no page module at import time, so that this import does not
# run into the page modules, which import this module.
from web.pages.rendering import Pages
from web.protection import Protection

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="A staff access token or a magic-link token")


# -- what create_app keeps on app.state ------------------------------------------------------


def container(connection: HTTPConnection) -> Container:
    found: Container = connection.app.state.container
    return found


def pages(connection: HTTPConnection) -> Pages:
    found: Pages = connection.app.state.pages
    return found


def has_pages(connection: HTTPConnection) -> bool:
    return hasattr(connection.app.state, "pages")


def protection(connection: HTTPConnection) -> Protection:
    found: Protection = connection.app.state.protection
    return found


def catalogues(connection: HTTPConnection) -> Catalogues:
    found: Catalogues = connection.app.state.catalogues
    return found


def echo_tests(connection: HTTPConnection) -> EchoTests:
    found: EchoTests = connection.app.state.echo
    return found


def signaling_hub(connection: HTTPConnection) -> Hub:
    found: Hub = connection.app.state.hub
    return found


def _dependency(lookup: Callable[[HTTPConnection], T]) -> Callable[[HTTPConnection], Awaitable[T]]:
    """`lookup` as a coroutine: FastAPI runs a `def` dependency in the thread pool, a hop that
    costs more than the lookup."""

    async def dependency(connection: HTTPConnection) -> T:
        return lookup(connection)

    return dependency


Services = Annotated[Container, Depends(_dependency(container))]
Renderer = Annotated[Pages, Depends(_dependency(pages))]
Guard = Annotated[Protection, Depends(_dependency(protection))]
Echo = Annotated[EchoTests, Depends(_dependency(echo_tests))]
SignalingHub = Annotated[Hub, Depends(_dependency(signaling_hub))]


# -- the staff member behind a bearer token --------------------------------------------------

Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def bearer_token(credentials: Bearer) -> str:
    if credentials is None or not credentials.credentials:
        raise TokenInvalid("missing bearer token")
    return credentials.credentials


Token = Annotated[str, Depends(bearer_token)]


def current_staff(token: Token, services: Services) -> StaffIdentity:
    return services.accounts.identify(token)


Actor = Annotated[StaffIdentity, Depends(current_staff)]


# -- the client and its limits ---------------------------------------------------------------


def client_address(request: Request) -> str:
    # The proxy's X-Forwarded-For is already applied by uvicorn for `trusted_proxies`.
    return request.client.host if request.client else "unknown"


def check_slot_search(request: Request) -> None:
    """Raise RateLimited (429) when this address searches too often."""
    protection(request).check_search(client_address(request))


# Set in the request's state once its slot search was counted against the address's budget
# (web/kept_searches.py, before the route): the route must not count it twice.
SEARCH_CHECKED = "slot_search_checked"


async def acheck_slot_search(request: Request) -> None:
    """`check_slot_search` for a handler on the event loop: waiting for Redis lets it go on."""
    if not request.scope.get("state", {}).get(SEARCH_CHECKED):
        await protection(request).acheck_search(client_address(request))


def check_booking(request: Request, altcha: str | None = None) -> None:
    """Raise AltchaRejected (422) for a bad proof of work, RateLimited (429) when this address
    books too often: the stricter limit applies without a proof of work."""
    protection(request).check_booking(client_address(request), altcha)


async def acheck_booking(request: Request, altcha: str | None = None) -> None:
    """`check_booking` for a handler on the event loop: waiting for Redis lets it go on."""
    await protection(request).acheck_booking(client_address(request), altcha)


def check_hold(request: Request, altcha: str | None = None) -> None:
    """As check_booking, for holding a slot (its own budget of the same size)."""
    protection(request).check_booking(client_address(request), altcha, hold=True)


async def acheck_hold(request: Request, altcha: str | None = None) -> None:
    """`check_hold` for a handler on the event loop."""
    await protection(request).acheck_booking(client_address(request), altcha, hold=True)
