"""The exception handlers that give every error the spec's shape: our ApiError, FastAPI's
parameter validation (a 400, never a 422) and Starlette's 404 and 405."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .errors import ApiError
from .middleware import error_response_parts


def allowed_methods(app: FastAPI, scope: Any) -> list[str]:
    """Every method some route takes at this path (Starlette's own 405 names only the first
    route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "\0"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI, timestamp: Callable[[], str]) -> None:
    def render(request: Request, error: ApiError) -> Response:
        if error.rate is not None:
            request.state.rate = error.rate
        status, headers, body = error_response_parts(
            error, request.state.request_id, timestamp()
        )
        response = Response(body, status_code=status)
        response.raw_headers = headers
        return response

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return render(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        details: dict[str, Any] = {"parameter": name, "location": where}
        if "input" in first:
            details["provided_value"] = first["input"]
        return render(
            request,
            ApiError(
                "validation_error",
                "INVALID_PARAMETER",
                f"Invalid {where} parameter '{name}': {first.get('msg', 'invalid value')}",
                details=details,
            ),
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error = ApiError(
                "not_found_error",
                "ROUTE_NOT_FOUND",
                f"No endpoint at {request.method} {request.url.path}; see /v2/openapi.json",
            )
        elif exc.status_code == 405:
            allowed = allowed_methods(app, request.scope)
            error = ApiError(
                "validation_error",
                "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed on {request.url.path}; it takes "
                f"{', '.join(allowed)}",
                status=405,
                headers={"Allow": ", ".join(allowed)},
            )
        else:
            error = ApiError("server_error", "HTTP_ERROR", str(exc.detail), status=exc.status_code)
        return render(request, error)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
