"""Batches over real HTTP: submit, progress, results, cancel, retry, and a SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, assert_error, running_server, serve_in_thread
from tests.server.hooks import Listener
from tests.server.processes import start_server

# Section 7, "Batch execution", as written.
SPEC_BATCH = """{
    "template_id": "customer_sentiment_analysis",
    "inputs": [
      {
        "id": "feedback_001",
        "variables": {
          "feedback_text": "Excellent service, very satisfied!",
          "customer_segment": "premium"
        }
      },
      {
        "id": "feedback_002",
        "variables": {
          "feedback_text": "Product arrived damaged, poor packaging",
          "customer_segment": "standard"
        }
      }
    ],
    "model_config": {
      "temperature": 0.2,
      "max_tokens": 300
    },
    "processing_options": {
      "priority": "normal",
      "callback_url": "https://your-app.com/webhooks/batch-complete",
      "progress_updates": true
    }
  }"""


def wait_for(c: httpx.Client, batch_id: str, statuses: tuple[str, ...] = (
        "completed", "failed", "cancelled"), timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = c.get(f"/batch/{batch_id}/progress").json()
        if body["status"] in statuses:
            return dict(body)
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def submit(c: httpx.Client, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = c.post("/batch", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_spec_batch_body_end_to_end(client: httpx.Client) -> None:
    response = client.post("/batch", content=SPEC_BATCH,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["batch_id"].startswith("batch_")
    assert body["status"] == "queued" and body["total_items"] == 2
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["estimated_completion"])
    assert body["progress_url"].endswith(f"/v2/batch/{body['batch_id']}/progress")
    assert body["results_url"].endswith(f"/v2/batch/{body['batch_id']}/results")
    progress = wait_for(client, body["batch_id"])
    assert progress["progress"] == {"completed": 2, "failed": 0, "pending": 0, "total": 2,
                                    "cancelled": 0}
    assert set(progress["performance"]) == {"average_execution_time", "throughput_per_minute",
                                            "estimated_completion"}
    assert progress["errors"] == []
    results = client.get(body["results_url"].split("/v2")[1]).json()
    assert [r["item_id"] for r in results["results"]] == ["feedback_001", "feedback_002"]
    for item in results["results"]:
        assert item["status"] == "completed" and item["content"]
        assert set(item["metadata"]) >= {"tokens_used", "execution_time", "cost"}
    summary = results["summary"]
    assert summary["total_tokens"] == sum(r["metadata"]["tokens_used"]
                                          for r in results["results"])
    assert summary["total_cost"] == pytest.approx(sum(r["metadata"]["cost"]
                                                      for r in results["results"]))
    assert summary["success_rate"] == 100


def test_the_other_option_spellings(client: httpx.Client) -> None:
    top = submit(client, {"template_id": "sentiment_analysis",
                          "inputs": [{"variables": {"text": "ok"}}],
                          "callback_url": "https://example.invalid/hook"})
    assert top["webhook_url"] == "https://example.invalid/hook"
    options = submit(client, {"prompt": "Rate: {text}",
                              "inputs": [{"variables": {"text": t}} for t in "xy"],
                              "options": {"max_concurrent": 50, "retry_failed": True}})
    done = wait_for(client, options["batch_id"])
    assert done["status"] == "completed"
    results = client.get(f"/batch/{options['batch_id']}/results").json()["results"]
    assert [r["item_id"] for r in results] == ["item_1", "item_2"]  # generated ids


def test_bad_inputs_are_refused_with_every_bad_item(client: httpx.Client) -> None:
    inputs = [{"id": f"r{i}", "variables": {"feedback_text": "fine"}} for i in range(5)]
    inputs[1]["variables"] = {}
    inputs[3]["variables"] = {"feedback_text": 42}
    inputs[4]["id"] = "r0"
    error = assert_error(client.post("/batch", json={"template_id": "customer_sentiment_analysis",
                                                     "inputs": inputs}),
                         400, "validation_error", "INVALID_BATCH_INPUTS")
    assert error["details"]["invalid_count"] == 3
    codes = {(p["item_id"], p["code"]) for p in error["details"]["invalid_items"]}
    assert codes == {("r1", "TEMPLATE_VARIABLE_MISSING"), ("r3", "INVALID_VARIABLE_TYPE"),
                     ("r0", "DUPLICATE_ITEM_ID")}
    assert client.get("/batch").json()["pagination"]["total"] >= 0  # nothing half-created


def test_limits_and_plans(server: ServerHandle, client: httpx.Client) -> None:
    too_many = {"prompt": "x", "inputs": [{"variables": {}}] * 50_001}
    assert_error(client.post("/batch", json=too_many), 400, "validation_error", "INVALID_FIELD")
    assert_error(client.post("/batch", json={"prompt": "x", "inputs": []}), 400,
                 "validation_error", "INVALID_FIELD")
    with server.client(server.make_key("basic")) as basic:
        assert_error(basic.post("/batch", json={"prompt": "x", "inputs": [{"variables": {}}]}),
                     403, "permission_error", "BATCH_NOT_AVAILABLE")
    with server.client(server.make_key("professional", permissions=("execute",))) as c:
        assert_error(c.post("/batch", json={"prompt": "x", "inputs": [{"variables": {}}]}),
                     403, "permission_error", "INSUFFICIENT_PERMISSIONS")
    assert_error(client.get("/batch/batch_nope/progress"), 404, "not_found_error",
                 "BATCH_NOT_FOUND")


def test_failures_cancel_and_retry(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        failing = submit(c, {"prompt": "x", "inputs": [{"variables": {}}] * 3,
                             "model_config": {"simulate": {"fail": "server_error"}}})
        done = wait_for(c, failing["batch_id"])
        assert done["status"] == "failed"  # every item failed
        assert [e["error_code"] for e in done["errors"]] == ["MODEL_PROVIDER_ERROR"] * 3
        assert all(e["retry_eligible"] for e in done["errors"])
        policy = submit(c, {"prompt": "x", "inputs": [{"variables": {}}],
                            "model_config": {"simulate": {"fail": "content_policy"}}})
        wait_for(c, policy["batch_id"])
        retried = c.post(f"/batch/{policy['batch_id']}/retry").json()
        assert retried["retried_items"] == 0  # not retry-eligible
        retried = c.post(f"/batch/{failing['batch_id']}/retry").json()
        assert retried["retried_items"] == 3
        again = wait_for(c, failing["batch_id"])
        assert again["progress"]["failed"] == 3 and again["progress"]["pending"] == 0
        # Each retried item keeps what its earlier run said; one never retried has none.
        items = c.get(f"/batch/{failing['batch_id']}/results").json()["results"]
        earlier = [item["earlier_attempts"] for item in items]
        assert all(len(runs) == 1 for runs in earlier), items
        first = earlier[0][0]
        assert first["status"] == "failed" and first["error_code"] == "MODEL_PROVIDER_ERROR"
        assert first["result"]["error"]["code"] == "MODEL_PROVIDER_ERROR"
        assert first["attempts"] >= 1 and first["retried_at"].endswith("Z")
        assert c.post(f"/batch/{failing['batch_id']}/retry").json()["retried_items"] == 3
        wait_for(c, failing["batch_id"])
        items = c.get(f"/batch/{failing['batch_id']}/results").json()["results"]
        assert all(len(item["earlier_attempts"]) == 2 for item in items)  # oldest first
        policy_items = c.get(f"/batch/{policy['batch_id']}/results").json()["results"]
        assert "earlier_attempts" not in policy_items[0]

        slow = submit(c, {"prompt": "slow {n}",
                          "inputs": [{"variables": {"n": i}} for i in range(40)],
                          "model_config": {"simulate": {"latency_ms": 100}},
                          "processing_options": {"max_concurrent": 2}})
        time.sleep(0.35)
        cancelled = c.post(f"/batch/{slow['batch_id']}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] in ("cancelling", "cancelled")
        final = wait_for(c, slow["batch_id"], ("cancelled",))
        progress = final["progress"]
        assert progress["completed"] >= 2 and progress["cancelled"] >= 1
        assert progress["completed"] + progress["cancelled"] == 40
        results = c.get(f"/batch/{slow['batch_id']}/results", params={"status": "completed"})
        assert all(r["content"] for r in results.json()["results"])
        assert_error(c.post(f"/batch/{slow['batch_id']}/cancel"), 409, "conflict_error",
                     "BATCH_FINISHED")


def test_idempotent_submit_and_listing(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        body = {"prompt": "hi", "inputs": [{"variables": {}}]}
        first = submit(c, body, **{"Idempotency-Key": "b-1"})
        second = c.post("/batch", json=body, headers={"Idempotency-Key": "b-1"})
        assert second.json() == first and second.headers["idempotent-replayed"] == "true"
        submit(c, {"prompt": "other", "inputs": [{"variables": {}}]})
        listing = c.get("/batch").json()
        assert listing["pagination"]["total"] == 2
        assert listing["batches"][1]["batch_id"] == first["batch_id"]  # newest first
        wait_for(c, first["batch_id"])
        completed = c.get("/batch", params={"status": "completed"}).json()
        assert first["batch_id"] in {b["batch_id"] for b in completed["batches"]}


def test_sigkill_mid_batch_resumes_with_one_result_per_item(tmp_path: Path) -> None:
    data = tmp_path / "data"

    def start() -> tuple[subprocess.Popen[str], str]:
        return start_server(data, "--log-level", "warning")

    proc, url = start()
    key = (data / "local.key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    total = 120
    with httpx.Client(base_url=url, headers=headers) as c:
        batch = submit(c, {"prompt": "item {n}", "inputs": [
            {"id": f"i{n:03d}", "variables": {"n": n}} for n in range(total)],
            "model_config": {"simulate": {"latency_ms": 30}},
            "processing_options": {"max_concurrent": 8}})
        while c.get(f"/batch/{batch['batch_id']}/progress").json()["progress"]["completed"] < 20:
            time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    proc, url = start()
    try:
        with httpx.Client(base_url=url, headers=headers) as c:
            final = wait_for(c, batch["batch_id"], timeout=30)
            results = c.get(f"/batch/{batch['batch_id']}/results").json()
    finally:
        proc.terminate()
        proc.wait(10)
    assert final["status"] == "completed"
    assert final["progress"]["completed"] == total and final["progress"]["pending"] == 0
    items = results["results"]
    assert [r["item_id"] for r in items] == [f"i{n:03d}" for n in range(total)]
    assert all(r["status"] == "completed" for r in items)
    assert len({r["execution_id"] for r in items}) == total
    assert results["summary"]["total_cost"] == pytest.approx(sum(r["metadata"]["cost"]
                                                                 for r in items))
    assert results["summary"]["total_tokens"] == sum(r["metadata"]["tokens_used"]
                                                     for r in items)


def test_sigterm_mid_batch_stops_the_server_promptly_and_the_batch_goes_on_after(
        tmp_path: Path) -> None:
    """A batch running flat out (latency 0) once kept `pe serve` from stopping: each
    cancelled item woke the runner, and Python 3.11's wait_for swallowed the runner's own
    cancel, so it kept starting items."""
    data = tmp_path / "data"
    proc, url = start_server(data, "--log-level", "warning")
    key = (data / "local.key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    total = 8_000
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            batch = submit(c, {"prompt": "n {{ n }}", "inputs": [
                {"variables": {"n": n}} for n in range(total)]})
            while c.get(f"/batch/{batch['batch_id']}/progress").json()["progress"][
                    "completed"] < 3000:
                time.sleep(0.02)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    proc, url = start_server(data, "--log-level", "warning")
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            final = wait_for(c, batch["batch_id"], timeout=120)
    finally:
        proc.terminate()
        proc.wait(10)
    assert final["status"] == "completed" and final["progress"]["completed"] == total


# Section 3, use case 3, "Raw HTTP Example", as written.
USE_CASE_3_RAW = """{
    "template_id": "sentiment_analysis_detailed_v1",
    "inputs": [
      {
        "id": "review_001",
        "variables": {
          "review_text": "Great product, fast shipping!",
          "product_category": "electronics"
        }
      },
      {
        "id": "review_002", 
        "variables": {
          "review_text": "Poor quality, disappointed with purchase",
          "product_category": "electronics"
        }
      }
    ],
    "model_config": {
      "temperature": 0.3,
      "response_format": "structured"
    },
    "callback_url": "https://your-app.com/webhooks/batch-complete"
  }"""


def test_use_case_3_raw_body(client: httpx.Client) -> None:
    response = client.post("/batch", content=USE_CASE_3_RAW,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["webhook_url"] == "https://your-app.com/webhooks/batch-complete"
    assert set(body) >= {"batch_id", "status", "total_items", "estimated_completion"}
    wait_for(client, body["batch_id"])
    results = client.get(f"/batch/{body['batch_id']}/results").json()["results"]
    assert all(isinstance(json.loads(r["content"]), dict) for r in results)  # structured


def test_retry_failed_retries_transient_failures(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        batch = submit(c, {"prompt": "x", "inputs": [{"variables": {}}],
                           "model_config": {"simulate": {"fail": "timeout"}},
                           "processing_options": {"retry_failed": True}})
        wait_for(c, batch["batch_id"])
        item = c.get(f"/batch/{batch['batch_id']}/results").json()["results"][0]
        assert item["status"] == "failed" and item["attempts"] == 3
        assert item["error"]["code"] == "MODEL_TIMEOUT" and item["retry_eligible"] is True


def test_higher_priority_batches_go_first(tmp_path: Path) -> None:
    config = ServerConfig(plans={"professional": {"concurrent": 2}})
    with running_server(tmp_path, config=config) as srv, \
            srv.client(srv.make_key("professional")) as c:
        slow = {"simulate": {"latency_ms": 60}}
        low = submit(c, {"prompt": "low {n}", "inputs": [{"variables": {"n": i}}
                                                        for i in range(16)],
                         "model_config": slow, "processing_options": {"priority": "low"}})
        high = submit(c, {"prompt": "high {n}", "inputs": [{"variables": {"n": i}}
                                                          for i in range(4)],
                          "model_config": slow, "processing_options": {"priority": "high"}})
        wait_for(c, high["batch_id"])
        # The low batch came first, but the high one took the account's two slots.
        assert c.get(f"/batch/{low['batch_id']}/progress").json()["progress"]["pending"] >= 8
        wait_for(c, low["batch_id"])
        assert c.get("/rate-limits").json()["concurrent"]["active"] == 0


def test_retry_while_the_batch_still_runs(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        batch = submit(c, {"prompt": "item {n}",
                           "inputs": [{"variables": {"n": i}} for i in range(30)],
                           "model_config": {"simulate": {"latency_ms": 40,
                                                         "fail": "server_error"}},
                           "processing_options": {"max_concurrent": 2}})
        while c.get(f"/batch/{batch['batch_id']}/progress").json()["progress"]["failed"] < 4:
            time.sleep(0.02)
        retried = c.post(f"/batch/{batch['batch_id']}/retry").json()
        assert retried["retried_items"] >= 4
        final = wait_for(c, batch["batch_id"])
        results = c.get(f"/batch/{batch['batch_id']}/results").json()
    assert final["status"] == "failed"
    assert final["progress"] == {"completed": 0, "failed": 30, "pending": 0, "total": 30,
                                 "cancelled": 0}
    items = results["results"]
    assert [r["item_id"] for r in items] == [f"item_{n}" for n in range(1, 31)]
    assert sum(1 for r in items if r["attempts"] == 2) == retried["retried_items"]


def _hooked_listener() -> Any:
    listener = Listener()
    return listener, serve_in_thread(listener.app)


def test_an_item_that_fails_in_an_unexpected_way_is_failed_never_left_pending(
    fresh_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any failure of an item is that item's failed result, with its error code; the batch
    ends only when nothing is pending, and its webhook's summary adds up."""
    real_run = fresh_server.ctx.executions.run

    async def flaky(prepared: Any, **kwargs: Any) -> Any:
        if "odd" in prepared.generation.prompt:
            raise RuntimeError("a bug in the server")
        return await real_run(prepared, **kwargs)

    monkeypatch.setattr(fresh_server.ctx.executions, "run", flaky)
    listener, serving_hooks = _hooked_listener()
    with serving_hooks as (hook_url, _), fresh_server.client() as c:
        batch = submit(c, {"prompt": "item {kind}", "inputs": [
            {"id": f"i{n}", "variables": {"kind": "odd" if n % 2 else "even"}}
            for n in range(6)], "processing_options": {"callback_url": f"{hook_url}/hook"}})
        final = wait_for(c, batch["batch_id"])
        results = c.get(f"/batch/{batch['batch_id']}/results").json()
        deadline = time.monotonic() + 10
        while not listener.received and time.monotonic() < deadline:
            time.sleep(0.02)
    assert final["status"] == "completed"
    assert final["progress"] == {"completed": 3, "failed": 3, "cancelled": 0, "pending": 0,
                                 "total": 6}
    failed = [r for r in results["results"] if r["status"] == "failed"]
    assert [r["item_id"] for r in failed] == ["i1", "i3", "i5"]
    assert {r["error"]["code"] for r in failed} == {"INTERNAL_ERROR"}
    assert all(r["retry_eligible"] for r in failed)
    [event] = listener.events()
    summary = event["summary"]
    assert event["event"] == "batch.completed" and summary["success_rate"] == 50.0
    assert summary["completed"] + summary["failed"] + summary["cancelled"] == \
        summary["total_items"] == 6


