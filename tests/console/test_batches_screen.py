"""The Batches screen (F5) with Pilot against the real server: submit from JSONL and from CSV
with a column mapped, bad rows refused before anything is sent, the live panel, cancel,
retry failed with each item's attempt history, drill-down from an error group, the results
browser and its status filter, export, and the notice when a watched batch finishes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, OptionList, Select, Static

from promptexecution.console.app import PeApp
from promptexecution.console.screens.batches.actions import ExportResultsScreen
from promptexecution.console.screens.batches.batch_screen import BatchScreen, ItemScreen
from promptexecution.console.screens.batches.panel import BatchPanel
from promptexecution.console.screens.batches.screen import BatchesScreen
from promptexecution.console.screens.batches.submit import SubmitScreen
from promptexecution.console.screens.templates.dialogs import ConfirmScreen
from promptexecution.console.widgets.virtual_table import VirtualTable
from tests.conftest import ServerHandle

from .conftest import make_app
from .scenes import ready, wait_for

SIZE = (160, 48)
TEMPLATE = {"name": "triage", "prompt": "Sort this {{ tier }} feedback: {{ text }}",
            "variables": [{"name": "text", "type": "string", "required": True},
                          {"name": "tier", "type": "string", "required": False,
                           "default": "standard"}]}


def _client(server: ServerHandle) -> Any:
    return server.client(server.local_key)


def _template(server: ServerHandle) -> str:
    with _client(server) as c:
        response = c.post("/templates", json=TEMPLATE)
        assert response.status_code == 201, response.text
        return str(response.json()["template_id"])


def _submit(server: ServerHandle, count: int, *, latency_ms: int = 0, fail_when: str = "",
            concurrency: int = 4) -> str:
    """A batch of `count` items through the template; items whose text holds `fail_when`
    fail with a retry-eligible error."""
    template_id = _template_once(server)
    simulate: dict[str, Any] = {"latency_ms": latency_ms}
    if fail_when:
        simulate.update(fail="server_error", fail_when=fail_when)
    with _client(server) as c:
        response = c.post("/batch", json={
            "template_id": template_id,
            "inputs": [{"id": f"item{i}", "variables": {
                "text": f"{fail_when if fail_when and i % 5 == 0 else 'fine'} {i}"}}
                for i in range(count)],
            "model_config": {"simulate": simulate},
            "processing_options": {"max_concurrent": concurrency}})
        assert response.status_code == 202, response.text
        return str(response.json()["batch_id"])


def _template_once(server: ServerHandle) -> str:
    with _client(server) as c:
        found = [t for t in c.get("/templates", params={"limit": 100}).json()["templates"]
                 if t["name"] == TEMPLATE["name"]]
    return str(found[0]["template_id"]) if found else _template(server)


def _finished(server: ServerHandle, batch_id: str) -> dict[str, Any]:
    with _client(server) as c:
        return dict(c.get(f"/batch/{batch_id}/progress").json())


async def _batches(pilot: Pilot[Any]) -> tuple[PeApp, BatchesScreen]:
    app = await ready(pilot)
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(app.screen, BatchesScreen)
                   and app.batch_book.loaded)
    screen = app.screen
    assert isinstance(screen, BatchesScreen)
    return app, screen


def _panel_text(screen: Any) -> str:
    panel = screen.query_one(BatchPanel)
    return "\n".join(str(part.render()) for part in panel.query(Static))


async def _fill_submit(pilot: Pilot[Any], app: PeApp, path: Path,
                       columns: dict[str, str] | None = None) -> SubmitScreen:
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen)
                   and bool(app.screen.templates))
    screen = app.screen
    assert isinstance(screen, SubmitScreen)
    screen.query_one("#submit-path", Input).value = str(path)
    picker = screen.query_one("#submit-template", Select)
    picker.value = next(t.template_id for t in screen.templates if t.name == "triage")
    await wait_for(pilot, lambda: screen.template is not None
                   and len(screen.query(".submit-column")) == 2)
    for field in screen.query(".submit-column").results(Input):
        if columns and field.name in columns:
            field.value = columns[field.name]
    return screen


async def test_submit_from_jsonl_checks_confirms_and_shows_the_batch(
        console_server: ServerHandle, tmp_path: Path) -> None:
    _template(console_server)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": f"note {i}", "tier": "gold"})
                            + "\n" for i in range(30)))
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        screen = await _fill_submit(pilot, app, path)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query(Static).last().render()) + "".join(
            str(s.render()) for s in app.screen.query(Static))
        assert "30 items through triage" in body and "Estimated cost" in body
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: isinstance(app.screen, BatchesScreen)
                       and len(app.batch_book.states) == 1)
        state = next(iter(app.batch_book.states.values()))
        await wait_for(pilot, lambda: state.finished, limit=20)
        assert state.counts.completed == 30
        assert screen.checked is not None and not screen.checked.problems
    with _client(console_server) as c:
        items = c.get(f"/batch/{state.batch_id}/results").json()["results"]
    assert items[0]["item_id"] == "r0" and "gold" in json.dumps(items[0])


async def test_submit_from_csv_maps_a_column_to_a_variable(
        console_server: ServerHandle, tmp_path: Path) -> None:
    _template(console_server)
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "comment"])
        writer.writerows([[f"c{i}", f"review {i}"] for i in range(12)])
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        screen = await _fill_submit(pilot, app, path)
        # text has no column of its name: it is not matched, and the check says so.
        columns = {f.name: f.value for f in screen.query(".submit-column").results(Input)}
        assert columns == {"text": "", "tier": ""}
        await pilot.click("#submit-check")
        await wait_for(pilot, lambda: screen.checked is not None)
        assert screen.checked is not None and len(screen.checked.problems) == 12
        assert "text: required" in str(screen.checked.problems[0])
        next(f for f in screen.query(".submit-column").results(Input)
             if f.name == "text").value = "comment"
        # The spec's processing options: a callback to a private address is refused by
        # the server, and the form says why; then none.
        screen.query_one("#submit-priority", Select).value = "high"
        screen.query_one("#submit-callback", Input).value = "http://10.0.0.1/hook"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        report = screen.query_one("#submit-report", Static)
        await wait_for(pilot, lambda: "Not sent" in str(report.render()))
        assert "10.0.0.1" in str(report.render()) or "callback" in str(report.render())
        screen.query_one("#submit-callback", Input).value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: len(app.batch_book.states) == 1
                       and next(iter(app.batch_book.states.values())).finished, limit=20)
        state = next(iter(app.batch_book.states.values()))
        assert state.counts.completed == 12
        assert state.summary.priority == "high"
    with _client(console_server) as c:
        item = c.get(f"/batch/{state.batch_id}/results").json()["results"][3]
        execution = c.get(f"/executions/{item['execution_id']}").json()
    assert item["item_id"] == "c3" and "review 3" in execution["rendered_prompt"]


async def test_bad_rows_are_listed_and_nothing_is_sent_until_dropped(
        console_server: ServerHandle, tmp_path: Path) -> None:
    _template(console_server)
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps({"id": f"r{i}", "text": f"ok {i}"}) for i in range(5)]
    lines += [json.dumps({"id": "r1", "text": "twice"}), json.dumps({"id": "x"}), "{oops"]
    path.write_text("\n".join(lines) + "\n")
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        screen = await _fill_submit(pilot, app, path)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.checked is not None)
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)  # nothing is offered for sending
        report = str(screen.query_one("#submit-report", Static).render())
        assert "3 problem(s) on 3 row(s)" in report
        assert "row 6 (r1): id 'r1' is also on row 2" in report
        assert "row 7 (x): text: required" in report and "row 8: not valid JSON" in report
        with _client(console_server) as c:
            assert c.get("/batch").json()["pagination"]["total"] == 0
        drop = screen.query_one("#submit-drop", Checkbox)
        assert drop.display
        drop.value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = "".join(str(s.render()) for s in app.screen.query(Static))
        assert "5 items" in body and "3 bad row(s) left out" in body
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: len(app.batch_book.states) == 1)
    with _client(console_server) as c:
        assert c.get("/batch").json()["batches"][0]["total_items"] == 5


async def test_the_panel_follows_a_running_batch_live(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, screen = await _batches(pilot)
        batch_id = _submit(console_server, 60, latency_ms=40, concurrency=2)
        await wait_for(pilot, lambda: screen.current is not None
                       and screen.current.batch_id == batch_id)
        await wait_for(pilot, lambda: 0 < screen.current.counts.completed < 60  # type: ignore
                       and "processing" in _panel_text(screen))
        first = screen.current.counts.completed  # type: ignore[union-attr]
        text = _panel_text(screen)
        assert "updated" in text and "pending · of 60" in text and "throughput" in text
        await wait_for(pilot, lambda: screen.current.counts.completed > first)  # type: ignore
        await wait_for(pilot, lambda: screen.current.finished, limit=20)  # type: ignore
        await pilot.pause(0.4)
        assert "finished: completed" in _panel_text(screen)
        table = screen.query_one(VirtualTable)
        assert "60/60" in "".join(str(c) for c in screen.source.row(table.cursor) or [])


async def test_cancel_shows_cancelling_until_the_server_confirms(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, screen = await _batches(pilot)
        batch_id = _submit(console_server, 400, latency_ms=300, concurrency=2)
        await wait_for(pilot, lambda: screen.current is not None
                       and screen.current.counts.completed > 0)
        state = app.batch_book.states[batch_id]
        shown: list[str] = []
        app.batch_book.subscribe(lambda _: shown.append(state.status))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: state.status == "cancelled", limit=20)
        # From the confirm on, cancelling (before the server answers, and while the items
        # in flight finish), then cancelled: never processing again.
        after = shown[shown.index("cancelling"):]
        assert set(after) <= {"cancelling", "cancelled"} and after[-1] == "cancelled"
        counts = _finished(console_server, batch_id)["progress"]
        assert counts["cancelled"] > 0 and counts["completed"] > 0
        assert state.counts.cancelled == counts["cancelled"]
        await pilot.press("c")  # a finished batch: nothing to confirm
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_retry_failed_says_what_and_keeps_the_attempt_history(
        console_server: ServerHandle, tmp_path: Path) -> None:
    batch_id = _submit(console_server, 20, fail_when="broken")
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, screen = await _batches(pilot)
        await wait_for(pilot, lambda: screen.current is not None
                       and screen.current.progress is not None
                       and screen.current.finished)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = "".join(str(s.render()) for s in app.screen.query(Static))
        assert "4 failed items run again: MODEL_PROVIDER_ERROR 4" in body
        assert "Estimated cost: about $" in body
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: _finished(console_server, batch_id)["status"]
                       in ("completed", "failed") and _retried(console_server, batch_id),
                       limit=20)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BatchScreen)
                       and app.screen.rows.loaded)
        await pilot.press("f")
        batch = app.screen
        assert isinstance(batch, BatchScreen)
        await wait_for(pilot, lambda: batch.rows.loaded and batch.rows.total == 4)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ItemScreen))
        attempts = str(app.screen.query_one("#batch-item-attempts", Static).render())
        assert "run 1: failed MODEL_PROVIDER_ERROR" in attempts
        assert "run 2: failed MODEL_PROVIDER_ERROR" in attempts


def _retried(server: ServerHandle, batch_id: str) -> bool:
    with _client(server) as c:
        items = c.get(f"/batch/{batch_id}/results", params={"status": "failed"}).json()
    return bool(items["results"]) and all(r.get("earlier_attempts") for r in items["results"])


async def test_an_error_group_drills_into_its_items_and_an_item_opens_its_execution(
        console_server: ServerHandle, tmp_path: Path) -> None:
    batch_id = _submit(console_server, 25, fail_when="broken")
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, screen = await _batches(pilot)
        await wait_for(pilot, lambda: screen.current is not None and screen.current.finished)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BatchScreen)
                       and app.screen.rows.loaded)
        batch = app.screen
        assert isinstance(batch, BatchScreen) and batch.rows.total == 25
        options = batch.query_one("#batch-error-list", OptionList)
        await wait_for(pilot, lambda: options.option_count == 1
                       and options.get_option_at_index(0).id == "MODEL_PROVIDER_ERROR")
        assert "5" in str(options.get_option_at_index(0).prompt)
        await pilot.press("e")
        await pilot.press("enter")
        await wait_for(pilot, lambda: batch.error_code == "MODEL_PROVIDER_ERROR"
                       and batch.rows.loaded and batch.rows.total == 5)
        assert all(batch.rows.item(i).status == "failed" for i in range(5))  # type: ignore
        await pilot.press("a")
        await wait_for(pilot, lambda: batch.rows.loaded and batch.rows.total == 25)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ItemScreen))
        item = app.screen
        assert isinstance(item, ItemScreen)
        await wait_for(pilot, lambda: item.execution is not None)
        assert item.execution is not None and item.execution.batch_id == batch_id
        assert item.item.item_id == "item1" and item.execution.status == "completed"
        assert "fine 1" in (item.execution.rendered_prompt or "")


async def test_the_results_browser_pages_through_many_items(
        console_server: ServerHandle, tmp_path: Path) -> None:
    _submit(console_server, 1200)
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, screen = await _batches(pilot)
        await wait_for(pilot, lambda: screen.current is not None and screen.current.finished,
                       limit=20)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BatchScreen)
                       and app.screen.rows.loaded)
        batch = app.screen
        assert isinstance(batch, BatchScreen) and batch.rows.total == 1200
        await pilot.press("end")
        table = batch.query_one(VirtualTable)
        await wait_for(pilot, lambda: batch.rows.row(1199) is not None)
        assert table.cursor == 1199 and batch.rows.item(1199).item_id == "item1199"  # type: ignore
        await pilot.press("p")
        await wait_for(pilot, lambda: batch.rows.loaded and batch.status == "pending")
        assert batch.rows.total == 0 and "No pending item" in table.empty_text


async def test_export_writes_every_result_to_the_chosen_file(
        console_server: ServerHandle, tmp_path: Path) -> None:
    _submit(console_server, 15, fail_when="broken")
    target = tmp_path / "out.csv"
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, screen = await _batches(pilot)
        await wait_for(pilot, lambda: screen.current is not None and screen.current.finished)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportResultsScreen))
        dialog = app.screen
        await pilot.click("#export-format RadioButton:last-of-type")
        dialog.query_one("#export-path", Input).value = str(target)
        await pilot.click("#export-go")
        await wait_for(pilot, lambda: target.exists())
    rows = list(csv.reader(target.open()))
    assert rows[0][:3] == ["item_id", "status", "execution_id"] and len(rows) == 16
    assert sum(1 for row in rows[1:] if row[1] == "failed") == 3
    assert not (tmp_path / "out.csv.part").exists()


async def test_a_watched_batch_that_finishes_is_announced_on_any_screen(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        batch_id = _submit(console_server, 30, latency_ms=30, concurrency=2,
                           fail_when="broken")
        await wait_for(pilot, lambda: batch_id in app.batch_book.states
                       and not app.batch_book.states[batch_id].finished)
        await pilot.press("f2")  # the Playground: the notice comes anyway
        await wait_for(pilot, lambda: any(batch_id in n.message for n in app._notifications),
                       limit=20)
        notice = next(n for n in app._notifications if batch_id in n.message)
        assert f"Batch {batch_id} completed: 24 completed, 6 failed of 30" in notice.message
        assert notice.severity == "warning"


async def test_settings_and_paths_the_server_would_refuse_are_said_before_reading(
        console_server: ServerHandle, tmp_path: Path) -> None:
    import os

    _template(console_server)
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps({"text": "hello"}) + "\n")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        screen = await _fill_submit(pilot, app, path)
        report = screen.query_one("#submit-report", Static)
        for field, value, said in (("#submit-max-tokens", "-", "max tokens: '-' is not a "
                                    "whole number"),
                                   ("#submit-temperature", "5", "temperature: input should be "
                                    "less than or equal to 2"),
                                   ("#submit-concurrency", "0", "max concurrent: input should "
                                    "be greater than or equal to 1")):
            screen.query_one(field, Input).value = value
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda said=said: said in str(report.render()))
            screen.query_one(field, Input).value = ""
        screen.query_one("#submit-path", Input).value = str(fifo)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "is not a file that can be read" in str(report.render()))
        assert not isinstance(app.screen, ConfirmScreen)
    with _client(console_server) as c:
        assert c.get("/batch").json()["pagination"]["total"] == 0


async def test_a_file_fixed_after_a_check_is_read_again_and_a_sent_batch_is_never_not_sent(
        console_server: ServerHandle, tmp_path: Path) -> None:
    from promptexecution.exceptions import APIConnectionError

    _template(console_server)
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"text": "one"}) + "\n" + json.dumps({"tier": "x"}) + "\n")
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        screen = await _fill_submit(pilot, app, path)
        await pilot.click("#submit-check")
        await wait_for(pilot, lambda: screen.checked is not None)
        assert "row 2: text: required" in str(screen.checked.problems[0])  # type: ignore
        path.write_text(json.dumps({"text": "one"}) + "\n" + json.dumps({"text": "two"})
                        + "\n")  # fixed in an editor
        client = app.client_or_none()
        assert client is not None

        async def unreadable(batch_id: str) -> Any:
            raise APIConnectionError("the read after the send failed")

        client.batches.get = unreadable  # type: ignore[method-assign]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: isinstance(app.screen, BatchesScreen))
        assert any("2 items sent" in n.message for n in app._notifications)
    with _client(console_server) as c:
        assert c.get("/batch").json()["pagination"]["total"] == 1


async def test_the_palette_opens_a_batch_from_any_screen(
        console_server: ServerHandle, tmp_path: Path) -> None:
    from promptexecution.console.commands import BatchCommands

    batch_id = _submit(console_server, 5)
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app, _ = await _batches(pilot)
        await wait_for(pilot, lambda: "triage" in app.batch_book.names.values())
        await pilot.press("f2")
        entries = BatchCommands(app.screen).entries()
        text, help_text, command = next(e for e in entries if batch_id in e[0])
        assert text == f"Open batch: {batch_id} (triage)"
        assert help_text in ("processing: 0 of 5 done, 0 failed", "completed: 5 of 5 done, "
                             "0 failed") or help_text.endswith("of 5 done, 0 failed")
        await command()  # type: ignore[misc]
        await wait_for(pilot, lambda: isinstance(app.screen, BatchScreen)
                       and app.screen.batch_id == batch_id and app.screen.rows.loaded)
        assert app.current_mode == "batches" and app.screen.rows.total == 5
