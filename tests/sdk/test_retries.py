"""Retries, Retry-After, idempotency and broken streams, through a fault-injecting proxy in
front of the real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from promptexecution import AsyncPromptExecutionClient, PromptExecutionClient
from promptexecution.exceptions import (
    APIConnectionError,
    RateLimitError,
    ServiceUnavailableError,
    StreamInterruptedError,
)
from promptexecution.server.clock import FixedClock
from promptexecution.server.config import ServerConfig
from tests.conftest import ServerHandle, running_server
from tests.sdk.faultproxy import Fault, FaultProxy


@pytest.fixture
def proxy(server: ServerHandle) -> Iterator[FaultProxy]:
    with FaultProxy(int(server.url.rsplit(":", 1)[1])) as p:
        yield p


@pytest.fixture
def key(server: ServerHandle) -> str:
    return server.make_key("professional")


def _client(proxy: FaultProxy, key: str, **options: object) -> PromptExecutionClient:
    client = PromptExecutionClient(api_key=key, base_url=proxy.url, **options)  # type: ignore[arg-type]
    client._core.config.initial_backoff = 0.01  # keep the suite fast; the formula is unchanged
    return client


def _executions(server: ServerHandle, key: str) -> int:
    with server.client(key) as c:
        return int(c.get("/executions").json()["pagination"]["total"])


def test_503_then_success_is_retried_with_the_same_idempotency_key(
    proxy: FaultProxy, key: str, server: ServerHandle
) -> None:
    proxy.then(Fault("status", 503), Fault("status", 502))
    events = []
    with _client(proxy, key, max_retries=3) as client:
        client.add_observer(events.append)
        result = client.execute(prompt="Greet {name}", variables={"name": "Ann"})
    assert result.status == "completed"
    assert [e.status for e in events] == [503, 502, 200]
    assert [e.attempt for e in events] == [1, 2, 3]
    assert [e.will_retry for e in events] == [True, True, False]
    keys = {s.headers["idempotency-key"] for s in proxy.seen}
    assert len(keys) == 1 and len(proxy.seen) == 3
    assert _executions(server, key) == 1


def test_dropped_response_is_retried_and_runs_once(
    proxy: FaultProxy, key: str, server: ServerHandle
) -> None:
    """The server did the work, the answer was lost: the retry replays, it doesn't re-run."""
    proxy.then(Fault("drop_after"))
    with _client(proxy, key) as client:
        result = client.execute(prompt="exactly once")
    assert len(proxy.seen) == 2
    assert proxy.seen[0].headers["idempotency-key"] == proxy.seen[1].headers["idempotency-key"]
    assert _executions(server, key) == 1
    with server.client(key) as c:
        stored = c.get("/executions").json()["executions"][0]
    assert stored["execution_id"] == result.execution_id


def test_connection_dropped_before_the_server_sees_it(proxy: FaultProxy, key: str) -> None:
    proxy.then(Fault("drop"), Fault("drop"))
    with _client(proxy, key, max_retries=2) as client:
        assert client.auth.verify().valid
    assert len(proxy.seen) == 3


def test_gives_up_after_max_retries(proxy: FaultProxy, key: str) -> None:
    proxy.then(*[Fault("status", 503)] * 5)
    with _client(proxy, key, max_retries=2) as client, pytest.raises(ServiceUnavailableError):
        client.rate_limits.get()
    assert len(proxy.seen) == 3
    proxy.plan.clear()
    proxy.then(*[Fault("drop")] * 5)
    with _client(proxy, key, max_retries=1) as client, pytest.raises(APIConnectionError):
        client.rate_limits.get()


def test_retry_after_seconds_is_honoured(proxy: FaultProxy, key: str) -> None:
    proxy.then(Fault("status", 429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    with _client(proxy, key) as client:
        client.models.list()
    assert time.monotonic() - started >= 1.0
    assert len(proxy.seen) == 2


def test_retry_after_http_date_is_honoured(proxy: FaultProxy, key: str) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    proxy.then(Fault("status", 503, headers={"Retry-After": when}))
    started = time.monotonic()
    with _client(proxy, key) as client:
        client.models.list()
    assert time.monotonic() - started >= 0.9  # the date has whole-second precision


def test_long_retry_after_raises_at_once(proxy: FaultProxy, key: str) -> None:
    body = (b'{"error": {"type": "rate_limit_error", "code": "HOURLY_LIMIT_EXCEEDED", '
            b'"message": "slow down", "details": {"limit": 1000, "retry_after": 3600}}}')
    proxy.then(Fault("status", 429, headers={"Retry-After": "3600"}, body=body))
    started = time.monotonic()
    with _client(proxy, key) as client, pytest.raises(RateLimitError) as caught:
        client.execute(prompt="x")
    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 3600
    assert caught.value.limit_type == "hourly"
    assert caught.value.limit == 1000
    assert len(proxy.seen) == 1


def test_stream_cut_midway_keeps_the_partial_text(proxy: FaultProxy, key: str) -> None:
    proxy.then(Fault("cut", cut_after=900))
    with _client(proxy, key) as client, client.stream(
        prompt="Tell me about streams", model_config={"simulate": {"output_tokens": 400,
                                                                    "tokens_per_second": 4000}}
    ) as stream, pytest.raises(StreamInterruptedError) as caught:
        for _ in stream:
            pass
    assert caught.value.partial_text
    with PromptExecutionClient(api_key=key, base_url=proxy.url.replace(
            str(proxy.port), str(proxy.upstream_port))) as direct:
        full = direct.execute(prompt="Tell me about streams",
                              model_config={"simulate": {"output_tokens": 400}}).content
    assert full is not None and full.startswith(caught.value.partial_text)


async def test_silent_stream_times_out_with_the_partial_text(server: ServerHandle,
                                                             key: str) -> None:
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url,
                                          stream_chunk_timeout=0.3) as client:
        async with client.stream(prompt="slow", model_config={
                "simulate": {"latency_ms": 1500}}) as stream:
            with pytest.raises(StreamInterruptedError) as caught:
                async for _ in stream:
                    pass
    assert caught.value.partial_text == ""
    assert "ReadTimeout" in str(caught.value)


def test_pacing_waits_for_the_next_window_instead_of_a_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Burst of 3 a minute, at 10:00:58: the 4th call waits ~2 s for the next window (the
    client's sleep moves the server's fixed clock) instead of collecting a 429."""
    clock = FixedClock(datetime(2024, 1, 15, 10, 0, 58, tzinfo=UTC))
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr("promptexecution.client._sync.sleep", fake_sleep)
    config = ServerConfig(plans={"basic": {"burst_per_minute": 3}})
    with running_server(tmp_path, config=config, clock=clock) as srv, PromptExecutionClient(
        api_key=srv.make_key("basic"), base_url=srv.base_url, pace_requests=True, max_retries=0
    ) as client:
        statuses = []
        client.add_observer(lambda e: statuses.append(e.status))
        for i in range(4):
            client.execute(prompt=f"call {i}")
    assert statuses == [200, 200, 200, 200]
    assert len(slept) == 1 and 1.9 <= slept[0] <= 2.1
