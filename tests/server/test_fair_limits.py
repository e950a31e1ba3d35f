"""Fair limits and fair accounting: a refused request uses no quota (nor do the SDK's retries
of it), a client that leaves frees its slot at once, and usage survives a restart."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from promptexecution import PromptExecutionClient
from promptexecution.server.core.clock import FixedClock
from tests.conftest import ServerHandle, running_server
from tests.server.processes import pe, start_server

SLOW = {"prompt": "Hello", "model_config": {"simulate": {"latency_ms": 3000}}}


@pytest.fixture
def still_server(tmp_path: Path) -> Iterator[ServerHandle]:
    """A server whose clock stands still, so no hour or minute window turns over mid-test."""
    with running_server(tmp_path, clock=FixedClock(datetime(2024, 1, 15, 9, 15, tzinfo=UTC))
                        ) as srv:
        yield srv


def _usage(c: httpx.Client) -> tuple[int, int, int]:
    limits = c.get("/rate-limits").json()
    return limits["hourly"]["used"], limits["burst"]["used"], limits["concurrent"]["active"]


def test_requests_refused_for_concurrency_use_no_quota(still_server: ServerHandle) -> None:
    key = still_server.make_key("basic")
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with still_server.client(key) as c:
            status = c.post("/execute", json=SLOW).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = statuses.count(200)
    assert ran >= 5 and statuses.count(429) == 50 - ran >= 40, statuses
    with still_server.client(key) as c:
        assert _usage(c) == (ran, ran, 0)  # only the executions that ran used quota
        after = c.post("/execute", json={"prompt": "x"})
        assert after.status_code == 200
        # The headers of every answer tell the same story.
        assert after.headers["x-ratelimit-remaining"] == str(1000 - ran - 1)


def test_the_sdks_retries_use_no_quota(still_server: ServerHandle) -> None:
    key = still_server.make_key("basic")
    results: list[str] = []
    lock = threading.Lock()
    body = {"model_config": {"simulate": {"latency_ms": 300}}}

    def one(n: int) -> None:
        with PromptExecutionClient(api_key=key, base_url=still_server.base_url,
                                   max_retries=30) as client:
            result = client.execute(prompt=f"Hello {n}", **body)
        with lock:
            results.append(result["status"])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["completed"] * 15
    with still_server.client(key) as c:
        assert _usage(c)[:2] == (15, 15)


def test_an_idempotent_replay_uses_no_quota(still_server: ServerHandle) -> None:
    key = still_server.make_key("basic")
    with still_server.client(key) as c:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        first = c.post("/execute", json={"prompt": "once"}, headers=headers)
        again = c.post("/execute", json={"prompt": "once"}, headers=headers)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert _usage(c)[:2] == (1, 1)


def test_a_client_that_leaves_a_plain_execute_frees_its_slot_at_once(
    fresh_server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    key = fresh_server.make_key("basic")
    with fresh_server.client(key) as c, caplog.at_level(logging.INFO):
        started = time.monotonic()
        try:
            c.post("/execute", json={"prompt": "Hello", "model_config": {
                "simulate": {"latency_ms": 8000}}}, timeout=0.5)
        except httpx.ReadTimeout:
            pass
        deadline = time.monotonic() + 3
        while _usage(c)[2] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _usage(c)[2] == 0
        assert time.monotonic() - started < 3  # not the model's 8 s
        cancelled = c.get("/executions", params={"status": "cancelled"}).json()
        assert cancelled["pagination"]["total"] == 1
        record = c.get(f"/executions/{cancelled['executions'][0]['execution_id']}").json()
        assert record["status"] == "cancelled" and record["metadata"]["finish_reason"] == (
            "cancelled")
    # One line at info, and no traceback from the ASGI server.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert any("disconnected" in r.getMessage() for r in caplog.records), caplog.text


def test_usage_survives_a_restart(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2024, 1, 15, 9, 15, tzinfo=UTC))
    with running_server(tmp_path, clock=clock) as srv:
        key = srv.make_key("basic")
        with srv.client(key) as c:
            for _ in range(3):
                assert c.post("/execute", json={"prompt": "x"}).status_code == 200
            assert _usage(c)[:2] == (3, 3)
    with running_server(tmp_path, clock=clock) as srv, srv.client(key) as c:
        assert _usage(c)[:2] == (3, 3)
        assert c.get("/auth/verify").json()["rate_limit"]["remaining"] == 997


def test_usage_survives_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, url = start_server(data, "--log-level", "warning")
    key = pe("keys", "create", "--data-dir", str(data), "--plan", "basic").stdout.split()[-1]
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            for _ in range(4):
                assert c.post("/execute", json={"prompt": "x"}).status_code == 200
        time.sleep(0.6)  # the counts are written a few times a second
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        proc, url = start_server(data, "--log-level", "warning")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            used, burst, _ = _usage(c)
    finally:
        proc.terminate()
        proc.wait(10)
    assert used == 4
    assert burst in (0, 4)  # 0 if the minute turned over meanwhile
