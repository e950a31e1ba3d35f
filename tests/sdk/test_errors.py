"""Each exception class, raised from a real error response of the real server."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptexecution import PromptExecutionClient
from promptexecution.exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    ExecutionError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TemplateError,
    ValidationError,
)
from promptexecution.server.config import ServerConfig
from tests.conftest import ServerHandle, running_server


def _client(server: ServerHandle, key: str | None = None, **options: Any
            ) -> PromptExecutionClient:
    client = PromptExecutionClient(api_key=key or server.local_key, base_url=server.base_url,
                                   **options)
    client._core.config.initial_backoff = 0.01
    return client


def _raises(kind: type[APIError], call: Callable[[], object], status: int | None,
            code: str | None) -> APIError:
    with pytest.raises(kind) as caught:
        call()
    error = caught.value
    assert type(error) is kind
    assert error.status_code == status
    assert error.code == code
    assert error.message
    if status is not None:
        assert error.request_id and error.request_id.startswith("req_")
        assert error.request_id == error.headers.get("x-request-id")
        assert error.type
    return error


def test_errors_from_responses(server: ServerHandle) -> None:
    with _client(server) as c:
        error = _raises(ValidationError, lambda: c.execute(), 400, "MISSING_REQUIRED_FIELD")
        assert error.details["field"] == "template_id"
        error = _raises(ValidationError, lambda: c.execute(
            template_id="customer_email_response", variables={"message": "x", "tone": "y"}),
            400, "TEMPLATE_VARIABLE_MISSING")
        assert error.details["missing_variables"] == ["customer_name"]
        _raises(TemplateError, lambda: c.templates.create(name="bad_t", prompt="{% if %}"),
                400, "TEMPLATE_SYNTAX_ERROR")
        _raises(TemplateError, lambda: c.execute(
            template_id="weekly_report", variables={"date_range": {}}),
            400, "VARIABLE_SUBSTITUTION_FAILED")
        _raises(NotFoundError, lambda: c.executions.get("exec_missing"), 404,
                "EXECUTION_NOT_FOUND")
        _raises(ConflictError, lambda: c.templates.create(name="greeting_template",
                                                          prompt="x"),
                409, "TEMPLATE_NAME_TAKEN")
        _raises(PayloadTooLargeError, lambda: c.execute(prompt="x" * (1024 * 1024 + 1)), 413,
                "PAYLOAD_TOO_LARGE")
        error = _raises(ExecutionError, lambda: c.execute(prompt="x", model_config={
            "simulate": {"fail": "content_policy"}}), 400, "CONTENT_POLICY_VIOLATION")
        assert isinstance(error, ExecutionError) and not error.retry_eligible
        assert error.execution_id and error.execution_id.startswith("exec_")
    with _client(server, max_retries=1) as c:
        events: list[Any] = []
        c.add_observer(events.append)
        error = _raises(ExecutionError, lambda: c.execute(prompt="x", model_config={
            "simulate": {"fail": "server_error"}}), 500, "MODEL_PROVIDER_ERROR")
        assert [e.attempt for e in events] == [1, 2]  # retried once, then raised
        events.clear()
        with pytest.raises(ConflictError):
            c.templates.create(name="greeting_template", prompt="x")
        assert len(events) == 1  # a taken name is not a transient conflict


def test_auth_and_permission_errors(server: ServerHandle) -> None:
    with _client(server, "pe_sk_live_not_a_key") as c:
        _raises(AuthenticationError, c.auth.verify, 401, "INVALID_API_KEY")
    with _client(server, server.make_key("professional", permissions=("templates",))) as c:
        error = _raises(PermissionDeniedError, lambda: c.execute(prompt="x"), 403,
                        "INSUFFICIENT_PERMISSIONS")
        assert error.details["required_permission"] == "execute"


def test_rate_limit_error(tmp_path: Path) -> None:
    config = ServerConfig(plans={"basic": {"burst_per_minute": 1}})
    with running_server(tmp_path, config=config) as srv, _client(
        srv, srv.make_key("basic"), max_retries=0
    ) as c:
        c.execute(prompt="first")
        error = _raises(RateLimitError, lambda: c.execute(prompt="second"), 429,
                        "BURST_LIMIT_EXCEEDED")
        assert isinstance(error, RateLimitError)
        assert error.limit_type == "burst" and error.limit == 1
        assert 1 <= error.retry_after <= 60


def test_server_error_on_an_unexpected_exception(server: ServerHandle,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.ctx.catalog, "listing", explode)
    with _client(server, max_retries=0) as c:
        _raises(ServerError, c.models.list, 500, "INTERNAL_ERROR")


def test_connection_and_timeout_errors(server: ServerHandle) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with PromptExecutionClient(api_key=server.local_key, base_url=f"http://127.0.0.1:{port}/v2",
                               max_retries=0) as c:
        _raises(APIConnectionError, c.auth.verify, None, None)
    with _client(server, timeout=0.3, max_retries=0) as c:
        _raises(APITimeoutError, lambda: c.execute(prompt="slow", model_config={
            "simulate": {"latency_ms": 1500}}), None, None)
