"""schemathesis over /openapi.json: no operation answers a 5xx or anything its schema does not
promise (status, content type, body, headers), without a login and as an administrator.

Bounded: a few examples per operation and no deadline (a 2-core CI machine shares its time);
the app runs on the tests' fixed clock, so the result does not depend on today's date."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PASSWORD

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


BOUNDED = settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


def fuzz(app: FastAPI, *, admin: bool) -> None:
    """Every operation, each with hypothesis' explicit examples and generated cases."""
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = login(api) if admin else {}
    for result in api.get_all_operations():
        operation = result.ok()

        @BOUNDED
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()


def login(api: Any) -> dict[str, str]:
    # Through the same ASGI transport: a second client would run the app's lifespan twice.
    case = api["/api/v1/auth/token"]["POST"].Case(
        body={"email": "admin@example.org", "password": PASSWORD}
    )
    response = case.call()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_the_api_answers_anyone_as_its_schema_says(app: FastAPI, world: Any) -> None:
    world.advisor([world.service()], password=None)

    fuzz(app, admin=False)


def test_the_api_answers_an_admin_as_its_schema_says(app: FastAPI, world: Any) -> None:
    world.advisor([world.service()], password=None)

    fuzz(app, admin=True)
