"""The OpenAPI schema describes the error bodies the API really answers (issue 12)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]


def error_schema(operation: dict[str, Any], status: str) -> Any:
    return operation["responses"][status]["content"]["application/json"]["schema"]


def test_every_422_is_the_problem_body_not_fastapis_default(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["Problem"]["required"] == ["code", "detail"]
    for _, _, operation in operations(schema):
        if "422" in operation["responses"]:
            assert error_schema(operation, "422") == PROBLEM


def test_the_documented_problem_is_what_a_422_answers(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Problem"]
    body = client.post("/api/v1/bookings", json={}).json()

    assert set(schema["required"]) <= set(body)
    assert set(body) <= set(schema["properties"])
    assert set(body["errors"][0]) == set(schema["properties"]["errors"]["items"]["properties"])


def test_staff_operations_document_401_403_and_404(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    absences = schema["paths"]["/api/v1/advisors/{advisor_id}/absences"]["post"]

    for status in ("400", "401", "403", "404", "405", "409", "413", "422", "429"):
        assert error_schema(absences, status) == PROBLEM


def test_a_public_search_documents_no_login_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    slots = schema["paths"]["/api/v1/services/{service_id}/slots"]["get"]

    assert {"404", "422", "429"} <= set(slots["responses"])
    assert not {"401", "403", "413"} & set(slots["responses"])
