"""Webhooks cannot be turned on the server's own network (SSRF), and none is lost to a crash:
targets are checked at submit and at delivery, deliveries connect to the checked address,
redirects are not followed, and retries come from a durable outbox."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from promptexecution.server.core.config import ServerConfig
from promptexecution.server.webhooks.targets import TargetPolicy
from tests.conftest import ServerHandle, assert_error, running_server, serve_in_thread
from tests.server.hooks import Listener, wait_until
from tests.server.processes import start_server

# What a server bound to loopback must refuse, with what the refusal names.
REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://100.64.0.1/", "shared"),
    ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
    ("http://[64:ff9b:1::a00:1]/", "special-purpose"),  # local-use NAT64
    ("http://[2002:a00:1::]/", "private"),  # 6to4 of 10.0.0.1
    ("http://[::ffff:10.0.0.1]/", "private"),  # IPv4-mapped
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "address"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "private"),
    ("http://192.0.2.1/", "address"),  # documentation
    ("http://198.18.0.1/", "address"),  # benchmarking
    ("http://2852039166/", "link-local"),  # 169.254.169.254 as one number
    ("http://0xa9fea9fe/", "link-local"),  # and in hex
    ("http://0251.0376.0251.0376/", "link-local"),  # and in octal
    ("http://[fec0::1]/", "special-purpose"),  # site-local, deprecated
    ("http://[64:ff9b:1:7f00:0:100:808:808]/", "special-purpose"),  # local-use NAT64
    ("http://192.0.0.8/", "special-purpose"),
    ("http://192.88.99.1/", "special-purpose"),  # the old 6to4 relay anycast
    ("http://[3fff::1]/", "special-purpose"),  # documentation, since 2024
    ("http://127.0.0.1:9/a\u0001b", "control characters"),
    ("http://127.0.0.1:9/a b", "spaces"),
    ("ftp://example.com/hook", "http(s)"),
    ("http://user:secret@example.com/", "credentials"),
    ("http:///no-host", "host"),
]
LOOPBACK = ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook",
            "http://[::ffff:127.0.0.1]:9/hook", "http://2130706433:9/hook"]


def _submit(c: httpx.Client, url: str, **extra: Any) -> httpx.Response:
    return c.post("/batch", json={"prompt": "x", "inputs": [{}], **extra,
                                  "processing_options": {"callback_url": url}})


@pytest.mark.parametrize(("url", "why"), REFUSED, ids=[u for u, _ in REFUSED])
def test_special_targets_are_refused_at_submit(client: httpx.Client, url: str, why: str) -> None:
    error = assert_error(_submit(client, url), 400, "validation_error", "INVALID_CALLBACK_URL")
    assert why in error["message"], error["message"]
    assert error["details"]["field"] == "callback_url"


def test_a_loopback_server_accepts_loopback_and_unresolved_names(client: httpx.Client) -> None:
    for url in [*LOOPBACK, "https://your-app.com/webhooks/batch-complete"]:
        assert _submit(client, url).status_code == 202, url


@pytest.fixture
def public_server(tmp_path: Path) -> Iterator[ServerHandle]:
    with running_server(tmp_path, bind_host="0.0.0.0") as srv:
        yield srv


def test_a_public_server_refuses_loopback_unless_allowed(public_server: ServerHandle) -> None:
    with public_server.client() as c:
        for url in LOOPBACK:
            error = assert_error(_submit(c, url), 400, "validation_error",
                                 "INVALID_CALLBACK_URL")
            assert "loopback" in error["message"] and "webhook_allow" in error["message"]
    public_server.ctx.webhook_targets = TargetPolicy.build("0.0.0.0", ["127.0.0.0/8", "::1"])
    with public_server.client() as c:
        for url in LOOPBACK:
            assert _submit(c, url).status_code == 202, url
        assert _submit(c, "http://10.0.0.1/").status_code == 400
    public_server.ctx.webhook_targets = TargetPolicy.build("0.0.0.0", ["localhost"])
    with public_server.client() as c:
        assert _submit(c, "http://localhost:9/hook").status_code == 202
        assert _submit(c, "http://127.0.0.1:9/hook").status_code == 400


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[ServerHandle]:
    config = ServerConfig(webhook_retry_delays=(0.05, 0.05))
    with running_server(tmp_path, config=config) as srv:
        yield srv


def _deliveries(c: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    deliveries: list[dict[str, Any]] = c.get(f"/batch/{batch_id}/webhooks").json()["deliveries"]
    return deliveries


def test_the_target_is_checked_again_at_delivery(hooked: ServerHandle) -> None:
    listener = Listener()
    with serve_in_thread(listener.app) as (url, _), hooked.client() as c:
        batch = _submit(c, f"{url}/hook", model_config={"simulate": {"latency_ms": 500}})
        assert batch.status_code == 202
        # Between submit and delivery the address stops being acceptable (as when a name is
        # re-pointed at a private address): the delivery is refused, and not retried.
        hooked.ctx.webhook_targets = TargetPolicy.build("0.0.0.0", [])
        batch_id = batch.json()["batch_id"]
        wait_until(lambda: _deliveries(c, batch_id))
        time.sleep(0.3)
        deliveries = _deliveries(c, batch_id)
    assert len(deliveries) == 1 and not deliveries[0]["delivered"]
    assert deliveries[0]["error"].startswith("refused:") and "loopback" in deliveries[0]["error"]
    assert listener.received == []


def test_a_delivery_connects_to_the_checked_address_with_the_named_host(
    hooked: ServerHandle,
) -> None:
    listener = Listener()
    with serve_in_thread(listener.app) as (url, _), hooked.client() as c:
        port = url.rsplit(":", 1)[1]
        _submit(c, f"http://localhost:{port}/hook?source=pe")
        wait_until(lambda: listener.received)
    headers, _ = listener.received[0]
    assert headers["host"] == f"localhost:{port}"


def test_redirects_are_not_followed(hooked: ServerHandle) -> None:
    elsewhere: list[str] = []

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/inside", status_code=307)

    async def inside(request: Request) -> Response:
        elsewhere.append(request.url.path)
        return Response("reached")

    app = Starlette(routes=[Route("/hook", redirect, methods=["POST"]),
                            Route("/inside", inside, methods=["POST"])])
    with serve_in_thread(app) as (url, _), hooked.client() as c:
        batch_id = _submit(c, f"{url}/hook").json()["batch_id"]
        wait_until(lambda: len(_deliveries(c, batch_id)) == 3)
        deliveries = _deliveries(c, batch_id)
    assert [d["status_code"] for d in deliveries] == [307, 307, 307]
    assert not any(d["delivered"] for d in deliveries) and elsewhere == []


def test_a_retry_waiting_when_the_server_is_killed_is_made_after_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "server.toml").write_text("webhook_retry_delays = [2.0]\n")
    listener = Listener()
    listener.fail_first = 1
    with serve_in_thread(listener.app) as (hook_url, _):
        proc, url = start_server(data, "--log-level", "warning")
        key = (data / "local.key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with httpx.Client(base_url=url, headers=headers) as c:
                batch_id = _submit(c, f"{hook_url}/hook").json()["batch_id"]
                wait_until(lambda: listener.received)
                wait_until(lambda: _deliveries(c, batch_id))  # attempt 1 failed and is logged
            os.kill(proc.pid, signal.SIGKILL)  # while attempt 2 waits its 2 s
            proc.wait(5)
            proc, url = start_server(data, "--log-level", "warning")
            with httpx.Client(base_url=url, headers=headers) as c:
                wait_until(lambda: len(listener.received) == 2, timeout=15)
                wait_until(lambda: len(_deliveries(c, batch_id)) == 2)
                deliveries = _deliveries(c, batch_id)
        finally:
            proc.terminate()
            proc.wait(10)
    first, second = (h for h, _ in listener.received)
    assert first["webhook-id"] == second["webhook-id"]  # the receiver can dedupe
    assert [(d["attempt"], d["status_code"], d["delivered"]) for d in deliveries] == [
        (1, 500, False), (2, 200, True)]
    assert [b for _, b in listener.received][0] == [b for _, b in listener.received][1]


def test_deliveries_go_on_while_the_outbox_is_busy(hooked: ServerHandle) -> None:
    """Many batches finishing at once: every webhook arrives, once."""
    listener = Listener()
    lock = threading.Lock()
    with serve_in_thread(listener.app) as (url, _), hooked.client() as c, lock:
        ids = [_submit(c, f"{url}/hook").json()["batch_id"] for _ in range(40)]
        wait_until(lambda: len(listener.received) >= 40, timeout=20)
        time.sleep(0.2)
    assert sorted(e["batch_id"] for e in listener.events()) == sorted(ids)


def test_an_endless_answer_is_not_read(hooked: ServerHandle) -> None:
    """The status is all a delivery reads: a receiver answering without end cannot fill the
    server's memory or hold a delivery slot."""
    async def endless(request: Request) -> Response:
        async def chunks() -> Any:
            while True:
                yield b"x" * 65536
        return StreamingResponse(chunks())

    app = Starlette(routes=[Route("/hook", endless, methods=["POST"])])
    with serve_in_thread(app) as (url, _), hooked.client() as c:
        batch_id = _submit(c, f"{url}/hook").json()["batch_id"]
        wait_until(lambda: _deliveries(c, batch_id), timeout=15)
        [delivery] = _deliveries(c, batch_id)
    assert delivery["delivered"] and delivery["status_code"] == 200
    assert delivery["duration_ms"] < 5000


def test_an_international_host_is_delivered_to_by_its_ascii_name(
    hooked: ServerHandle,
) -> None:
    with hooked.client() as c:
        batch_id = _submit(c, "http://münchen.invalid/hook").json()["batch_id"]
        wait_until(lambda: _deliveries(c, batch_id), timeout=15)
        first = _deliveries(c, batch_id)[0]
    assert not first["delivered"] and "xn--mnchen-3ya.invalid" in first["error"]
