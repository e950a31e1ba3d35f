"""Watching batches without polling: a server-sent event stream per batch, and one for every
running batch of the account; and the SDK's `batches.watch`, async and sync."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from promptexecution import PromptExecutionClient
from promptexecution.client import AsyncPromptExecutionClient
from tests.conftest import ServerHandle, assert_error
from tests.server.test_batch import submit, wait_for

SLOW = {"simulate": {"latency_ms": 40}}


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of a stream, read to its end."""
    found, kind = [], ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            found.append((kind, json.loads(line[6:])))
    return found


def test_a_batch_stream_pushes_progress_on_change_then_the_finished_batch(
    server: ServerHandle,
) -> None:
    with server.client(server.make_key("professional")) as c:
        batch = submit(c, {"prompt": "item {n}", "inputs": [{"variables": {"n": i}}
                                                            for i in range(12)],
                           "model_config": {"simulate": {"latency_ms": 150}},
                           "processing_options": {"max_concurrent": 2}})
        with c.stream("GET", f"/batch/{batch['batch_id']}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "finished" and set(kinds[:-1]) == {"progress"}
        assert len(kinds) >= 4  # it moved several times while being watched
        done = [data["progress"]["completed"] + data["progress"]["failed"]
                for kind, data in events if kind == "progress"]
        assert done == sorted(done) and done[-1] == 12  # each change once, in order
        assert events[-2][1] == c.get(f"/batch/{batch['batch_id']}/progress").json()
        assert events[-1][1]["batch_id"] == batch["batch_id"]
        assert events[-1][1]["status"] == "completed"
        # A finished batch: its last progress and the batch, at once.
        with c.stream("GET", f"/batch/{batch['batch_id']}/events") as response:
            assert [kind for kind, _ in _events(response)] == ["progress", "finished"]
        assert_error(c.get("/batch/batch_nope/events"), 404, "not_found_error",
                     "BATCH_NOT_FOUND")


def test_one_stream_watches_every_running_batch_of_the_account(server: ServerHandle) -> None:
    key = server.make_key("professional")
    other = server.make_key("professional")  # another account: never on this stream
    seen: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()

    def watch() -> None:
        with server.client(key) as c, c.stream("GET", "/batch/events") as response:
            ready.set()
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    seen.append((kind, json.loads(line[6:])))
                    if sum(k == "finished" for k, _ in seen) == 3:
                        return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10)
    with server.client(key) as c, server.client(other) as o:
        ids = [submit(c, {"prompt": "x {n}", "inputs": [{"variables": {"n": i}}
                                                       for i in range(6)],
                          "model_config": SLOW})["batch_id"] for _ in range(3)]
        theirs = submit(o, {"prompt": "y", "inputs": [{"variables": {}}]})["batch_id"]
        for batch_id in ids:
            wait_for(c, batch_id)
    watcher.join(20)
    assert not watcher.is_alive()
    finished = [data["batch_id"] for kind, data in seen if kind == "finished"]
    assert sorted(finished) == sorted(ids)
    assert theirs not in {data["batch_id"] for _, data in seen}
    for batch_id in ids:  # each batch's last progress before its end is complete
        last = [d for k, d in seen if k == "progress" and d["batch_id"] == batch_id][-1]
        assert last["progress"]["completed"] == 6 and last["status"] == "completed"


async def test_the_sdk_watches_a_batch_async_and_sync(server: ServerHandle) -> None:
    key = server.make_key("professional")
    inputs = [{"variables": {"n": i}} for i in range(8)]
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as client:
        batch = await client.batches.submit(inputs, prompt="n {n}", model_config=SLOW)
        events = [event async for event in client.batches.watch(batch.batch_id)]
    assert events[-1].kind == "finished" and events[-1].batch is not None
    assert events[-1].batch.status == "completed"
    progress = [e.progress for e in events if e.kind == "progress"]
    assert progress and all(p is not None for p in progress)
    assert progress[-1] is not None and progress[-1].progress.completed == 8
    with PromptExecutionClient(api_key=key, base_url=server.base_url) as sync:
        again = list(sync.batches.watch(batch.batch_id))  # finished: two events at once
    assert [e.kind for e in again] == ["progress", "finished"]
    assert again[0].batch_id == batch.batch_id


def test_progress_groups_every_failure_by_code_and_results_filter_by_it(
    server: ServerHandle,
) -> None:
    """Beyond the spec's first 100 errors: all failures counted by code, with how many a
    retry would run again; /results?error_code= drills into one group; the cost so far."""
    with server.client(server.make_key("professional")) as c:
        inputs = [{"id": f"ok{i}", "variables": {"mode": "ok"}} for i in range(5)]
        inputs += [{"id": f"bad{i}", "variables": {"mode": "bad"}} for i in range(3)]
        batch = submit(c, {"prompt": "{{ mode }}", "inputs": inputs,
                           "model_config": {"simulate": {"fail_when": "bad",
                                                         "fail": "server_error"}}})
        done = wait_for(c, batch["batch_id"])
        assert done["progress"] == {"completed": 5, "failed": 3, "pending": 0, "total": 8,
                                    "cancelled": 0}
        groups = done["errors_by_code"]
        assert groups == [{"error_code": "MODEL_PROVIDER_ERROR", "count": 3,
                           "retry_eligible": 3}]
        assert done["summary"]["total_cost"] >= 0 and done["started_at"].endswith("Z")
        found = c.get(f"/batch/{batch['batch_id']}/results",
                      params={"error_code": "MODEL_PROVIDER_ERROR"}).json()
        assert found["pagination"]["total"] == 3
        assert {r["status"] for r in found["results"]} == {"failed"}
        none = c.get(f"/batch/{batch['batch_id']}/results", params={"error_code": "NOPE"})
        assert none.json()["pagination"]["total"] == 0


