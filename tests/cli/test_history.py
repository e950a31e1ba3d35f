"""`pe history`: the History screen's filter at a prompt, a readable table, whole executions
as JSON lines, a JSON array or CSV for scripts, and clear errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from promptexecution.cli import main
from tests.conftest import ServerHandle


@pytest.fixture
def runs(server: ServerHandle, monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> list[dict[str, object]]:
    """Seven executions, newest last: four of a template, two raw, one refused."""
    key = server.make_key("professional")
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    monkeypatch.setenv("PE_API_KEY", key)
    monkeypatch.setenv("PE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("COLUMNS", "140")
    client = server.client(key)
    template = client.post("/templates", json={
        "name": "blog_post", "prompt": "## Post about {{ topic }}",
        "variables": [{"name": "topic"}]}).json()
    made = []
    for i in range(4):
        made.append(client.post("/execute", json={
            "template_id": template["template_id"], "variables": {"topic": f"tides {i}"},
            "model_config": {"simulate": {"latency_ms": 0}}}).json())
    for words in ("a lighthouse keeper's log", "the refund policy"):
        made.append(client.post("/execute", json={"prompt": words}).json())
    refused = client.post("/execute", json={
        "prompt": "refused", "model_config": {"simulate": {"fail": "content_policy"}}})
    assert refused.status_code == 400
    made.append(_newest(client))
    server.searchable()
    return made


def _newest(client: httpx.Client) -> dict[str, object]:
    first = client.get("/executions", params={"limit": 1}).json()["executions"][0]
    return client.get(f"/executions/{first['execution_id']}").json()


def test_a_terminal_gets_a_table_of_the_newest_with_names_and_a_total(
    runs: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "-n", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "status", "template@version", "model", "tokens", "cost",
                              "latency", "output"]
    assert "failed" in out[1] and "CONTENT_POLICY_VIOLATION" in out[1]
    assert "the refund policy" not in out[1]
    assert "(raw prompt)" in out[2] and "(raw prompt)" in out[3]
    assert out[4] == "3 of 7 executions, newest first; -n N shows more, -n 0 all"

    assert main(["history", "template:blog_post", "status:completed"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum("blog_post@1.0" in line for line in out) == 4
    assert any("Post about tides 3" in line for line in out)  # its "## " is dropped
    assert out[-1] == "4 of 4 executions, newest first"


def test_the_filter_finds_text_and_says_when_nothing_matches(
    runs: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", '"lighthouse keeper"']) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[-1] == "1 of 1 executions, newest first"
    assert main(["history", "status:cancelled", "lighthouse"]) == 0
    assert capsys.readouterr().out == (
        'No execution matches status cancelled, text "lighthouse".\n')


def test_scripts_get_whole_executions_as_jsonl_json_or_csv(
    runs: list[dict[str, object]], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    newest_first = [r["execution_id"] for r in runs[::-1]]
    assert main(["history", "--jsonl", "-n", "2"]) == 0
    lines = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [r["execution_id"] for r in lines] == newest_first[:2]
    assert lines[0] == runs[-1]  # whole: content, prompt, metadata, error

    assert main(["history", "--json", "-n", "0", "template:blog_post"]) == 0
    array = json.loads(capsysbinary.readouterr().out)
    assert [r["execution_id"] for r in array] == newest_first[3:]

    assert main(["history", "--json", "status:cancelled"]) == 0
    assert json.loads(capsysbinary.readouterr().out) == []

    assert main(["history", "--jsonl"]) == 0  # for scripts, every match unless -n says
    assert len(capsysbinary.readouterr().out.splitlines()) == len(runs)

    assert main(["history", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode())))
    assert [r["execution_id"] for r in rows] == newest_first
    assert rows[0]["error_code"] == "CONTENT_POLICY_VIOLATION"


def test_a_saved_filter_is_used_by_its_name(
    runs: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    from promptexecution.console.config import load, save

    config = load()
    config.history_filters["posts"] = "template:blog_post"
    save(config)
    assert main(["history", "@posts", "-n", "1", "tides"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "blog_post@1.0" in out[1] and out[-1].startswith("1 of 4 executions")
    assert main(["history", "@nope"]) == 2
    assert capsys.readouterr().err == "pe history: no saved filter @nope (@posts)\n"
    assert main(["history", '"mail', '@posts"']) == 0  # in a phrase, @ is text
    assert capsys.readouterr().out == 'No execution matches text "mail @posts".\n'


def test_bad_input_is_refused_with_where_it_is(
    runs: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "status:done", "since:7d"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("pe history: unknown status 'done'")
    assert err[1:] == ["  status:done since:7d", "         ^^^^"]
    assert main(["history", "-n", "-1"]) == 2
    assert "-n must be 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["history", "--json", "--csv"])


def test_an_unreachable_server_is_one_line_not_a_traceback(
    runs: list[dict[str, object]], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PE_BASE_URL", "http://127.0.0.1:9/v2")
    assert main(["history"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pe history: Could not reach the API") and len(err.splitlines()) == 1
    assert "None" not in err and "Traceback" not in err
