"""schemathesis over /openapi.json: no operation answers a 5xx or anything its schema does not
promise (status, content type, body, headers), without a login and as an administrator.

Phases: each operation's examples, coverage cases and generated cases, then stateful sequences
along the links schemathesis infers (a created service, team, advisor or booking used next).
Bounded: a few examples per operation and no deadline (a 2-core CI machine shares its time);
the app runs on the tests' fixed clock, so the result does not depend on today's date."""

from __future__ import annotations

import contextlib
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
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
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
    database=None,
    stateful_step_count=6,
)


def fuzz(app: FastAPI, *, admin: bool) -> None:
    """Every operation in schemathesis' three per-operation phases: the schema's examples,
    coverage (each boundary and each kind of invalid value once) and generated cases."""
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = login(api) if admin else {}

    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    for result in api.get_all_operations():
        # What `schemathesis.pytest.from_fixture(...).parametrize()` builds per operation; its
        # subtests do not run under pytest 9, so the test is built and called here.
        test = create_test(
            operation=result.ok(),
            test_func=check,
            config=HypothesisTestConfig(
                project=api.config, modes=list(HypothesisTestMode), settings=BOUNDED
            ),
        )
        test()


def fuzz_sequences(app: FastAPI, *, admin: bool) -> None:
    """Sequences of calls, each using what an earlier answer returned (schemathesis' links)."""
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = login(api) if admin else {}
    failures: list[str] = []

    class Sequences(api.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except Exception as exc:
                failures.append(f"{case.method} {case.formatted_path}: {exc}")
                raise

    # The database outlives each sequence, so hypothesis cannot replay one exactly (a link finds
    # other rows the second time) and calls that flaky; schemathesis' own runner tolerates it the
    # same way. A broken answer is recorded above when it happens.
    with contextlib.suppress(Flaky):
        Sequences.run(settings=BOUNDED)
    assert not failures, failures


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


def test_call_sequences_answer_anyone_as_the_schema_says(app: FastAPI, world: Any) -> None:
    world.advisor([world.service()], password=None)

    fuzz_sequences(app, admin=False)


def test_call_sequences_answer_an_admin_as_the_schema_says(app: FastAPI, world: Any) -> None:
    world.advisor([world.service()], password=None)

    fuzz_sequences(app, admin=True)
