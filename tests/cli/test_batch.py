"""`pe batch list|watch|cancel|retry|results`: plain lines when not on a terminal, exit codes
that tell a script whether any item failed, results as JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from promptexecution.cli import main
from tests.conftest import ServerHandle
from tests.server.test_batch import submit, wait_for


@pytest.fixture
def key(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    made = server.make_key("professional")
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    monkeypatch.setenv("PE_API_KEY", made)
    return made


def test_watch_prints_a_line_per_change_and_exits_by_the_outcome(
    server: ServerHandle, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", "list"]) == 0
    assert capsys.readouterr().out == "No batches yet.\n"
    with server.client(key) as c:
        good = submit(c, {"prompt": "n {n}", "inputs": [{"variables": {"n": i}}
                                                       for i in range(6)],
                          "model_config": {"simulate": {"latency_ms": 60}},
                          "processing_options": {"max_concurrent": 2}})["batch_id"]
        bad = submit(c, {"prompt": "x", "inputs": [{"variables": {}}] * 2,
                         "model_config": {"simulate": {"fail": "server_error"}}})["batch_id"]
    assert main(["batch", "watch", good]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f"{good} completed: 6 completed, 0 failed, 0 pending of 6")
    assert all(line.startswith(good) for line in lines)
    assert main(["batch", "watch", bad]) == 1  # an item failed: scripts can tell
    assert "2 failed" in capsys.readouterr().out.splitlines()[-1]
    assert main(["batch", "list", "--status", "failed"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{bad}  failed")
    assert main(["batch", "watch", "batch_nope"]) == 1
    assert capsys.readouterr().err.startswith("pe batch: BATCH_NOT_FOUND")


def test_results_retry_and_cancel(
    server: ServerHandle, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with server.client(key) as c:
        bad = submit(c, {"prompt": "x", "inputs": [{"id": f"row-{i}", "variables": {}}
                                                   for i in range(3)],
                         "model_config": {"simulate": {"fail": "server_error"}}})["batch_id"]
        wait_for(c, bad)
        assert main(["batch", "retry", bad]) == 0
        assert capsys.readouterr().out.startswith(f"{bad}: ")
        wait_for(c, bad)
        slow = submit(c, {"prompt": "s {n}", "inputs": [{"variables": {"n": i}}
                                                       for i in range(30)],
                          "model_config": {"simulate": {"latency_ms": 100}},
                          "processing_options": {"max_concurrent": 1}})["batch_id"]
        assert main(["batch", "cancel", slow]) == 0
        assert capsys.readouterr().out.strip() in (f"{slow}: cancelling", f"{slow}: cancelled")
        wait_for(c, slow, ("cancelled",))
    assert main(["batch", "results", bad]) == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [i["item_id"] for i in items] == ["row-0", "row-1", "row-2"]
    assert all(len(i["earlier_attempts"]) == 1 for i in items)  # the run before the retry
    assert main(["batch", "results", bad, "--format", "csv", "--status", "failed"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 and rows[0]["error_code"] == "MODEL_PROVIDER_ERROR"
    assert rows[0]["retries"] == "1"
