"""`pe batch list|watch|cancel|retry|results`: plain lines when not on a terminal, exit codes
that tell a script whether any item failed, results as JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

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


TYPED = {"name": "typed_rows", "prompt": "{{ who }} x{{ times }} {{ loud }}", "variables": [
    {"name": "who", "type": "string", "required": True},
    {"name": "times", "type": "integer", "required": True},
    {"name": "loud", "type": "boolean", "default": False}]}


def test_submit_checks_every_row_first_and_sends_nothing_while_one_is_wrong(
    server: ServerHandle, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with server.client(key) as c:
        assert c.post("/templates", json=TYPED).status_code == 201
        bad = tmp_path / "bad.csv"
        bad.write_text("id,person,times,loud\na,Ada,3,yes\nb,,2,no\na,Bo,two,maybe\n")
        assert main(["batch", "submit", str(bad), "--template", "typed_rows",
                     "--map", "person=who"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[:4] == ["  row 2 (b): who: required, and not given",
                           "  row 3 (a): times: 'two' is not a whole number",
                           "  row 3 (a): loud: 'maybe' is not true or false",
                           "  row 3 (a): id 'a' is also on row 1"]
        assert err[-1].endswith("nothing was sent")
        assert c.get("/batch").json()["pagination"]["total"] == 0  # nothing was sent
        good = tmp_path / "good.csv"
        good.write_text("person,times,loud,note\nAda,3,yes,x\nBo,2,,y\n")
        assert main(["batch", "submit", str(good), "--template", "typed_rows",
                     "--map", "person=who", "--watch"]) == 0
        out = capsys.readouterr()
        assert "columns no variable takes: note" in out.err
        assert "estimated cost: about $" in out.err and "2 rows x ~" in out.err
        batch_id = out.out.splitlines()[0]
        results = c.get(f"/batch/{batch_id}/results").json()["results"]
        assert [r["status"] for r in results] == ["completed", "completed"]
        lines = tmp_path / "rows.jsonl"
        lines.write_text('{"id": "r1", "variables": {"who": "Cy", "times": 1}}\n\n'
                         '{"who": "Di", "times": 2, "loud": true}\n')
        assert main(["batch", "submit", str(lines), "--template", "typed_rows"]) == 0
        sent = capsys.readouterr().out.strip()
        wait_for(c, sent)
        ids = [r["item_id"] for r in c.get(f"/batch/{sent}/results").json()["results"]]
        assert ids[0] == "r1" and len(ids) == 2
    assert main(["batch", "submit", str(good), "--template", "typed_rows",
                 "--map", "person=nobody"]) == 2
    assert "has no variable 'nobody'" in capsys.readouterr().err


@pytest.mark.parametrize(("line", "problem"), [
    ("not json", "not valid JSON"),
    ("[1, 2]", "a line must be a JSON object"),
    ('{"who": "x", "times": NaN}', "not valid JSON: NaN is not a JSON number"),
    ('{"who": ' + "[" * 100_000 + "]" * 100_000 + "}", "JSON nested too deeply"),
    ('{"who": 5, "times": 1}', "who: must be a string, not int"),
    ('{"who": "x", "times": true}', "times: must be an integer, not bool"),
])
def test_a_bad_json_line_is_named_with_why(tmp_path: Path, line: str, problem: str) -> None:
    from promptexecution.batch_file import load

    path = tmp_path / "rows.jsonl"
    path.write_text(line + "\n")
    found = load(path, TYPED["variables"])  # type: ignore[arg-type]
    assert not found.inputs and problem in str(found.problems[0])


def test_the_estimate_counts_prompt_and_values_and_caps_output_by_max_tokens() -> None:
    from promptexecution.batch_file import estimate

    inputs = [{"variables": {"who": "x" * 36}}, {"variables": {"who": "y" * 36, "n": [1, 2]}}]
    capped = estimate(inputs, "p" * 4, 100, 1.0, 2.0)  # $1 / $2 per million tokens
    characters = 2 * 4 + 36 + 36 + len("[1, 2]")
    assert capped.capped and capped.output_tokens == 100
    assert capped.dollars == pytest.approx((characters / 4 * 1.0 + 200 * 2.0) / 1e6)
    guessed = estimate(inputs, "p", None, 1.0, 2.0)
    assert not guessed.capped and guessed.output_tokens == 500
    assert guessed.words(2, "m").startswith("about $")
    assert capped.words(2, "m").startswith("at most $")


def test_a_csv_is_known_by_its_suffix_in_any_case_and_an_unreadable_one_stops_whole(
        tmp_path: Path) -> None:
    from promptexecution.batch_file import load

    upper = tmp_path / "ROWS.CSV"
    upper.write_text("who,times\nada,2\n")
    found = load(upper, TYPED["variables"])  # type: ignore[arg-type]
    assert found.inputs == [{"variables": {"who": "ada", "times": 2}}] and not found.problems
    huge = tmp_path / "huge.csv"
    huge.write_text("who,times\nada,1\n" + "x" * 200_000 + ",1\nbo,3\n")
    found = load(huge, TYPED["variables"])  # type: ignore[arg-type]
    assert len(found.inputs) == 1 and not found.can_drop_bad_rows  # the rest is unseen
    assert str(found.problems[0]).startswith("row 2: CSV that cannot be read on from here")
