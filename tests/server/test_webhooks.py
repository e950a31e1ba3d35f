"""Batch webhooks: received by a listener in the test, signatures verified, retries logged,
and the private-address rule."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptexecution.server.core.config import ServerConfig
from promptexecution.webhooks import WebhookVerificationError, sign, verify
from tests.conftest import ServerHandle, running_server, serve_in_thread
from tests.server.hooks import Listener, wait_until


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[Listener, str]]:
    listener = Listener()
    with serve_in_thread(listener.app) as (url, _):
        yield listener, f"{url}/hook"


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[ServerHandle]:
    config = ServerConfig(webhook_retry_delays=(0.05, 0.05, 0.05))
    with running_server(tmp_path, config=config) as srv:
        yield srv


def test_completion_webhook_is_signed_and_verifiable(
    hooked: ServerHandle, listener: tuple[Listener, str]
) -> None:
    hook, url = listener
    hook.received.clear()
    with hooked.client() as c:
        batch = c.post("/batch", json={
            "template_id": "sentiment_analysis",
            "inputs": [{"variables": {"text": "great"}}, {"variables": {"text": "bad"}}],
            "processing_options": {"callback_url": url},
        }).json()
        wait_until(lambda: len(hook.received) >= 1)
    secret = subprocess.run(
        [sys.executable, "-m", "promptexecution.cli", "keys", "webhook-secret",
         "--data-dir", str(hooked.data_dir)], capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert secret.startswith("whsec_")
    headers, body = hook.received[-1]
    payload = verify(body, headers, secret)
    assert payload["event"] == "batch.completed"
    assert payload["batch_id"] == batch["batch_id"] and payload["status"] == "completed"
    assert payload["summary"]["total_items"] == 2 and payload["summary"]["completed"] == 2
    assert payload["summary"]["success_rate"] == 100
    assert payload["summary"]["total_cost"] > 0 and payload["summary"]["total_tokens"] > 0
    with pytest.raises(WebhookVerificationError):
        verify(body.replace(b"completed", b"failed__"), headers, secret)
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, "whsec_" + "A" * 44)
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, secret, now=time.time() + 3600)


def test_failed_deliveries_are_retried_and_logged(
    hooked: ServerHandle, listener: tuple[Listener, str]
) -> None:
    hook, url = listener
    hook.received.clear()
    hook.fail_first = 2
    with hooked.client() as c:
        batch = c.post("/batch", json={"prompt": "x", "inputs": [{"variables": {}}],
                                       "callback_url": url}).json()
        wait_until(lambda: len(hook.received) >= 3)
        wait_until(lambda: len(c.get(f"/batch/{batch['batch_id']}/webhooks").json()[
            "deliveries"]) == 3)
        log = c.get(f"/batch/{batch['batch_id']}/webhooks").json()
    attempts = [(d["attempt"], d["status_code"], d["delivered"]) for d in log["deliveries"]]
    assert attempts == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert len({d["webhook_id"] for d in log["deliveries"]}) == 1  # one message, retried
    ids = {h["webhook-id"] for h, _ in hook.received[-3:]}
    assert len(ids) == 1


def test_sign_matches_the_standard_webhooks_example() -> None:
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_progress_updates_send_progress_events(
    hooked: ServerHandle, listener: tuple[Listener, str]
) -> None:
    hook, url = listener
    hook.received.clear()
    hooked.app.state.batch_runner.progress_every = 0.05
    with hooked.client() as c:
        c.post("/batch", json={
            "prompt": "item {n}", "inputs": [{"variables": {"n": i}} for i in range(10)],
            "model_config": {"simulate": {"latency_ms": 40}},
            "processing_options": {"callback_url": url, "progress_updates": True,
                                   "max_concurrent": 1},
        })
        wait_until(lambda: any(b"batch.completed" in body for _, body in hook.received))
    events = [json.loads(body)["event"] for _, body in hook.received]
    assert events.count("batch.progress") >= 2 and events[-1] == "batch.completed"
    progress = [json.loads(body) for _, body in hook.received
                if json.loads(body)["event"] == "batch.progress"]
    done = [p["summary"]["completed"] for p in progress]
    assert done == sorted(done) and 0 < done[0] < 10
