"""The OpenAPI document at /v2/openapi.json, made to say what the server really does.

FastAPI's own document lists a 422 no request ever gets (every validation error here is a
400 in the spec's shape) and leaves the request models' `$defs` where no `$ref` can reach
them. This one lists, for each operation, the error responses that can occur, in the error
schema; the statuses every operation shares are added here, the ones particular to an
operation are declared on its route with `errors(...)`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ...models import ErrorResponse
from .middleware import PUBLIC_PATHS, counts_as_work

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
WHY = {
    400: "Invalid request (validation_error or template_error)",
    401: "Missing or invalid API key",
    403: "The key or plan does not allow this",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "The body is not JSON",
    429: "Rate limited: Retry-After says when to retry",
    500: "Server or model provider error",
    503: "Temporarily unavailable: Retry-After says when to retry",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: the error statuses particular to it."""
    return {status: {"description": WHY[status], "model": ErrorResponse}
            for status in statuses}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The `openapi_extra=` of a route that reads its JSON body itself (core/http.parse_body)
    rather than through a FastAPI parameter."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def _error_response(status: int) -> dict[str, Any]:
    return {"description": WHY[status], "content": {"application/json": {"schema": ERROR_REF}}}


def _hoist_defs(node: Any, found: dict[str, Any]) -> Any:
    """Moves every nested `$defs` into components and points the `$ref`s there."""
    if isinstance(node, dict):
        for name, schema in node.pop("$defs", {}).items():
            found[name] = _hoist_defs(schema, found)
        return {key: (value.replace("#/$defs/", "#/components/schemas/", 1)
                      if key == "$ref" and isinstance(value, str) else _hoist_defs(value, found))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_hoist_defs(item, found) for item in node]
    return node


def _shared_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    if path in PUBLIC_PATHS or not path.startswith("/v2/"):
        return {503} if path == "/ready" else set()
    statuses = {401, 500, 503}
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(400)
    if "requestBody" in operation:
        statuses |= {413, 415}
    if counts_as_work(method.upper(), path):
        statuses.add(429)
    if "{" in path:
        statuses.add(404)
    return statuses


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, summary=app.summary,
                          description=app.description, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in doc.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status in _shared_statuses(method, path, operation):
                    responses.setdefault(str(status), _error_response(status))
                operation["responses"] = dict(sorted(responses.items()))
        hoisted: dict[str, Any] = {}
        doc = _hoist_defs(doc, hoisted)
        doc["components"]["schemas"].update(hoisted)
        doc["components"]["schemas"].setdefault(
            "ErrorResponse", _hoist_defs(ErrorResponse.model_json_schema(
                ref_template="#/components/schemas/{model}"), hoisted))
        doc["components"]["schemas"].update(hoisted)
        app.openapi_schema = doc
        return doc

    app.openapi = build  # type: ignore[method-assign]

