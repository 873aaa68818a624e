"""The published OpenAPI document matches the API: a bearer scheme, every status a route answers
with, one error shape ({"detail": "..."}) for all of them, and 405/OPTIONS answers whose Allow header
lists the methods the path really has."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import User

pytestmark = pytest.mark.postgres

ERROR_REF = "#/components/schemas/ErrorOut"


def test_bearer_scheme_and_protected_operations(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    protected = {
        (path, method)
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if {name: []} in operation.get("security", [])
    }
    assert ("/api/tasks", "get") in protected and ("/api/chat", "post") in protected
    assert ("/api/auth/me", "get") in protected
    assert ("/api/auth/login", "post") not in protected and ("/health", "get") not in protected
    for path, method in protected:
        assert "401" in doc["paths"][path][method]["responses"], (path, method)


def test_every_error_response_has_the_one_error_shape(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["ErrorOut"]["properties"]["detail"]["type"] == "string"
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45" and not path.endswith("/ready"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ERROR_REF}, (path, method, status, schema)
    tasks = doc["paths"]["/api/tasks/{task_id}"]
    assert {"401", "404", "422", "503"} <= set(tasks["patch"]["responses"])
    assert {"400", "413"} <= set(tasks["patch"]["responses"])
    assert "409" in doc["paths"]["/api/auth/signup"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/auth/login"]["post"]["responses"]
    assert "503" in doc["paths"]["/ready"]["get"]["responses"]


def test_422_is_answered_in_the_documented_shape(client: TestClient, user: User) -> None:
    response = client.post("/api/tasks", json={"title": 5}, headers=user.headers)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/tasks/1", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("/api/tasks", "GET, HEAD, OPTIONS, POST"),
        ("/api/tasks/1/complete", "OPTIONS, POST"),
        ("/api/auth/login", "OPTIONS, POST"),
    ],
)
def test_unsupported_methods_and_options_name_every_allowed_method(
    client: TestClient, user: User, path: str, allowed: str
) -> None:
    refused = client.put(path, json={}, headers=user.headers)
    assert refused.status_code == 405
    assert refused.headers["allow"] == allowed
    assert "not allowed" in refused.json()["detail"]
    options = client.options(path)
    assert options.status_code == 204
    assert options.headers["allow"] == allowed
