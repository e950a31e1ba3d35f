"""Errors raised by the SDK: one class per error type of the API, plus connection problems.

Every error is an `APIError`, so `except APIError` (as in the spec's examples) catches all of
them. Errors from a response carry what the server said: `status_code`, `type`, `code`,
`message`, `details` and `request_id` (quote it when reporting a problem).
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    status_code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.type = type
        self.code = code
        self.details = details or {}
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}" if self.code else self.message]
        if self.status_code is not None:
            parts.append(f"status {self.status_code}")
        if self.request_id:
            parts.append(f"request_id {self.request_id}")
        return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class StreamInterruptedError(APIConnectionError):
    """A stream ended before its final event; `partial_text` holds what had arrived."""

    def __init__(self, message: str, *, partial_text: str, execution_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text
        self.execution_id = execution_id


class APIStatusError(APIError):
    """The server answered with an error status."""


class ValidationError(APIStatusError):
    """400 `validation_error`: a missing or malformed field, variable or parameter."""


class TemplateError(APIStatusError):
    """400 `template_error`: the template could not be rendered."""


class AuthenticationError(APIStatusError):
    """401: missing, malformed, unknown or revoked API key."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks a permission, or the plan lacks the feature."""


class NotFoundError(APIStatusError):
    """404: no such resource (or it belongs to another account)."""


class ConflictError(APIStatusError):
    """409: e.g. a template name already taken, or an Idempotency-Key still in use."""


class PayloadTooLargeError(ValidationError):
    """413: the request body is over the endpoint's limit."""


class RateLimitError(APIStatusError):
    """429: `retry_after` seconds to wait, and which limit (`hourly`, `burst`, `concurrent`)."""

    @property
    def retry_after(self) -> float:
        value = self.details.get("retry_after") or self.headers.get("retry-after") or 1
        try:
            return float(value)
        except (TypeError, ValueError):
            return 1.0

    @property
    def limit_type(self) -> str | None:
        return {
            "HOURLY_LIMIT_EXCEEDED": "hourly",
            "BURST_LIMIT_EXCEEDED": "burst",
            "CONCURRENT_LIMIT_EXCEEDED": "concurrent",
        }.get(self.code or "")

    @property
    def limit(self) -> int | None:
        value = self.details.get("limit")
        return int(value) if isinstance(value, int | float) else None


class ExecutionError(APIStatusError):
    """`execution_error`: the model failed (content policy, provider error, timeout)."""

    @property
    def retry_eligible(self) -> bool:
        return bool(self.details.get("retry_eligible", False))

    @property
    def execution_id(self) -> str | None:
        value = self.details.get("execution_id")
        return str(value) if value else None


class ServerError(APIStatusError):
    """5xx `server_error`: something went wrong on the server."""


class ServiceUnavailableError(ServerError):
    """503: maintenance, overload, or the model provider rate-limiting the server."""


_BY_TYPE: dict[str, type[APIStatusError]] = {
    "validation_error": ValidationError,
    "template_error": TemplateError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "conflict_error": ConflictError,
    "rate_limit_error": RateLimitError,
    "execution_error": ExecutionError,
    "server_error": ServerError,
    "service_unavailable": ServiceUnavailableError,
}
_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status: int, error_type: str | None) -> type[APIStatusError]:
    if status == 413:
        return PayloadTooLargeError
    if error_type in _BY_TYPE:
        return _BY_TYPE[error_type]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIStatusError


def error_from_body(status: int, body: Any, headers: dict[str, str]) -> APIStatusError:
    """Builds the right exception from an error response, whatever its body looks like."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    message = error.get("message") or f"HTTP {status} with no error body"
    details = error.get("details") if isinstance(error.get("details"), dict) else None
    return error_class(status, error_type)(
        str(message),
        status_code=status,
        type=error_type,
        code=error.get("code"),
        details=details,
        request_id=error.get("request_id") or headers.get("x-request-id"),
        headers=headers,
    )


__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ConflictError",
    "ExecutionError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamInterruptedError",
    "TemplateError",
    "ValidationError",
]
