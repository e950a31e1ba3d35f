"""Retries, backoff, Retry-After, idempotency, broken and silent streams and pacing, through a
fault-injecting proxy (tests/client/faultproxy.py) in front of the real server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from promptexecution.client import (
    AsyncPromptExecutionClient,
    RequestEvent,
    SyncPromptExecutionClient,
    TextDelta,
)
from promptexecution.exceptions import (
    RateLimitError,
    ServiceUnavailableError,
    StreamInterruptedError,
)
from promptexecution.server.core.config import ServerConfig
from tests.client.faultproxy import Fault, FaultProxy
from tests.conftest import ServerHandle, running_server


@pytest.fixture
def proxy(server: ServerHandle) -> Iterator[FaultProxy]:
    with FaultProxy(server.url) as p:
        yield p


def through(proxy: FaultProxy, key: str, events: list[RequestEvent] | None = None,
            initial_backoff: float = 0.02, **options: Any) -> AsyncPromptExecutionClient:
    client = AsyncPromptExecutionClient(api_key=key, base_url=proxy.url, **options)
    client._core.config.initial_backoff = initial_backoff
    if events is not None:
        client.add_observer(events.append)
    return client


async def until_running(client: AsyncPromptExecutionClient) -> None:
    """Waits until the account has an execution in flight."""
    for _ in range(500):
        if (await client.rate_limits.get()).concurrent.active:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the slow execution never started")


def gaps(seen: list[Any]) -> list[float]:
    return [b.at - a.at for a, b in zip(seen, seen[1:], strict=False)]


async def execution_count(server: ServerHandle, key: str) -> int:
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as client:
        return (await client.executions.list()).pagination.total


# ---------------------------------------------------------------------------- backoff


def test_backoff_formula(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    with SyncPromptExecutionClient(api_key="pe_sk_test_x", base_url=server.base_url) as client:
        core = client._core
        assert (core.config.initial_backoff, core.config.max_backoff) == (0.5, 8.0)
        for factor in (0.75, 1.0):
            monkeypatch.setattr("promptexecution.client._core.random.uniform",
                                lambda lo, hi, f=factor: {0.75: lo, 1.0: hi}[f])
            assert [core.backoff(n) for n in range(6)] == [
                min(8.0, 0.5 * 2**n) * factor for n in range(6)
            ]


async def test_dropped_connections_are_retried_with_one_idempotency_key(
    server: ServerHandle, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("promptexecution.client._core.random.uniform", lambda lo, hi: hi)
    key = server.make_key()
    events: list[RequestEvent] = []
    proxy.then(Fault("drop"), Fault("drop"))
    async with through(proxy, key, events, initial_backoff=0.1, max_retries=2) as client:
        result = await client.execute(prompt="survive two drops")
    assert result.status == "completed"
    posts = proxy.requests("POST", "/execute")
    assert [s.fault for s in posts] == ["drop", "drop", "forward"]
    keys = {s.headers["idempotency-key"] for s in posts}
    assert len(keys) == 1 and keys.pop().startswith("pe-")
    assert len({s.body for s in posts}) == 1
    assert [(e.attempt, e.status, e.will_retry) for e in events] == [
        (1, None, True), (2, None, True), (3, 200, False),
    ]
    first, second = gaps(posts)
    assert 0.1 <= first < 0.6 and 0.2 <= second < 0.7  # 0.1 * 2**n (jitter pinned to 1.0)
    assert await execution_count(server, key) == 1


async def test_503s_are_retried_with_exponential_backoff(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    events: list[RequestEvent] = []
    proxy.then(*[Fault("status", 503)] * 3)
    async with through(proxy, server.make_key(), events, initial_backoff=0.1,
                       max_retries=3) as client:
        client._core.config.max_backoff = 0.2
        listed = await client.templates.list()
    assert listed.pagination.total == 0
    seen = proxy.requests("GET", "/templates")
    assert [s.fault for s in seen] == ["status"] * 3 + ["forward"]
    waits = gaps(seen)
    # min(max_backoff, initial * 2**n) * uniform(0.75, 1.0): 0.1, 0.2, then capped at 0.2
    assert 0.075 <= waits[0] < 0.5
    assert 0.15 <= waits[1] < 0.6 and 0.15 <= waits[2] < 0.6
    assert [(e.status, e.attempt, e.will_retry) for e in events] == [
        (503, 1, True), (503, 2, True), (503, 3, True), (200, 4, False),
    ]

    events.clear()
    proxy.then(*[Fault("status", 503)] * 4)
    async with through(proxy, server.make_key(), events, max_retries=3) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.templates.list()
    assert [e.attempt for e in events] == [1, 2, 3, 4]
    assert events[-1].will_retry is False


# ---------------------------------------------------------------------------- Retry-After


async def test_429_retry_after_seconds_is_honoured(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    key = server.make_key()
    events: list[RequestEvent] = []
    proxy.then(Fault("status", 429, headers={"Retry-After": "1"}))
    # A backoff of >= 3.75 s would show if Retry-After were ignored.
    async with through(proxy, key, events, initial_backoff=5.0) as client:
        result = await client.execute(prompt="wait a second")
    posts = proxy.requests("POST", "/execute")
    assert len(posts) == 2
    assert 1.0 <= gaps(posts)[0] < 2.5
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert [(e.status, e.will_retry) for e in events] == [(429, True), (200, False)]
    assert result.status == "completed"
    assert await execution_count(server, key) == 1


async def test_429_retry_after_http_date_is_honoured(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    async with through(proxy, server.make_key(), initial_backoff=5.0) as client:
        # The date is taken once the client exists: on a loaded machine making the key and
        # the client took long enough to eat into the wait (CI saw the gap fall below 0.95 s).
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        proxy.then(Fault("status", 429, headers={"Retry-After": when}))
        await client.models.list()
    seen = proxy.requests("GET", "/models")
    assert len(seen) == 2
    assert 0.95 <= gaps(seen)[0] < 3.0  # the date has 1 s resolution: 1 to 2 s from now


async def test_429_with_a_long_retry_after_raises_at_once(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    events: list[RequestEvent] = []
    proxy.then(Fault("status", 429, headers={"Retry-After": "3600"}))
    async with through(proxy, server.make_key(), events, max_retries=5) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await client.execute(prompt="not now")
        assert time.monotonic() - started < 0.5
    assert info.value.retry_after == 3600.0
    assert info.value.status_code == 429
    assert len(proxy.requests("POST", "/execute")) == 1
    assert [(e.status, e.will_retry) for e in events] == [(429, False)]


async def test_the_real_servers_concurrency_retry_after_is_honoured(tmp_path: Path) -> None:
    config = ServerConfig(plans={"enterprise": {"concurrent": 1}})
    with running_server(tmp_path / "one-slot", config=config) as server:
        events: list[RequestEvent] = []
        async with AsyncPromptExecutionClient(api_key=server.make_key("enterprise"),
                                              base_url=server.base_url) as client:
            slow = asyncio.create_task(client.execute(
                prompt="slow", model_config={"simulate": {"latency_ms": 300}}))
            await until_running(client)
            client.add_observer(events.append)
            started = time.monotonic()
            fast = await client.execute(prompt="fast")
            elapsed = time.monotonic() - started
            await slow
    assert fast.status == "completed"
    # (The slow call's own 200, attempt 1, lands in between.)
    retried = [(e.attempt, e.status, e.error_code, e.will_retry) for e in events
               if e.status == 429 or e.attempt > 1]
    assert retried == [(1, 429, "CONCURRENT_LIMIT_EXCEEDED", True), (2, 200, None, False)]
    assert elapsed >= 1.0  # the server said Retry-After: 1


async def test_an_idempotency_key_still_in_use_is_retried_then_replayed(
    server: ServerHandle,
) -> None:
    key = server.make_key()
    ikey = f"inuse-{uuid.uuid4()}"
    events: list[RequestEvent] = []
    slow = {"simulate": {"latency_ms": 300}}
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url,
                                          max_retries=3) as client:
        client._core.config.initial_backoff = 0.2
        first = asyncio.create_task(
            client.execute(prompt="once", model_config=slow, idempotency_key=ikey))
        await until_running(client)
        client.add_observer(events.append)
        second = await client.execute(prompt="once", model_config=slow, idempotency_key=ikey)
        original = await first
    assert second.execution_id == original.execution_id
    assert events[0].status == 409 and events[0].error_code == "IDEMPOTENCY_KEY_IN_USE"
    assert events[0].will_retry is True and events[-1].status == 200
    assert await execution_count(server, key) == 1


# ---------------------------------------------------------------------------- idempotency


async def test_a_post_answered_but_lost_is_retried_and_runs_once(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    key = server.make_key()
    events: list[RequestEvent] = []
    proxy.then(Fault("drop_after"))
    async with through(proxy, key, events) as client:
        result = await client.execute(prompt="exactly once, please")
    posts = proxy.requests("POST", "/execute")
    assert [s.fault for s in posts] == ["drop_after", "forward"]
    assert posts[0].response_status == 200  # the server did run it the first time
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert posts[1].response_headers.get("idempotent-replayed") == "true"
    assert [(e.attempt, e.status) for e in events] == [(1, None), (2, 200)]
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as direct:
        history = await direct.executions.list()
    assert history.pagination.total == 1
    assert history.executions[0].execution_id == result.execution_id


def test_the_sync_client_retries_a_lost_answer_with_the_same_key(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    key = server.make_key()
    proxy.then(Fault("drop_after"), Fault("status", 502, body=b""))
    with SyncPromptExecutionClient(api_key=key, base_url=proxy.url) as client:
        client._core.config.initial_backoff = 0.02
        result = client.execute(prompt="sync, exactly once")
        again = client.execute(prompt="sync, exactly once")  # a new call: a new key
    posts = proxy.requests("POST", "/execute")
    assert [s.fault for s in posts] == ["drop_after", "status", "forward", "forward"]
    assert len({s.headers["idempotency-key"] for s in posts[:3]}) == 1
    assert posts[3].headers["idempotency-key"] != posts[0].headers["idempotency-key"]
    assert again.execution_id != result.execution_id
    with SyncPromptExecutionClient(api_key=key, base_url=server.base_url) as direct:
        assert direct.executions.list().pagination.total == 2
        assert direct.executions.get(result.execution_id).status == "completed"


# ---------------------------------------------------------------------------- streams


STREAM_SETTINGS = {"simulate": {"output_tokens": 1500, "tokens_per_second": 30000}}


async def test_a_stream_cut_midway_keeps_the_partial_text(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    key = server.make_key()
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as direct:
        full = (await direct.execute(prompt="A long story",
                                     model_config=STREAM_SETTINGS)).content
    assert full and len(full) > 3000
    proxy.then(Fault("cut", cut_after=1500))
    deltas: list[str] = []
    async with through(proxy, key) as client:
        async with client.stream(prompt="A long story", model_config=STREAM_SETTINGS) as stream:
            with pytest.raises(StreamInterruptedError) as info:
                async for event in stream:
                    assert isinstance(event, TextDelta)
                    deltas.append(event.text)
            partial = stream.text
    error = info.value
    assert error.partial_text == partial == "".join(deltas)
    assert error.partial_text and full.startswith(error.partial_text)
    assert len(error.partial_text) < len(full)
    assert error.request_id and error.request_id.startswith("req_")
    assert len(proxy.requests("POST", "/execute")) == 1  # a started stream is not retried


async def test_a_stream_whose_answer_was_lost_is_replayed_not_rerun(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    key = server.make_key()
    events: list[RequestEvent] = []
    proxy.then(Fault("drop_after"))
    async with through(proxy, key, events) as client:
        async with client.stream(prompt="Stream once", model_config=STREAM_SETTINGS) as stream:
            final = await stream.final_execution()
            assert stream.text == final.content
    posts = proxy.requests("POST", "/execute")
    assert [s.fault for s in posts] == ["drop_after", "forward"]
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert posts[1].response_headers.get("idempotent-replayed") == "true"
    assert [(e.attempt, e.status) for e in events if not e.stream_completed] == [
        (1, None), (2, 200)]
    assert sum(e.stream_completed for e in events) == 1  # one answer, reported once
    assert final.status == "completed" and final.content
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as direct:
        history = await direct.executions.list()
    assert history.pagination.total == 1
    assert history.executions[0].execution_id == final.execution_id


def test_a_sync_stream_cut_midway_raises_from_final_execution(
    server: ServerHandle, proxy: FaultProxy
) -> None:
    proxy.then(Fault("cut", cut_after=1200))
    with SyncPromptExecutionClient(api_key=server.make_key(), base_url=proxy.url) as client:
        with client.stream(prompt="Another long story", model_config=STREAM_SETTINGS) as s:
            with pytest.raises(StreamInterruptedError) as info:
                s.final_execution()
        assert info.value.partial_text and info.value.partial_text == s.text
        full = client.execute(prompt="Another long story", model_config=STREAM_SETTINGS)
    assert full.content and full.content.startswith(info.value.partial_text)


async def test_a_silent_stream_times_out_between_chunks(tmp_path: Path) -> None:
    with running_server(tmp_path / "quiet", config=ServerConfig(ping_interval=30)) as server:
        async with AsyncPromptExecutionClient(api_key=server.make_key(),
                                              base_url=server.base_url,
                                              stream_chunk_timeout=0.3) as client:
            timeout = client._core.timeout(stream=True)
            assert (timeout.read, timeout.connect) == (0.3, 10.0)  # chunk gap, and connect
            # ~75 tokens at 150/s: longer than the chunk timeout in total, yet never silent
            # for long, so it completes.
            steady = {"simulate": {"output_tokens": 12, "tokens_per_second": 150}}
            started = time.monotonic()
            async with client.stream(prompt="Steady", model_config=steady) as stream:
                final = await stream.final_execution()
            assert final.status == "completed"
            assert time.monotonic() - started > 0.3

            # One piece, then a gap of >= 0.66 s.
            slow = {"simulate": {"output_tokens": 30, "tokens_per_second": 1.5}}
            started = time.monotonic()
            async with client.stream(prompt="Slow", model_config=slow) as stream:
                with pytest.raises(StreamInterruptedError) as info:
                    await stream.final_execution()
            elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    assert info.value.partial_text and info.value.partial_text == stream.text
    assert "ReadTimeout" in str(info.value)


# ---------------------------------------------------------------------------- pacing


async def test_pacing_waits_for_the_burst_window_instead_of_a_429(tmp_path: Path) -> None:
    shift = [timedelta(0)]

    def clock() -> datetime:
        return datetime.now(UTC) + shift[0]

    config = ServerConfig(plans={"basic": {"burst_per_minute": 2}})
    with running_server(tmp_path / "paced", config=config, clock=clock) as server:
        now = datetime.now(UTC)
        # The server's minute is 1.6 s from its end (its Date header agrees, via the proxy).
        shift[0] = timedelta(seconds=58.4 - now.timestamp() % 60)
        with FaultProxy(server.url, date=lambda: format_datetime(clock(), usegmt=True)) as p:
            async with through(p, server.make_key("basic"), max_retries=0) as eager:
                await eager.execute(prompt="one")
                await eager.execute(prompt="two")
                assert eager._core.pacing_delay() == 0.0  # pacing is off by default
                with pytest.raises(RateLimitError) as info:
                    await eager.execute(prompt="three")
                assert info.value.limit_type == "burst"

            events: list[RequestEvent] = []
            async with through(p, server.make_key("basic"), events, max_retries=0,
                               pace_requests=True) as paced:
                paced._core.config.pace_threshold = 0
                await paced.execute(prompt="one")
                assert paced._core.pacing_delay() == 0.0
                await paced.execute(prompt="two")
                delay = paced._core.pacing_delay()
                assert 0.3 < delay < 2.5
                started = time.monotonic()
                third = await paced.execute(prompt="three")
                waited = time.monotonic() - started
    assert third.status == "completed"
    assert waited >= delay - 0.1
    assert [e.status for e in events] == [200, 200, 200]
    assert [e.rate_limit.burst_remaining for e in events] == [1, 0, 1]  # a fresh window
