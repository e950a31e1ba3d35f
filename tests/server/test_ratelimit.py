"""Per-account limits: burst, hourly and concurrent 429s, headers on every response."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from promptexecution.server.core.clock import FixedClock
from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, assert_error, running_server

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
           "x-ratelimit-burst-limit", "x-ratelimit-burst-remaining")


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[ServerHandle, FixedClock]]:
    clock = FixedClock(datetime(2024, 1, 15, 9, 59, 0, tzinfo=UTC))
    config = ServerConfig(plans={"basic": {"burst_per_minute": 3, "requests_per_hour": 5,
                                           "concurrent": 1}})
    with running_server(tmp_path, config=config, clock=clock) as srv:
        yield srv, clock


def test_burst_then_hourly_limits(limited: tuple[ServerHandle, FixedClock]) -> None:
    srv, clock = limited
    with srv.client(srv.make_key("basic")) as c:
        for i in range(3):
            response = c.post("/execute", json={"prompt": "x"})
            assert response.status_code == 200
            assert response.headers["x-ratelimit-burst-remaining"] == str(2 - i)
        response = c.post("/execute", json={"prompt": "x"})
        error = assert_error(response, 429, "rate_limit_error", "BURST_LIMIT_EXCEEDED")
        assert error["details"] == {"limit": 3, "reset_time": "2024-01-15T10:00:00Z",
                                    "retry_after": 60}
        assert response.headers["retry-after"] == "60"
        for header in HEADERS:
            assert header in response.headers
        # Reads don't count: still answered while the burst is spent.
        assert c.get("/executions").status_code == 200

        clock.advance(30)  # 09:59:30: same minute window... still limited
        assert c.post("/execute", json={"prompt": "x"}).status_code == 429
        clock.advance(31)  # 10:00:01: a new hour and a new minute
        for _ in range(3):
            assert c.post("/execute", json={"prompt": "x"}).status_code == 200
        clock.advance(60)
        for _ in range(2):
            assert c.post("/execute", json={"prompt": "x"}).status_code == 200
        response = c.post("/templates", json={"name": "t", "prompt": "p"})
        error = assert_error(response, 429, "rate_limit_error", "HOURLY_LIMIT_EXCEEDED")
        assert error["details"]["limit"] == 5
        assert error["details"]["reset_time"] == "2024-01-15T11:00:00Z"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.headers["x-ratelimit-reset"] == str(
            int(datetime(2024, 1, 15, 11, tzinfo=UTC).timestamp())
        )


def test_limits_are_per_account(limited: tuple[ServerHandle, FixedClock]) -> None:
    srv, _ = limited
    with srv.client(srv.make_key("basic")) as a, srv.client(srv.make_key("basic")) as b:
        for _ in range(3):
            a.post("/execute", json={"prompt": "x"})
        assert a.post("/execute", json={"prompt": "x"}).status_code == 429
        assert b.post("/execute", json={"prompt": "x"}).status_code == 200


def test_concurrent_limit(limited: tuple[ServerHandle, FixedClock]) -> None:
    srv, _ = limited
    with srv.client(srv.make_key("basic")) as c:
        slow = {"prompt": "x", "model_config": {"simulate": {"latency_ms": 700}}}
        thread = threading.Thread(target=lambda: c.post("/execute", json=slow))
        thread.start()
        time.sleep(0.25)
        assert c.get("/rate-limits").json()["concurrent"] == {"limit": 1, "active": 1,
                                                              "available": 0}
        response = c.post("/execute", json={"prompt": "y"})
        error = assert_error(response, 429, "rate_limit_error", "CONCURRENT_LIMIT_EXCEEDED")
        assert error["details"]["retry_after"] >= 1
        assert "retry-after" in response.headers
        thread.join()
        assert c.get("/rate-limits").json()["concurrent"]["active"] == 0


def test_headers_on_every_authenticated_response(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        for response in (c.get("/auth/verify"), c.get("/templates/missing"),
                         c.post("/execute", json={}), c.get("/nothing-here")):
            for header in HEADERS:
                assert header in response.headers, (response.url, header)
        assert c.get("/rate-limits").json()["hourly"]["used"] == 1  # only the POST counted
    assert "x-ratelimit-limit" not in httpx.get(f"{server.url}/health").headers
