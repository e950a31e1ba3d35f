"""API errors in the spec's shape: `{"error": {type, code, message, details?, request_id, ...}}`."""

from __future__ import annotations

from typing import Any

STATUS_BY_TYPE = {
    "validation_error": 400,
    "template_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "payload_too_large_error": 413,
    "rate_limit_error": 429,
    "server_error": 500,
    "service_unavailable": 503,
}


class ApiError(Exception):
    """Raised anywhere in the server; the error middleware renders it in the spec's shape."""

    def __init__(
        self,
        type: str,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.code = code
        self.message = message
        self.details = details
        self.status = status if status is not None else STATUS_BY_TYPE.get(type, 500)
        self.headers = headers or {}
        # A RateSnapshot, so a 429 still carries the X-RateLimit-* headers.
        self.rate: Any = None

    def body(self, request_id: str, timestamp: str) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        error["request_id"] = request_id
        error["timestamp"] = timestamp
        return {"error": error}


def validation(code: str, message: str, **details: Any) -> ApiError:
    return ApiError("validation_error", code, message, details=details or None)


def not_found(code: str, message: str, **details: Any) -> ApiError:
    return ApiError("not_found_error", code, message, details=details or None)


def template_error(code: str, message: str, **details: Any) -> ApiError:
    return ApiError("template_error", code, message, details=details or None)


def permission(code: str, message: str, **details: Any) -> ApiError:
    return ApiError("permission_error", code, message, details=details or None)


def conflict(code: str, message: str, **details: Any) -> ApiError:
    return ApiError("conflict_error", code, message, details=details or None)