def test_throughput_counts_items_finished_over_the_batch_life(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        batch = submit(c, {"prompt": "n {n}", "inputs": [{"variables": {"n": i}}
                                                         for i in range(30)],
                           "model_config": {"simulate": {"latency_ms": 60}},
                           "processing_options": {"max_concurrent": 5}})
        wait_for(c, batch["batch_id"])
        body = c.get(f"/batch/{batch['batch_id']}/throughput",
                     params={"buckets": 10}).json()
        assert sum(body["finished"]) == 30
        assert 1 <= len(body["finished"]) <= 10 and body["bucket_seconds"] >= 1
        sync = PromptExecutionClient(api_key=c.headers["authorization"].split()[-1],
                                     base_url=server.base_url)
        with sync:
            assert sync.batches.throughput(batch["batch_id"], 10).finished == body["finished"]
            progress = sync.batches.progress(batch["batch_id"])
            assert progress.errors_by_code == [] and progress.summary["total_tokens"] > 0
        assert_error(c.get("/batch/batch_nope/throughput"), 404, "not_found_error",
                     "BATCH_NOT_FOUND")


def _read_events(server: ServerHandle, key: str, path: str, until: Any,
                 seen: list[tuple[float, str, dict[str, Any]]]) -> threading.Thread:
    """Reads the stream at `path` on a thread into `seen` (time, kind, data) until
    `until(seen)` holds."""
    ready = threading.Event()

    def read() -> None:
        with server.client(key) as c, c.stream("GET", path) as response:
            ready.set()
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    seen.append((time.monotonic(), kind, json.loads(line[6:])))
                    if until(seen):
                        return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread


def test_a_batch_that_stands_still_is_sent_again_so_its_rate_can_fall(
    server: ServerHandle,
) -> None:
    key = server.make_key("professional")
    with server.client(key) as c:
        batch = submit(c, {"prompt": "{{ w }}", "inputs": [{"variables": {"w": "fast"}}] * 3
                           + [{"variables": {"w": "slow"}}] * 2,
                           "model_config": {"simulate": {"latency_ms": 60_000,
                                                         "latency_when": "slow"}}})
        seen: list[tuple[float, str, dict[str, Any]]] = []
        thread = _read_events(server, key, f"/batch/{batch['batch_id']}/events",
                              lambda s: sum(1 for _, _, d in s
                                            if d["progress"]["completed"] == 3) >= 2, seen)
        thread.join(15)
        assert not thread.is_alive(), seen
        held = [t for t, _, d in seen if d["progress"]["completed"] == 3]
        assert held[1] - held[0] >= 1.5  # the same counts again, a couple of seconds later
        c.post(f"/batch/{batch['batch_id']}/cancel")


def test_a_batch_retried_just_after_it_finished_is_watched_again(server: ServerHandle) -> None:
    key = server.make_key("professional")
    with server.client(key) as c:
        seen: list[tuple[float, str, dict[str, Any]]] = []
        thread = _read_events(server, key, "/batch/events",
                              lambda s: sum(k == "finished" for _, k, _ in s) >= 2, seen)
        batch = submit(c, {"prompt": "x", "inputs": [{"variables": {}}] * 2,
                           "model_config": {"simulate": {"fail": "server_error"}}})
        wait_for(c, batch["batch_id"])
        deadline = time.monotonic() + 5
        while not any(k == "finished" for _, k, _ in seen):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert c.post(f"/batch/{batch['batch_id']}/retry").json()["retried_items"] == 2
        thread.join(15)
        assert not thread.is_alive(), [k for _, k, _ in seen]
    kinds = [(k, d["status"]) for _, k, d in seen]
    # Its second end is told too (the run between may be quicker than a look).
    assert kinds.count(("finished", "failed")) == 2 and kinds[-1] == ("finished", "failed")
    retried = [d for _, k, d in seen if k == "progress"][-1]
    assert retried["progress"]["failed"] == 2


def test_error_groups_read_before_a_retry_are_not_served_after_it(server: ServerHandle) -> None:
    """The counts come back to what they were when the retried items fail again; what
    they failed with this time is what the groups say."""
    key = server.make_key("professional")
    store = server.ctx.batch_store
    with server.client(key) as c:
        batch = submit(c, {"prompt": "x", "inputs": [{"variables": {}}] * 2,
                           "model_config": {"simulate": {"fail": "server_error"}}})
        before = wait_for(c, batch["batch_id"])["errors_by_code"]
        assert before == [{"error_code": "MODEL_PROVIDER_ERROR", "count": 2,
                           "retry_eligible": 2}]
        store.requeue_failed(batch["batch_id"], 0)
        # As if both ran again and failed otherwise (same counts as before the retry).
        store.conn.execute("UPDATE batch_items SET status='failed', error_code='TIMEOUT', "
                           "retry_eligible=0 WHERE batch_id=?", (batch["batch_id"],))
        store.conn.execute("UPDATE batches SET failed=2, status='failed' "
                           "WHERE id=?", (batch["batch_id"],))
        row = store.get_any(batch["batch_id"])
        assert row is not None and (row.failed, row.completed) == (2, 0)
        assert store.error_groups(row) == [("TIMEOUT", 2, 0)]
