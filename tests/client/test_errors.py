"""Every exception class of the SDK, raised from a real error response of the server (or, for
5xx and transport failures, from the fault proxy or a closed port), carrying what the server
said: status_code, type, code, message, details and the request_id of X-Request-ID."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from promptexecution.client import (
    AsyncPromptExecutionClient,
    RequestEvent,
    SyncPromptExecutionClient,
)
from promptexecution.exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    ExecutionError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    StreamInterruptedError,
    TemplateError,
    ValidationError,
)
from promptexecution.server.core.clock import FixedClock
from promptexecution.server.core.config import ServerConfig
from tests.client.faultproxy import Fault, FaultProxy
from tests.conftest import ServerHandle, running_server

# 09:30:30 on a clock that stands still: the burst window resets in 30 s, the hour in 1770 s.
LIMITED_START = datetime(2030, 1, 15, 9, 30, 30, tzinfo=UTC)
LIMITED_PLANS = {
    "basic": {"burst_per_minute": 2},
    "professional": {"requests_per_hour": 1},
    "enterprise": {"concurrent": 1},
}


class Recorder:
    """An AsyncPromptExecutionClient or SyncPromptExecutionClient that keeps its events."""

    def __init__(self) -> None:
        self.events: list[RequestEvent] = []

    def attach(self, client: Any) -> Any:
        client.add_observer(self.events.append)
        return client


def async_client(server: ServerHandle | str, key: str, recorder: Recorder | None = None,
                 **options: Any) -> AsyncPromptExecutionClient:
    base_url = server if isinstance(server, str) else server.base_url
    client = AsyncPromptExecutionClient(api_key=key, base_url=base_url, **options)
    if recorder is not None:
        recorder.attach(client)
    return client


def check_error(error: APIError, status: int, type_: str | None, code: str | None,
                events: list[RequestEvent] | None = None) -> None:
    """The fields every error from a response carries, and request_id == X-Request-ID."""
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert error.type == type_
    assert error.code == code
    assert isinstance(error.message, str) and error.message
    assert isinstance(error.details, dict)
    assert error.request_id and error.request_id.startswith("req_")
    assert error.request_id == error.headers["x-request-id"]
    if events is not None:
        assert events[-1].status == status
        assert events[-1].request_id == error.request_id
        assert events[-1].error_code == code
    if code:
        assert code in str(error) and error.request_id in str(error)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[ServerHandle]:
    config = ServerConfig(plans=LIMITED_PLANS)
    with running_server(tmp_path / "limited", config=config,
                        clock=FixedClock(LIMITED_START)) as handle:
        yield handle


@pytest.fixture
def proxy(server: ServerHandle) -> Iterator[FaultProxy]:
    with FaultProxy(server.url) as p:
        yield p


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# ---------------------------------------------------------------------------- 400


async def test_validation_errors(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(), rec) as client:
        with pytest.raises(ValidationError) as info:
            await client.execute()
        check_error(info.value, 400, "validation_error", "MISSING_REQUIRED_FIELD", rec.events)
        assert info.value.details["field"] == "template_id"

        name = f"errs_{uuid.uuid4().hex[:8]}"
        await client.templates.create(name, "Hello {{ who }} from {{ where }}",
                                      variables=[{"name": "who", "required": True}])
        with pytest.raises(ValidationError) as info:
            await client.execute(name, variables={"other": 1})
        check_error(info.value, 400, "validation_error", "TEMPLATE_VARIABLE_MISSING", rec.events)
        assert info.value.details["missing_variables"] == ["where", "who"]
        assert info.value.details["provided_variables"] == ["other"]

        with pytest.raises(ValidationError) as info:
            await client.execute(prompt="x", model_config={"temperature": 5})
        check_error(info.value, 400, "validation_error", "INVALID_FIELD", rec.events)
        assert info.value.details["field"] == "model_config.temperature"
    assert [e.attempt for e in rec.events if e.status == 400] == [1, 1, 1]  # never retried


async def test_template_errors(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(), rec) as client:
        with pytest.raises(TemplateError) as info:
            await client.templates.create(f"bad_{uuid.uuid4().hex[:8]}", "Hello {{ name")
        check_error(info.value, 400, "template_error", "TEMPLATE_SYNTAX_ERROR", rec.events)
        assert info.value.details["line"] == 1
    async with async_client(server, server.local_key, rec) as client:
        with pytest.raises(TemplateError) as info:
            await client.execute("weekly_report", variables={"date_range": {"end": "Friday"}})
        check_error(info.value, 400, "template_error", "VARIABLE_SUBSTITUTION_FAILED", rec.events)
        assert info.value.details["problematic_variables"] == ["date_range"]
        assert "date_range.start" in info.value.details["template_section"]
    assert not isinstance(info.value, ValidationError)


async def test_authentication_error(server: ServerHandle) -> None:
    for bad in ("pe_sk_live_0000000000000000000000000000", "not-a-key-at-all"):
        rec = Recorder()
        async with async_client(server, bad, rec) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.auth.verify()
        check_error(info.value, 401, "authentication_error", "INVALID_API_KEY", rec.events)
        assert info.value.headers["www-authenticate"] == "Bearer"
        assert len(rec.events) == 1


async def test_permission_denied_error(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(permissions=("execute",)), rec) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.templates.create("not_allowed", "Hi")
        check_error(info.value, 403, "permission_error", "INSUFFICIENT_PERMISSIONS", rec.events)
        assert info.value.details["required_permission"] == "templates"
        assert info.value.details["granted"] == ["execute"]
    async with async_client(server, server.make_key(permissions=("templates",)), rec) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.execute(prompt="Hi")
        assert info.value.details["required_permission"] == "execute"
    assert len(rec.events) == 2


async def test_not_found_errors(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(), rec) as client:
        with pytest.raises(NotFoundError) as info:
            await client.templates.get("tmpl_doesnotexist")
        check_error(info.value, 404, "not_found_error", "TEMPLATE_NOT_FOUND", rec.events)
        assert info.value.details["template_id"] == "tmpl_doesnotexist"
        with pytest.raises(NotFoundError) as info:
            await client.executions.get("exec_doesnotexist")
        check_error(info.value, 404, "not_found_error", "EXECUTION_NOT_FOUND", rec.events)
        with pytest.raises(NotFoundError) as info:
            await client.execute("greeting_template", variables={"name": "A"})  # not ours
        check_error(info.value, 404, "not_found_error", "TEMPLATE_NOT_FOUND", rec.events)
        for call in (client.templates.update("tmpl_nope", prompt="x"),
                     client.templates.delete("tmpl_nope"),
                     client.templates.versions("tmpl_nope")):
            with pytest.raises(NotFoundError):
                await call
    assert all(e.attempt == 1 for e in rec.events)


async def test_conflict_error_is_not_retried(server: ServerHandle) -> None:
    rec = Recorder()
    name = f"taken_{uuid.uuid4().hex[:8]}"
    async with async_client(server, server.make_key(), rec, max_retries=3) as client:
        client._core.config.initial_backoff = 0.01
        await client.templates.create(name, "First")
        other = await client.templates.create(name + "_2", "Second")
        rec.events.clear()
        with pytest.raises(ConflictError) as info:
            await client.templates.create(name, "Again")
        check_error(info.value, 409, "conflict_error", "TEMPLATE_NAME_TAKEN", rec.events)
        assert info.value.details["name"] == name
        with pytest.raises(ConflictError):
            await client.templates.update(other.template_id, name=name)
    # A taken name does not free itself: one attempt each, no retry.
    assert [(e.method, e.attempt, e.will_retry) for e in rec.events] == [
        ("POST", 1, False), ("PUT", 1, False),
    ]


async def test_payload_too_large_error(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(), rec) as client:
        with pytest.raises(PayloadTooLargeError) as info:
            await client.execute(prompt="x" * (1024 * 1024 + 10))
    check_error(info.value, 413, "validation_error", "PAYLOAD_TOO_LARGE", rec.events)
    assert isinstance(info.value, ValidationError)
    assert info.value.details["limit_bytes"] == 1024 * 1024
    assert len(rec.events) == 1


# ---------------------------------------------------------------------------- 429


async def test_burst_rate_limit_error(limited: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(limited, limited.make_key("basic"), rec, max_retries=0) as client:
        await client.execute(prompt="one")
        await client.execute(prompt="two")
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await client.execute(prompt="three")
        assert time.monotonic() - started < 1
        # The 429 still carries the rate-limit headers.
        assert client.rate_limit.burst_remaining == 0
        assert client.rate_limit.burst_limit == 2
    error = info.value
    check_error(error, 429, "rate_limit_error", "BURST_LIMIT_EXCEEDED", rec.events)
    assert error.retry_after == 30.0
    assert error.headers["retry-after"] == "30"
    assert (error.limit_type, error.limit) == ("burst", 2)
    assert error.details["reset_time"] == "2030-01-15T09:31:00Z"
    assert [e.status for e in rec.events] == [200, 200, 429]


async def test_a_retry_after_longer_than_max_retry_after_raises_at_once(
    limited: ServerHandle,
) -> None:
    rec = Recorder()
    async with async_client(limited, limited.make_key("basic"), rec) as client:
        client._core.config.max_retry_after = 5  # the server will say 30
        assert client._core.config.max_retries >= 1
        for _ in range(2):
            await client.templates.create(f"t_{uuid.uuid4().hex[:8]}", "x")
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await client.templates.create("third", "x")
        assert time.monotonic() - started < 1
    assert info.value.retry_after == 30.0 and info.value.limit_type == "burst"
    assert [(e.status, e.will_retry) for e in rec.events][-1] == (429, False)
    assert len(rec.events) == 3


async def test_hourly_rate_limit_error_with_default_settings(limited: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(limited, limited.make_key("professional"), rec) as client:
        await client.execute(prompt="the only one this hour")
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await client.execute(prompt="one too many")
        # 1770 s is over the default max_retry_after (60 s): raised at once, not waited.
        assert time.monotonic() - started < 1
    check_error(info.value, 429, "rate_limit_error", "HOURLY_LIMIT_EXCEEDED", rec.events)
    assert info.value.retry_after == 1770.0
    assert (info.value.limit_type, info.value.limit) == ("hourly", 1)
    assert len(rec.events) == 2


async def test_concurrent_rate_limit_error(limited: ServerHandle) -> None:
    rec = Recorder()
    slow = {"simulate": {"latency_ms": 600}}
    async with async_client(limited, limited.make_key("enterprise"), rec,
                            max_retries=0) as client:
        running = asyncio.create_task(client.execute(prompt="slow", model_config=slow))
        try:
            for _ in range(100):
                if (await client.rate_limits.get()).concurrent.active == 1:
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(RateLimitError) as info:
                await client.execute(prompt="fast")
        finally:
            await running
    check_error(info.value, 429, "rate_limit_error", "CONCURRENT_LIMIT_EXCEEDED")
    assert (info.value.limit_type, info.value.limit, info.value.retry_after) == (
        "concurrent", 1, 1.0)


# ---------------------------------------------------------------------------- execution


async def test_execution_errors(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(), rec, max_retries=2) as client:
        client._core.config.initial_backoff = 0.01
        with pytest.raises(ExecutionError) as info:
            await client.execute(prompt="x", model_config={"simulate": {"fail": "content_policy"}})
        policy = info.value
        check_error(policy, 400, "execution_error", "CONTENT_POLICY_VIOLATION", rec.events)
        assert policy.retry_eligible is False
        assert policy.details["violation_type"] == "harmful_content"
        assert policy.execution_id and policy.execution_id.startswith("exec_")
        assert len(rec.events) == 1  # not retried
        stored = await client.executions.get(policy.execution_id)
        assert stored.status == "failed" and stored.error is not None

        rec.events.clear()
        with pytest.raises(ExecutionError) as info:
            await client.execute(prompt="x", model_config={"simulate": {"fail": "server_error"}})
        check_error(info.value, 500, "execution_error", "MODEL_PROVIDER_ERROR", rec.events)
        assert info.value.retry_eligible is True
        assert [e.attempt for e in rec.events] == [1, 2, 3]  # retried, then raised
        assert not isinstance(info.value, ServerError)


# ---------------------------------------------------------------------------- 5xx


async def test_server_errors_through_the_proxy(server: ServerHandle, proxy: FaultProxy) -> None:
    rec = Recorder()
    key = server.make_key()
    async with async_client(proxy.url, key, rec, max_retries=1) as client:
        client._core.config.initial_backoff = 0.01
        proxy.then(Fault("status", 500), Fault("status", 500))
        with pytest.raises(ServerError) as info:
            await client.models.list()
        check_error(info.value, 500, "server_error", "INTERNAL_ERROR", rec.events)
        assert not isinstance(info.value, ServiceUnavailableError)
        assert [e.attempt for e in rec.events] == [1, 2]

        proxy.then(Fault("status", 503), Fault("status", 503))
        with pytest.raises(ServiceUnavailableError) as info:
            await client.templates.list()
        check_error(info.value, 503, "service_unavailable", "SERVICE_UNAVAILABLE", rec.events)
        assert isinstance(info.value, ServerError)

        proxy.then(Fault("status", 502, body=b""), Fault("status", 502, body=b"<html>bad"))
        with pytest.raises(ServerError) as info:
            await client.auth.verify()
        check_error(info.value, 502, None, None, rec.events)
        assert "502" in info.value.message
        assert proxy.pending() == 0
        assert (await client.models.list()).default_model == "simulator"  # the proxy forwards


# ---------------------------------------------------------------------------- transport


async def test_connection_error_on_a_closed_port() -> None:
    rec = Recorder()
    url = f"http://127.0.0.1:{closed_port()}/v2"
    async with async_client(url, "pe_sk_test_whatever", rec, max_retries=1) as client:
        client._core.config.initial_backoff = 0.01
        with pytest.raises(APIConnectionError) as info:
            await client.models.list()
    assert not isinstance(info.value, APITimeoutError | StreamInterruptedError)
    assert info.value.status_code is None and info.value.request_id is None
    assert "/models" in str(info.value)
    assert [(e.attempt, e.status, e.will_retry) for e in rec.events] == [
        (1, None, True), (2, None, False),
    ]


async def test_timeout_error(server: ServerHandle) -> None:
    rec = Recorder()
    async with async_client(server, server.make_key(), rec, timeout=0.3, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.execute(prompt="slow", model_config={"simulate": {"latency_ms": 1000}})
        assert time.monotonic() - started < 0.9
    assert isinstance(info.value, APIConnectionError)
    assert [(e.status, e.will_retry) for e in rec.events] == [(None, False)]


# ---------------------------------------------------------------------------- sync client


def test_the_sync_client_raises_the_same_classes(server: ServerHandle) -> None:
    rec = Recorder()
    with SyncPromptExecutionClient(api_key=server.make_key(permissions=("execute",)),
                                   base_url=server.base_url) as client:
        rec.attach(client)
        with pytest.raises(NotFoundError) as not_found:
            client.executions.get("exec_missing")
        check_error(not_found.value, 404, "not_found_error", "EXECUTION_NOT_FOUND", rec.events)
        with pytest.raises(ValidationError):
            client.execute(prompt="")
        with pytest.raises(ExecutionError):
            client.execute(prompt="x", model_config={"simulate": {"fail": "content_policy"}})
    with SyncPromptExecutionClient(api_key="pe_sk_live_nope", base_url=server.base_url) as c:
        with pytest.raises(AuthenticationError):
            c.models.list()
    url = f"http://127.0.0.1:{closed_port()}/v2"
    with SyncPromptExecutionClient(api_key="pe_sk_test_x", base_url=url, max_retries=0) as c:
        with pytest.raises(APIConnectionError):
            c.auth.verify()


def test_every_error_is_an_api_error() -> None:
    for cls in (ValidationError, TemplateError, AuthenticationError, PermissionDeniedError,
                NotFoundError, ConflictError, PayloadTooLargeError, RateLimitError,
                ExecutionError, ServerError, ServiceUnavailableError, APIConnectionError,
                APITimeoutError, StreamInterruptedError):
        assert issubclass(cls, APIError)
