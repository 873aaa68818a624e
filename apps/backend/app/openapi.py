"""The published OpenAPI document describes the API as it answers: the bearer scheme, every status
code a route can return, and one error body ({"detail": "..."}) everywhere. Also the answers to
methods a path does not support: 405 (or 204 for OPTIONS) with an Allow header listing the methods
every route on that path accepts together."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response

from app.schemas import ErrorOut

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
# Routes that answer without the database (their own 503 is described on the route).
NO_DATABASE = ("/health", "/api/health", "/ready", "/api/ready")


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
    if headers:
        response["headers"] = headers
    return response


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods documented for the path template `path` matches (GET brings HEAD, and every path
    answers OPTIONS); empty for paths the document does not describe."""
    for template, operations in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            methods = {m.upper() for m in operations} | {"OPTIONS"}
            return sorted(methods | ({"HEAD"} if "GET" in methods else set()))
    return []


def method_not_allowed(app: FastAPI, request: Request, fallback: str) -> Response:
    allow = ", ".join(allowed_methods(app, request.url.path)) or fallback
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    detail = f"method {request.method} is not allowed on {request.url.path}; use one of {allow}"
    return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": allow})


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """Add what FastAPI cannot infer to a generated document (modified in place and returned)."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorOut"] = ErrorOut.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses or "requestBody" in operation:
                responses["422"] = _error("a value is missing, of the wrong type or not acceptable")
            if "requestBody" in operation:
                responses["400"] = _error("the body is not valid JSON")
                responses["413"] = _error("the body is larger than MAX_BODY_BYTES")
            if operation.get("security"):
                responses["401"] = _error(
                    "missing, invalid or expired bearer token, or its user no longer exists",
                    {"WWW-Authenticate": {"schema": {"type": "string"}}},
                )
            if path not in NO_DATABASE:
                responses["503"] = _error("the database is unavailable or did not answer in time", RETRY_AFTER)
            responses["431"] = _error("the request headers are larger than MAX_HEADER_BYTES")
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description
            )
            app.openapi_schema = describe(generated)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
