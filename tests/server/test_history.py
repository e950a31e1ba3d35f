"""History beyond the spec's page: keyset cursors, the oldest page, filters on model,
version, text, cost and time, totals that may be lower bounds, and the streaming export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ServerHandle, assert_error

TEMPLATE = {"name": "hist_letter", "prompt": "Write to {{ who }} about {{ topic }}.",
            "variables": [{"name": "who", "required": True}, {"name": "topic", "required": True}]}


@pytest.fixture
def own(server: ServerHandle) -> httpx.Client:
    """A new account, so every count below is this test's own."""
    return server.client(server.make_key("enterprise"))


def _run(own: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = own.post("/execute", json=body)
    return dict(answer.json())



def _ids(page: dict[str, Any]) -> list[str]:
    return [e["execution_id"] for e in page["executions"]]


def test_keyset_pages_walk_the_same_rows_as_offsets_and_back(own: httpx.Client) -> None:
    made = [_run(own, prompt=f"note {i}")["execution_id"] for i in range(23)][::-1]
    first = own.get("/executions", params={"limit": 10}).json()
    assert _ids(first) == made[:10]
    second = own.get("/executions", params={"limit": 10,
                                            "before": first["pagination"]["next_cursor"]}).json()
    third = own.get("/executions", params={"limit": 10,
                                           "before": second["pagination"]["next_cursor"]}).json()
    assert _ids(second) == made[10:20] and _ids(third) == made[20:]
    assert second["pagination"]["has_more"] and not third["pagination"]["has_more"]
    back = own.get("/executions", params={"limit": 10,
                                          "after": second["pagination"]["prev_cursor"]}).json()
    assert _ids(back) == made[:10]  # the page above, newest first like any page
    oldest = own.get("/executions", params={"limit": 5, "order": "oldest"}).json()
    assert _ids(oldest) == made[::-1][:5]
    # rows that arrive meanwhile do not shift a keyset page
    _run(own, prompt="late arrival")
    again = own.get("/executions", params={"limit": 10,
                                           "before": first["pagination"]["next_cursor"]}).json()
    assert _ids(again) == made[10:20]


def test_bad_cursors_are_refused_in_the_error_shape(own: httpx.Client) -> None:
    assert_error(own.get("/executions", params={"before": "not-a-cursor!"}), 400,
                 "validation_error", "INVALID_CURSOR")
    page = own.get("/executions", params={"limit": 1}).json()
    cursor = page["pagination"]["next_cursor"] or "MTAuMQ"
    assert_error(own.get("/executions", params={"before": cursor, "after": cursor}), 400,
                 "validation_error", "CONFLICTING_FIELDS")


def test_filters_on_model_version_cost_and_time(
    server: ServerHandle, own: httpx.Client
) -> None:
    template_id = own.post("/templates", json=TEMPLATE).json()["template_id"]
    values = {"who": "Ada", "topic": "tea"}
    quick = _run(own, template_id=template_id, variables=values)
    own.put(f"/templates/{template_id}", json={"prompt": "Dear {{ who }}, on {{ topic }}:"})
    slow = _run(own, template_id=template_id, variables=values,
                model_config={"simulate": {"latency_ms": 300}})
    costly = _run(own, template_id=template_id, variables={"who": "Bo", "topic": "x " * 400})

    def ids(**params: Any) -> list[str]:
        return _ids(own.get("/executions", params={**params, "limit": 100}).json())

    assert ids(template_id="hist_letter", template_version="1.0") == [quick["execution_id"]]
    assert ids(template_id=template_id, template_version="1.1") == [
        costly["execution_id"], slow["execution_id"]]
    assert ids(model="simulator", template_id=template_id) == [
        costly["execution_id"], slow["execution_id"], quick["execution_id"]]
    assert ids(model="no-such-model") == []
    assert ids(min_execution_time=0.25) == [slow["execution_id"]]
    assert slow["execution_id"] not in ids(max_execution_time=0.25)
    assert ids(min_cost=costly["metadata"]["cost"]) == [costly["execution_id"]]
    page = own.get("/executions", params={"min_cost": 0}).json()
    assert page["pagination"]["total"] == 3 and not page["pagination"]["total_is_lower_bound"]
    row = page["executions"][0]
    assert row["template_version"] == "1.1" and row["output_preview"]
    assert row["execution_time"] == costly["metadata"]["execution_time"]
    assert_error(own.get("/executions", params={"template_version": "1.0"}), 400,
                 "validation_error", "INVALID_PARAMETER")


def test_text_search_finds_words_phrases_and_prefixes_in_prompts_and_outputs(
    server: ServerHandle, own: httpx.Client
) -> None:
    refund = _run(own, prompt="Explain our refund policy for damaged parcels")
    other = _run(own, prompt="Summarise the weekly report")
    odd = _run(own, prompt='Quote "this" AND that OR NOT (these) * ü é 😀 NEAR/2 x')
    _run(own, prompt="refunds refused", model_config={"simulate": {"fail": "server_error"}})
    failed_id = _failed_id(own)  # a failed run is stored too, and searchable
    server.searchable()

    def found(q: str) -> list[str]:
        return _ids(own.get("/executions", params={"q": q, "limit": 100}).json())

    assert found("refund") == [failed_id, refund["execution_id"]]
    assert found('"refund policy"') == [refund["execution_id"]]
    assert found('"policy refund"') == []
    assert found("week*") == [other["execution_id"]]
    assert found("weekly damaged") == []  # every word must occur
    # nothing typed is FTS syntax: operators, quotes and stars are just text
    assert found('AND OR NOT ( ) * "') == []
    assert found('"this" NEAR/2') == [odd["execution_id"]]
    assert found("ü") == [odd["execution_id"]] and found("u") == [odd["execution_id"]]
    # the output is searched too: the simulator's output quotes the prompt's words
    words = (own.get(f"/executions/{other['execution_id']}").json()["content"] or "").split()
    assert other["execution_id"] in found(words[-1].strip(".,;:!?\"'()"))
    page = own.get("/executions", params={"q": "refund", "status": "completed"}).json()
    assert _ids(page) == [refund["execution_id"]]
    assert page["pagination"]["total"] == 1 and not page["pagination"]["total_is_lower_bound"]


def _failed_id(own: httpx.Client) -> str:
    return str(own.get("/executions", params={"status": "failed"}).json()
               ["executions"][0]["execution_id"])


def test_a_streamed_run_is_searchable_once_it_finishes(
    server: ServerHandle, own: httpx.Client
) -> None:
    with own.stream("POST", "/execute", json={"prompt": "streamed about lighthouses",
                                              "stream": True}) as answer:
        assert answer.status_code == 200
        execution_id = answer.headers["x-execution-id"]
        answer.read()
    server.searchable()
    assert _ids(own.get("/executions", params={"q": "lighthouse"}).json()) == [execution_id]


def test_a_total_past_ten_thousand_is_a_lower_bound(
    server: ServerHandle, own: httpx.Client
) -> None:
    account_id = own.get("/auth/verify").json()["account_id"]
    rows = [(1_700_000_000_000_000 + i, {
        "execution_id": f"exec_bulk{i:06d}", "status": "completed", "content": "bulk",
        "rendered_prompt": "bulk", "metadata": {"model": "simulator", "cost": 0.001,
                                                "execution_time": 0.01}})
        for i in range(10_050)]
    server.ctx.execution_store.insert_executions(account_id, rows)
    exact = own.get("/executions", params={"status": "completed"}).json()["pagination"]
    assert exact["total"] >= 10_050 and not exact["total_is_lower_bound"]  # hourly counts
    costly = own.get("/executions", params={"min_cost": 0.0005}).json()["pagination"]
    assert costly["total"] == 10_000 and costly["total_is_lower_bound"]
    # An offset page at the capped total still says rows follow (the console's End needs it)
    deep = own.get("/executions", params={"min_cost": 0.0005, "offset": 9_990, "limit": 20})
    assert len(deep.json()["executions"]) == 20 and deep.json()["pagination"]["has_more"]


def test_export_streams_every_matching_run_as_jsonl_or_csv(
    server: ServerHandle, own: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptexecution.server.executions import routes

    monkeypatch.setattr(routes, "EXPORT_CHUNK", 4)  # several chunks from a few runs
    made = [_run(own, prompt=f"export me {i}, with a comma and \"quotes\"\nand a newline")
            for i in range(10)]
    _run(own, prompt="not this one", model_config={"simulate": {"fail": "server_error"}})
    answer = own.get("/executions/export", params={"status": "completed"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [r["execution_id"] for r in lines] == [m["execution_id"] for m in made[::-1]]
    assert lines[0] == own.get(f"/executions/{made[-1]['execution_id']}").json()
    table = own.get("/executions/export", params={"format": "csv", "status": "completed"})
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert len(rows) == 10 and rows[0]["execution_id"] == made[-1]["execution_id"]
    assert rows[0]["rendered_prompt"] == made[-1]["rendered_prompt"]  # commas, quotes, newline
    for limit in (3, 4, 5):  # within a chunk, a chunk exactly, across chunks
        newest = own.get("/executions/export", params={"status": "completed", "limit": limit})
        assert [json.loads(line)["execution_id"] for line in newest.text.splitlines()] == [
            m["execution_id"] for m in made[::-1][:limit]]
    short = own.get("/executions/export", params={"format": "csv", "limit": 2})
    assert len(list(csv.DictReader(io.StringIO(short.text)))) == 2
    assert_error(own.get("/executions/export", params={"format": "xml"}), 400,
                 "validation_error", "INVALID_PARAMETER")
    assert_error(own.get("/executions/export", params={"limit": 0}), 400,
                 "validation_error", "INVALID_PARAMETER")


def test_an_execution_keeps_the_settings_it_ran_with_and_its_request_id(
    own: httpx.Client,
) -> None:
    answer = own.post("/execute", json={"prompt": "settings", "model_config": {
        "temperature": 0.3, "max_tokens": 50, "stop": ["\n\n"], "simulate": {"latency_ms": 1}}})
    stored = own.get(f"/executions/{answer.json()['execution_id']}").json()
    assert stored["metadata"]["model_config"] == {
        "temperature": 0.3, "max_tokens": 50, "stop": ["\n\n"], "simulate": {"latency_ms": 1}}
    assert stored["request_id"] == answer.headers["x-request-id"]


@given(st.lists(st.one_of(st.none(), st.text(), st.integers(), st.floats(allow_nan=False)),
                min_size=2, max_size=14))
def test_csv_lines_are_what_the_csv_module_writes(values: list[Any]) -> None:
    # The export writes CSV by hand (csv.writer cost it a third of its speed); any value an
    # execution holds must come out byte for byte as csv.writer would write it.
    from promptexecution.server.executions.routes import csv_line

    expected = io.StringIO()
    csv.writer(expected).writerow(values)
    assert csv_line(values) == expected.getvalue()


@pytest.mark.parametrize("filters", [{}, {"status": "failed"}, {"template_id": "tmpl_x"}])
def test_a_keyset_page_seeks_to_its_cursor_rather_than_scanning_from_the_newest(
    server: ServerHandle, filters: dict[str, str]
) -> None:
    # Written only as (a < x OR (a = x AND b < y)), a page a million rows deep took 80 ms
    # and the export of a million rows slowed quadratically.
    from promptexecution.server.executions.history import Cursor, HistoryFilter, page_sql

    conn = server.ctx.database.conn
    for cursor in ({"before": Cursor(1_000, 7)}, {"after": Cursor(1_000, 7)}):
        sql, args = page_sql(HistoryFilter(account_id="acct", **filters), 100, **cursor)
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "created_us<?" in plan or "created_us>?" in plan, plan


def test_hostile_cursors_text_and_orders_are_refused_not_500(own: httpx.Client) -> None:
    import base64

    _run(own, prompt="one")
    for raw in ("99999999999999999999.1", "1_000.2", " 12.3", "１２.3", "1.2.3", "\x00"):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        assert_error(own.get("/executions", params={"before": cursor}), 400,
                     "validation_error", "INVALID_CURSOR")
    for q in ("a\x00b", "\x1b[2J", "x\x7f"):
        assert_error(own.get("/executions", params={"q": q}), 400, "validation_error",
                     "INVALID_PARAMETER")
        assert_error(own.get("/executions/export", params={"q": q}), 400,
                     "validation_error", "INVALID_PARAMETER")
    first = own.get("/executions", params={"limit": 1}).json()["pagination"]["next_cursor"]
    assert_error(own.get("/executions", params={"order": "oldest", "after": first}), 400,
                 "validation_error", "CONFLICTING_FIELDS")


def test_the_text_index_idles_while_a_run_is_still_going(tmp_path: Any) -> None:
    # It used to re-read a running run at once, forever: a core and a commit per loop for
    # as long as any stream ran.
    import sqlite3

    from promptexecution.server.executions.text_index import TextIndex, _State

    main_path, text_path = tmp_path / "main.sqlite3", tmp_path / "text.sqlite3"
    setup = sqlite3.connect(main_path)
    setup.execute("CREATE TABLE executions (seq INTEGER PRIMARY KEY, status TEXT, body TEXT)")
    setup.executemany("INSERT INTO executions VALUES (?,?,?)", [
        (1, "completed", json.dumps({"rendered_prompt": "harbour", "content": "lights"})),
        (2, "processing", json.dumps({"rendered_prompt": "tide", "content": None}))])
    setup.commit()
    index = TextIndex(main_path, text_path)
    text = sqlite3.connect(text_path, isolation_level=None)
    main = sqlite3.connect(f"file:{main_path}?mode=ro", uri=True)
    state = _State(upto=0, head=0, ahead=set())
    assert index._step(main, text, state) and state.upto == 1 and state.waiting == {2}
    changes = text.total_changes
    assert not index._step(main, text, state)  # nothing new: the loop may sleep
    assert text.total_changes == changes  # and nothing was written
    setup.execute("UPDATE executions SET status = 'completed', body = ? WHERE seq = 2",
                  (json.dumps({"rendered_prompt": "tide", "content": "turns"}),))
    setup.commit()
    index._step(main, text, state)
    assert state.upto == 2 and not state.waiting
    found = text.execute("SELECT rowid FROM executions_text WHERE executions_text MATCH "
                         "'turns OR harbour' ORDER BY rowid").fetchall()
    assert found == [(1,), (2,)]
