"""The History screen (F4) with Pilot against the real server: scrolling far and back,
filters and their errors, live arrivals, the detail and j/k, run again in the Playground,
compare, copy, export (and stopping it), saved filters, the empty result."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from promptexecution.console.app import PeApp
from promptexecution.console.screens.history import screen as history_screen
from promptexecution.console.screens.history.compare import CompareScreen
from promptexecution.console.screens.history.dialogs import PickScreen
from promptexecution.console.screens.history.export import ExportScreen
from promptexecution.console.screens.history.rows import KEEP, PAGE
from promptexecution.console.screens.history.screen import HistoryScreen
from promptexecution.console.screens.templates.dialogs import AskScreen
from promptexecution.console.widgets.diff_view import DiffView
from promptexecution.console.widgets.output_column import OutputColumn
from promptexecution.console.widgets.variables_form import VariableField
from promptexecution.console.widgets.virtual_table import VirtualTable
from tests.conftest import ServerHandle

from .conftest import make_app
from .scenes import ready, wait_for

SIZE = (140, 42)


def _client(server: ServerHandle) -> Any:
    return server.client(server.local_key)


def _bulk(server: ServerHandle, count: int) -> list[str]:
    """`count` stored executions of the local account, oldest first (their ids)."""
    account_id = _client(server).get("/auth/verify").json()["account_id"]
    ids = [f"exec_bulk{i:06d}" for i in range(count)]
    server.ctx.execution_store.insert_executions(account_id, [
        (1_764_000_000_000_000 + i * 1_000_000, {
            "execution_id": ids[i], "status": "completed", "content": f"answer {i}",
            "rendered_prompt": f"question {i}", "created_at": "2025-11-24T16:00:00Z",
            "metadata": {"model": "simulator", "cost": 0.0001, "execution_time": 0.02}})
        for i in range(count)])
    return ids


async def _history(pilot: Pilot[Any]) -> tuple[PeApp, HistoryScreen]:
    app = await ready(pilot)
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                   and app.screen.rows.loaded)
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    return app, screen


def _at_cursor(screen: HistoryScreen) -> str | None:
    row = screen.current
    return row.execution_id if row else None


async def _filter(pilot: Pilot[Any], screen: HistoryScreen, text: str) -> None:
    """Types `text` into the filter bar and presses Enter (which applies it at once; typing
    alone applies a moment after it pauses); waits for the list of a good filter."""
    bar = screen.query_one("#history-filter", Input)
    bar.focus()
    bar.value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.rows.loaded and (
        screen.query_text == text or screen.query_one("#history-problem").display))


async def test_scrolling_far_and_back_holds_only_the_rows_near_the_view(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    ids = _bulk(console_server, 3_500)[::-1]  # newest first, as the list shows them
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        table = screen.query_one(VirtualTable)
        assert screen.rows.total == 3_500
        assert _at_cursor(screen) == ids[0]
        frozen = gc.get_freeze_count()
        await pilot.press("end")  # the oldest: one request for the oldest page
        await wait_for(pilot, lambda: _at_cursor(screen) == ids[-1])
        for _ in range(5):
            await pilot.press("pageup")
        await wait_for(pilot, lambda: _at_cursor(screen) == ids[table.cursor])
        table.move_to(1_777)  # a jump into the middle: an offset page
        await wait_for(pilot, lambda: _at_cursor(screen) == ids[1_777])
        for _ in range(12):
            await pilot.press("pagedown")  # keyset pages below loaded rows
        await wait_for(pilot, lambda: _at_cursor(screen) == ids[table.cursor])
        assert screen.rows.rows_held() <= 2 * KEEP + 3 * PAGE + table.rows_shown
        await pilot.press("home")
        await wait_for(pilot, lambda: _at_cursor(screen) == ids[0])
        shown = [screen.rows.execution(i) for i in range(table.rows_shown)]
        assert [r.execution_id for r in shown if r] == ids[:table.rows_shown]
        # Pages must not gc.freeze(): each freeze kept that moment's cyclic garbage for good
        # (the console grew 281 MiB over 100,000 rows scrolled).
        assert gc.get_freeze_count() <= frozen  # (frozen objects may be freed, by refcount)


async def test_filters_their_errors_chips_and_the_empty_result(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    client = _client(console_server)
    for i in range(4):
        client.post("/execute", json={"prompt": f"parcel question {i}"})
    client.post("/execute", json={"prompt": "refund refused",
                                  "model_config": {"simulate": {"fail": "server_error"}}})
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        await _filter(pilot, screen, "status:failed")
        assert screen.rows.total == 1 and screen.rows.filters == {"status": "failed"}
        await _filter(pilot, screen, "stauts:failed")
        problem = str(screen.query_one("#history-problem").render())
        assert "unknown filter 'stauts'" in problem and "did you mean 'status'" in problem
        assert "^^^^^^" in problem  # under the word that is wrong
        assert screen.rows.total == 1  # the list stays as it was
        await _filter(pilot, screen, 'status:completed "no such words anywhere"')
        table = screen.query_one(VirtualTable)
        assert screen.rows.total == 0
        assert table.empty_text.startswith("No execution matches status completed")
        chips = list(screen.query(".chip"))
        assert [str(c.label) for c in chips] == ["status:completed ✕",
                                                 '"no such words anywhere" ✕']
        await pilot.click(chips[1])  # the chip's ✕ drops that term
        await wait_for(pilot, lambda: screen.query_one("#history-filter", Input).value
                       == "status:completed" and screen.rows.total == 4)


async def test_every_filter_key_narrows_the_list_to_what_it_names(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    client = _client(console_server)
    template = client.post("/templates", json={"name": "blog_post", "prompt": "Post"}).json()
    account_id = client.get("/auth/verify").json()["account_id"]
    now = int(time.time() * 1_000_000)
    hour, day = 3_600_000_000, 86_400_000_000
    runs = {  # id: (ago, template version, model, cost, seconds, status, batch, content)
        "exec_a": (hour, "1.0", "gpt-4o", 0.02, 0.5, "completed", None, "harbour lights"),
        "exec_b": (2 * day, "1.1", "simulator", 0.001, 3.0, "completed", "batch_abc", "a"),
        "exec_c": (10 * day, None, "gpt-4o", 0.0005, 0.1, "failed", None, ""),
        "exec_d": (40 * day, None, "simulator", 0.003, 1.2, "completed", None, "refund"),
    }
    console_server.ctx.execution_store.insert_executions(account_id, [
        (now - ago, {"execution_id": key, "status": status, "batch_id": batch,
                     "template_id": template["template_id"] if version else None,
                     "template_version": version, "content": content or None,
                     "rendered_prompt": "prompt", "created_at": "2026-01-01T00:00:00Z",
                     "metadata": {"model": model, "cost": cost, "execution_time": seconds}})
        for key, (ago, version, model, cost, seconds, status, batch, content) in runs.items()])
    console_server.searchable()
    expected = {
        "template:blog_post": ["exec_a", "exec_b"],
        "template:blog_post version:1.1": ["exec_b"],
        "model:gpt-4o": ["exec_a", "exec_c"],
        "batch:batch_abc": ["exec_b"],
        "since:7d": ["exec_a", "exec_b"],
        "since:15d until:1d": ["exec_b", "exec_c"],
        "cost:>0.01": ["exec_a"],
        "cost:0.001..0.003": ["exec_b", "exec_d"],
        "latency:>1s": ["exec_b", "exec_d"],
        "latency:<200ms": ["exec_c"],
        "status:failed": ["exec_c"],
        '"harbour"': ["exec_a"],
        "refund model:simulator": ["exec_d"],
        "": ["exec_a", "exec_b", "exec_c", "exec_d"],
    }
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        for text, ids in expected.items():
            await _filter(pilot, screen, text)
            assert not screen.query_one("#history-problem").display, text
            await wait_for(pilot, lambda: all(
                screen.rows.execution(i) is not None for i in range(screen.rows.total)))
            shown = [screen.rows.execution(i) for i in range(screen.rows.total)]
            assert [r.execution_id for r in shown if r] == ids, text


async def test_new_executions_appear_at_the_top_only_while_the_user_is_there(
    console_server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_screen, "LIVE_EVERY", 0.2)
    client = _client(console_server)
    for i in range(30):
        client.post("/execute", json={"prompt": f"older {i}"})
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        newest = client.post("/execute", json={"prompt": "fresh one"}).json()["execution_id"]
        await wait_for(pilot, lambda: _at_cursor(screen) == newest)  # at the top: shown there
        table = screen.query_one(VirtualTable)
        table.move_to(5)
        await pilot.pause()
        looking_at = _at_cursor(screen)
        client.post("/execute", json={"prompt": "while away"})
        await wait_for(pilot, lambda: screen.new_above == 1)
        assert _at_cursor(screen) == looking_at and table.cursor == 6  # nothing moved
        assert "↑ 1 new" in str(screen.query_one("#history-count").render())


async def test_the_first_run_appears_in_an_empty_history(
    console_server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty list had no top row to ask above, so nothing new ever appeared in it.
    monkeypatch.setattr(history_screen, "LIVE_EVERY", 0.2)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        assert screen.rows.total == 0
        first = _client(console_server).post("/execute", json={"prompt": "the first"}).json()
        await wait_for(pilot, lambda: _at_cursor(screen) == first["execution_id"])
        assert screen.rows.total == 1
        assert "1 execution" in str(screen.query_one("#history-count").render())


async def test_a_run_still_going_shows_its_result_once_it_finishes(
    console_server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_screen, "LIVE_EVERY", 0.2)
    client = _client(console_server)
    account_id = client.get("/auth/verify").json()["account_id"]
    running = {"execution_id": "exec_running", "status": "processing", "content": None,
               "rendered_prompt": "a long one", "created_at": "2026-01-01T00:00:00Z",
               "metadata": {"model": "simulator", "cost": 0.0, "tokens_used": 0}}
    store = console_server.ctx.execution_store
    store.insert_executions(account_id, [(int(time.time() * 1_000_000), running)])
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        await pilot.press("enter")  # the detail of the running one
        body = screen.query_one("#history-detail-body")
        await wait_for(pilot, lambda: "a long one" in _detail_text(app, body))
        assert screen.rows.execution(0).status == "processing"  # type: ignore[union-attr]
        store.update_execution(account_id, {**running, "status": "completed",
                                            "content": "all done", "metadata": {
                                                "model": "simulator", "cost": 0.002,
                                                "tokens_used": 40}})
        await wait_for(pilot, lambda: screen.rows.execution(0).status  # type: ignore[union-attr]
                       == "completed")
        await wait_for(pilot, lambda: "all done" in _detail_text(app, body))
        # A new run while the user is at the top: the cursor's row is the new one, and the
        # detail follows it.
        newest = client.post("/execute", json={"prompt": "brand new"}).json()["execution_id"]
        await wait_for(pilot, lambda: _at_cursor(screen) == newest)
        await wait_for(pilot, lambda: newest in _detail_text(app, body))


async def test_the_detail_follows_j_and_k_and_goes_full_screen(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    client = _client(console_server)
    made = [client.post("/execute", json={"prompt": f"step {i}"}).json() for i in range(3)]
    failed = client.post("/execute", json={"prompt": "will fail", "model_config": {
        "simulate": {"fail": "content_policy"}}})
    failed_id = failed.json()["error"]["details"]["execution_id"]
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        await pilot.press("enter")
        body = screen.query_one("#history-detail-body")
        await wait_for(pilot, lambda: "CONTENT_POLICY_VIOLATION" in _detail_text(app, body))
        text = _detail_text(app, body)
        assert failed_id in text and "request id" in text
        await pilot.press("j")
        await wait_for(pilot, lambda: "step 2" in _detail_text(app, body))  # rendered prompt
        assert made[2]["execution_id"] in _detail_text(app, body)
        await pilot.press("j", "k")
        await wait_for(pilot, lambda: "step 2" in _detail_text(app, body))
        await pilot.press("f")
        assert screen.has_class("-full") and not screen.query_one(VirtualTable).display
        await pilot.press("f")
        assert not screen.has_class("-full")
        await pilot.press("f", "escape")  # escape gives the list back, the peek stays
        assert not screen.has_class("-full") and screen.query_one("#history-detail").display


async def test_on_a_narrow_terminal_the_detail_covers_the_list_until_escape(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _client(console_server).post("/execute", json={"prompt": "narrow"})
    async with make_app(console_server, tmp_path).run_test(size=(80, 24)) as pilot:
        app, screen = await _history(pilot)
        table, pane = screen.query_one(VirtualTable), screen.query_one("#history-detail")
        await pilot.press("enter")
        assert screen.has_class("-full") and pane.display and not table.display
        body = screen.query_one("#history-detail-body")
        await wait_for(pilot, lambda: "narrow" in _detail_text(app, body))
        await pilot.press("escape")
        assert not screen.has_class("-full") and not pane.display and table.display
        assert app.focused is table


def _detail_text(app: PeApp, body: Any) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(width=120, file=StringIO(), record=True)
    console.print(body.content)
    return console.export_text()


async def test_run_again_opens_the_same_version_variables_and_settings(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    client = _client(console_server)
    client.post("/templates", json={
        "name": "aa_again", "prompt": "Greet {{ who }} {{ times }} times",
        "variables": [{"name": "who", "required": True},
                      {"name": "times", "type": "integer", "default": 1}]})
    ran = client.post("/execute", json={
        "template_id": "aa_again", "variables": {"who": "Ada", "times": 3},
        "model_config": {"temperature": 0.3, "max_tokens": 50,
                         "simulate": {"latency_ms": 5}}}).json()
    client.put("/templates/aa_again", json={"prompt": "Hello {{ who }} x{{ times }}"})
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        assert _at_cursor(screen) == ran["execution_id"]
        await pilot.press("p")
        await wait_for(pilot, lambda: app.current_mode == "playground"
                       and app.playground is not None and app.playground.pinned is not None)
        playground = app.playground
        assert playground is not None and playground.pinned is not None
        assert playground.pinned.version == "1.0"  # not the 1.1 made since
        await wait_for(pilot, lambda: {f.spec.name: f.raw for f in
                                       playground.query(VariableField)} == {"who": "Ada",
                                                                             "times": "3"})
        column = playground.query(OutputColumn).first()
        assert column.query_one("#temperature", Input).value == "0.3"
        assert column.query_one("#max_tokens", Input).value == "50"
        assert column.query_one("#latency_ms", Input).value == "5"
        request, problems = playground.build_request()
        assert not problems and request is not None
        assert request.template_version == "1.0" and request.variables == {"who": "Ada",
                                                                           "times": 3}


async def test_compare_marks_one_and_diffs_it_with_another(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    client = _client(console_server)
    client.post("/execute", json={"prompt": "about tea"})
    client.post("/execute", json={"prompt": "about coffee", "model_config": {
        "temperature": 0.9}})
    async with make_app(console_server, tmp_path).run_test(size=(160, 45)) as pilot:
        app, screen = await _history(pilot)
        await pilot.press("C")  # nothing marked yet: it says how
        await pilot.press("m", "down", "C")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        view = app.screen.query_one(DiffView)
        await wait_for(pilot, lambda: view.changes > 0)
        assert view.split  # wide enough: side by side
        assert any("coffee" in old or "coffee" in new for _, old, new in view.sections)
        await pilot.press("u")
        await wait_for(pilot, lambda: not view.split)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))


async def test_copy_offers_each_part(console_server: ServerHandle, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("promptexecution.console.app.copy_with_tool", lambda text: None)
    client = _client(console_server)
    made = client.post("/execute", json={"prompt": "copy my prompt"}).json()
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        choices = app.screen.choices  # type: ignore[attr-defined]
        assert choices[:2] == ["output", "rendered prompt"] and "request id" in choices
        await pilot.press("down", "enter")  # the rendered prompt
        target = tmp_path / "last-output.txt"
        await wait_for(pilot, lambda: target.exists())
        assert target.read_text() == made["rendered_prompt"]


async def test_export_writes_every_match_and_escape_stops_it(
    console_server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptexecution.server.executions import routes

    _bulk(console_server, 250)
    monkeypatch.chdir(tmp_path)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        await _filter(pilot, screen, "model:simulator")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        path = tmp_path / "all.jsonl"
        app.screen.query_one("#export-path", Input).value = str(path)
        await pilot.click("#export-go")
        await wait_for(pilot, lambda: path.exists(), limit=20)
        lines = path.read_text().splitlines()
        assert len(lines) == 250 and json.loads(lines[0])["execution_id"] == "exec_bulk000249"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        # A slow export (the server reads a few rows at a time, slowly) stopped by Escape.
        monkeypatch.setattr(routes, "EXPORT_CHUNK", 5)
        read = console_server.ctx.database.read

        async def slow(query: Any) -> Any:
            await asyncio.sleep(0.05)
            return await read(query)

        monkeypatch.setattr(console_server.ctx.database, "read", slow)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        stopped = tmp_path / "stopped.csv"
        app.screen.query_one("#export-path", Input).value = str(stopped)
        await pilot.click("#format-csv")
        await pilot.click("#export-go")
        await wait_for(pilot, lambda: screen.exporting is not None
                       and "exporting" in screen.exporting)
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.exporting is None)
        assert not stopped.exists() and not stopped.with_name("stopped.csv.part").exists()
        assert any("Export stopped" in n.message for n in app._notifications)


async def test_a_filter_kept_under_a_name_is_in_the_config_and_the_palette(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _client(console_server).post("/execute", json={"prompt": "kept"})
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _history(pilot)
        await _filter(pilot, screen, "status:failed since:7d")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one("#ask-input", Input).value = "failures"
        await pilot.press("enter")
        config = (tmp_path / "config" / "config.toml").read_text()
        assert '[history.filters]' in config and 'failures = "status:failed since:7d"' in config
        await _filter(pilot, screen, "")
        await app.use_history_filter(app.config.history_filters["failures"])
        await wait_for(pilot, lambda: screen.rows.filters.get("status") == "failed")
