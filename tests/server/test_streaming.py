"""Streaming: deltas, exactly one completed (same object as GET), errors, pings, disconnects."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from httpx_sse import connect_sse

from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, running_server


def _events(c: httpx.Client, body: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    with connect_sse(c, "POST", "/execute", json=body) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(e.event, json.loads(e.data)) for e in source.iter_sse()]


def test_deltas_then_one_completed_equal_to_the_stored_execution(client: httpx.Client) -> None:
    events = _events(client, {"template_id": "greeting_template",
                              "variables": {"name": "Bob"}, "stream": True,
                              "model_config": {"simulate": {"tokens_per_second": 2000}}})
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "completed" and kinds.count("completed") == 1
    assert set(kinds[:-1]) == {"delta"} and len(kinds) > 3
    completed = events[-1][1]
    with connect_sse(client, "POST", "/execute", json={"prompt": "hi", "stream": True}) as source:
        streamed_id = source.response.headers["x-execution-id"]
        last = [json.loads(e.data) for e in source.iter_sse()][-1]
    assert last["execution_id"] == streamed_id
    text = "".join(str(data["delta"]) for kind, data in events if kind == "delta")
    assert completed["content"] == text
    assert completed["status"] == "completed"
    assert client.get(f"/executions/{completed['execution_id']}").json() == completed
    non_streamed = client.post("/execute", json={"template_id": "greeting_template",
                                                 "variables": {"name": "Bob"}}).json()
    assert non_streamed["content"] == text
    assert set(non_streamed) == set(completed)


def test_failure_is_one_error_event_in_the_spec_shape(client: httpx.Client) -> None:
    events = _events(client, {"prompt": "x", "stream": True,
                              "model_config": {"simulate": {"fail": "content_policy"}}})
    assert [kind for kind, _ in events] == ["error"]
    error = events[0][1]["error"]
    assert isinstance(error, dict)
    assert error["type"] == "execution_error"
    assert error["code"] == "CONTENT_POLICY_VIOLATION"
    assert error["request_id"].startswith("req_")
    stored = client.get(f"/executions/{error['details']['execution_id']}").json()
    assert stored["status"] == "failed"


def test_validation_errors_come_before_the_stream_starts(client: httpx.Client) -> None:
    response = client.post("/execute", json={"template_id": "greeting_template",
                                             "stream": True})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "TEMPLATE_VARIABLE_MISSING"


def test_disconnect_cancels_and_keeps_the_partial_content(client: httpx.Client) -> None:
    body = {"prompt": "Tell me a long story", "stream": True,
            "model_config": {"simulate": {"tokens_per_second": 50, "output_tokens": 2000}}}
    received = ""
    with connect_sse(client, "POST", "/execute", json=body) as source:
        # Known before any event: the client that stops early can find what was stored.
        execution_id = source.response.headers["x-execution-id"]
        for event in source.iter_sse():
            received += json.loads(event.data)["delta"]
            if len(received) > 40:
                break
    deadline = time.monotonic() + 5
    while True:
        latest = client.get("/executions", params={"limit": 1, "status": "cancelled"}).json()
        if latest["executions"]:
            record = client.get(f"/executions/{latest['executions'][0]['execution_id']}").json()
            if record["rendered_prompt"] == "Tell me a long story":
                break
        assert time.monotonic() < deadline, "execution was not stored as cancelled"
        time.sleep(0.05)
    assert record["status"] == "cancelled" and record["execution_id"] == execution_id
    assert record["content"].startswith(received)
    assert len(record["content"]) < 2000 * 4  # the provider call stopped early
    assert record["metadata"]["finish_reason"] == "cancelled"


def test_idle_stream_gets_comment_pings(tmp_path: Path) -> None:
    with running_server(tmp_path, config=ServerConfig(ping_interval=0.1)) as srv, \
            srv.client() as c:
        body = {"prompt": "slow start", "stream": True,
                "model_config": {"simulate": {"latency_ms": 450}}}
        with c.stream("POST", "/execute", json=body) as response:
            raw = b"".join(response.iter_raw())
    assert raw.count(b": ping\n\n") >= 2
    assert b"event: completed" in raw


def test_concurrent_slot_is_released_after_a_stream(server: ServerHandle) -> None:
    with server.client(server.make_key("basic")) as c:
        for _ in range(7):  # more than the basic plan's 5 concurrent executions
            events = _events(c, {"prompt": "hi", "stream": True})
            assert events[-1][0] == "completed"
        assert c.get("/rate-limits").json()["concurrent"]["active"] == 0