def test_a_result_that_cannot_be_stored_keeps_the_batch_unfinished_until_it_is(
    fresh_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fresh_server.ctx.batch_store
    real_record = store.record_results
    refusals = [3]

    def full_disk(results: Any, now_us: int) -> None:
        if refusals[0] > 0:
            refusals[0] -= 1
            raise sqlite3.OperationalError("database or disk is full")
        real_record(results, now_us)

    monkeypatch.setattr(store, "record_results", full_disk)
    with fresh_server.client() as c:
        batch = submit(c, {"prompt": "x {n}", "inputs": [{"variables": {"n": n}}
                                                         for n in range(3)]})
        time.sleep(0.3)
        early = c.get(f"/batch/{batch['batch_id']}").json()
        final = wait_for(c, batch["batch_id"], timeout=20)
    assert early["status"] in ("queued", "processing")
    assert final["status"] == "completed"
    assert final["progress"]["completed"] == 3 and final["progress"]["pending"] == 0


def test_batch_items_are_executions_in_history(client: httpx.Client) -> None:
    batch = submit(client, {"template_id": "sentiment_analysis", "inputs": [
        {"id": f"r{n}", "variables": {"text": f"text {n}"}} for n in range(4)]})
    wait_for(client, batch["batch_id"])
    results = client.get(f"/batch/{batch['batch_id']}/results").json()["results"]
    for item in results:
        execution = client.get(f"/executions/{item['execution_id']}")
        assert execution.status_code == 200, execution.text
        body = execution.json()
        assert body["batch_id"] == batch["batch_id"]
        assert body["batch_item_id"] == item["item_id"]
        assert body["content"] == item["content"]
    listed = client.get("/executions", params={"batch_id": batch["batch_id"]}).json()
    assert listed["pagination"]["total"] == 4
    assert {e["execution_id"] for e in listed["executions"]} == {
        r["execution_id"] for r in results}
    assert {e["batch_id"] for e in listed["executions"]} == {batch["batch_id"]}
    failed = client.get("/executions", params={"batch_id": batch["batch_id"],
                                               "status": "failed"}).json()
    assert failed["pagination"]["total"] == 0 and failed["executions"] == []
    assert client.get("/executions", params={"batch_id": "batch_nope"}).json()[
        "pagination"]["total"] == 0
