"""FastAPI dependencies: the container, the staff member behind a bearer token, the client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scheduler.accounts import StaffIdentity
from scheduler.errors import TokenInvalid
from web.container import Container

_bearer = HTTPBearer(auto_error=False, description="A staff access token or a magic-link token")


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


# Dependencies that only look something up are coroutines: FastAPI runs a `def` dependency
# in the thread pool, a hop that costs more than the lookup.
async def _container(request: Request) -> Container:
    return container(request)


Services = Annotated[Container, Depends(_container)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def bearer_token(credentials: Bearer) -> str:
    if credentials is None or not credentials.credentials:
        raise TokenInvalid("missing bearer token")
    return credentials.credentials


Token = Annotated[str, Depends(bearer_token)]


def current_staff(token: Token, services: Services) -> StaffIdentity:
    return services.accounts.identify(token)


Actor = Annotated[StaffIdentity, Depends(current_staff)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
