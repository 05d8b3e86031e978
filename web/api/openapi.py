"""The OpenAPI schema says what the API answers: every error is one body, web.errors.problem's
{code, detail, ...}, documented once here for every operation instead of at each route."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM = {
    "title": "Problem",
    "type": "object",
    "required": ["code", "detail"],
    "properties": {
        "code": {"type": "string", "description": "stable, machine-readable"},
        "detail": {"type": "string", "description": "for people, in the negotiated language"},
        "field": {"type": "string", "description": "the field at fault, where there is one"},
        "errors": {
            "type": "array",
            "description": "with 422 validation_error: one entry per invalid field",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    # Some errors add their parameters (e.g. opens_at of a room not open yet).
    "additionalProperties": True,
}

_REF = {"$ref": "#/components/schemas/Problem"}

DESCRIPTIONS = {
    "400": "the body is not valid JSON",
    "401": "no valid token: a staff login or the magic link is needed",
    "403": "the token does not allow this",
    "404": "not found",
    "405": "method not allowed; Allow lists the methods of this path",
    "409": "conflicts with the current state",
    "413": "the body is too large",
    "415": "a file of a type that is not taken (documents: PDF, JPEG, PNG, HEIC only)",
    "422": "invalid input (validation_error lists the fields) or a broken rule",
    "429": "too many requests; see Retry-After",
    "503": "busy; try again in a moment",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = with_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = PROBLEM
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                for status in _errors(path, method, operation):
                    response = operation["responses"].setdefault(
                        status, {"description": DESCRIPTIONS[status]}
                    )
                    response["content"] = {"application/json": {"schema": _REF}}
    return schema


def _errors(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    """The errors an operation can answer: every error is possible where its cause is."""
    found = {"405", "429", "503"} | {s for s in operation["responses"] if s[0] in "45"}
    if operation.get("parameters") or "requestBody" in operation:
        found.add("422")
    if "{" in path or operation.get("security") or "requestBody" in operation:
        # Anything named by the path, or referred to in a body or by a token, may not exist.
        found.add("404")
    if operation.get("security"):
        found |= {"401", "403"}
    if path.endswith("/auth/token"):
        found.add("401")  # a wrong password
    if method in ("post", "put", "patch", "delete"):
        found |= {"400", "409", "413", "422"}
    return found
