"""Pilot tests of the Playground against the real server and its simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static, Switch, TabbedContent, TextArea

from promptexecution.console.app import PeApp
from promptexecution.console.screens.save_template import SaveTemplateScreen
from promptexecution.console.widgets.output_column import OutputColumn
from promptexecution.console.widgets.stream_view import StreamView
from promptexecution.console.widgets.variables_form import VariableField
from tests.conftest import ServerHandle

from .conftest import make_app
from .scenes import fill, ready, wait_for

SIZE = (140, 42)


def text_of(widget: Static) -> str:
    return str(widget.render())


def column(app: PeApp, index: int = 1) -> OutputColumn:
    assert app.playground is not None
    return app.playground.query_one(f"#column-{index}", OutputColumn)


async def finished(pilot: Pilot[Any], col: OutputColumn) -> None:
    await wait_for(pilot, lambda: not col.running and (col.last_execution or col.error))


async def test_run_a_template_streams_markdown_with_metadata_and_rendered_prompt(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "analysis_template", data="sales rose 12 percent")
        await pilot.press("ctrl+enter")
        col = column(app)
        await finished(pilot, col)
        execution = col.last_execution
        assert execution is not None and execution.status == "completed"
        assert col.view.text == execution.content and col.view.output_format == "markdown"
        meta = text_of(col.query_one(".metadata", Static))
        assert execution.execution_id in meta and "simulator" in meta and "tokens" in meta
        assert "TTFT" in meta and "total" in meta and "$" in meta
        rendered = col.query_one("#rendered-view-1", StreamView).text
        assert "sales rose 12 percent" in rendered
        with console_server.client() as http:
            stored = http.get(f"/executions/{execution.execution_id}").json()
        assert stored["status"] == "completed" and stored["content"] == col.view.text
        assert app.status.cost == round(execution.metadata.cost, 10)  # type: ignore[union-attr]


async def test_ctrl_j_runs_too_and_stream_off_waits_for_the_whole_answer(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "analysis_template", data="numbers")
        col = column(app)
        col.query_one("#stream", Switch).value = False
        app.playground.query_one("#template-filter", Input).focus()  # type: ignore[union-attr]
        await pilot.press("ctrl+j")
        await finished(pilot, col)
        assert col.last_execution is not None and col.view.text == col.last_execution.content
        assert app.playground.query_one("#template-filter", Input).value == ""  # type: ignore


async def test_bad_variables_show_inline_and_nothing_is_sent(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "blog_post_seo_v2", topic="tea", keywords="[1, 2",
                   word_count="many")
        requests = app.status.requests
        await pilot.press("ctrl+enter")
        await pilot.pause(0.2)
        assert app.status.requests == requests  # nothing went to the server
        fields = {f.spec.name: f for f in app.playground.query(VariableField)}  # type: ignore
        assert fields["word_count"].has_class("-invalid")
        assert "whole number" in text_of(fields["word_count"].query_one(".problem", Static))
        assert "not valid JSON" in text_of(fields["keywords"].query_one(".problem", Static))
        assert not fields["topic"].has_class("-invalid")
        assert fields["tone"].editor.value == "professional"  # type: ignore[attr-defined]
        # Fixing the values sends it; what was typed is still there.
        fields["keywords"].editor.text = '["tea", "green"]'  # type: ignore[attr-defined]
        fields["word_count"].editor.value = "300"  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.press("ctrl+enter")
        await finished(pilot, column(app))
        assert column(app).last_execution is not None
        used = column(app).last_execution.metadata.variables_used  # type: ignore[union-attr]
        assert used is not None and used["keywords"] == ["tea", "green"]
        assert used["word_count"] == 300


async def test_settings_out_of_range_are_refused_in_place(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "analysis_template", data="x")
        col = column(app)
        col.query_one("#temperature", Input).value = "3"
        await pilot.press("ctrl+enter")
        await pilot.pause(0.2)
        assert "temperature must be between 0 and 2" in text_of(
            col.query_one(".settings-problem", Static))
        assert not col.running and col.last_execution is None


async def test_escape_cancels_the_stream_keeping_partial_output(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.playground.extra_model_config = {"simulate": {"hold_after_tokens": 30}}  # type: ignore
        await fill(pilot, app, "analysis_template", data="hold this")
        await pilot.press("ctrl+enter")
        col = column(app)
        await wait_for(pilot, lambda: len(col.view.text) > 40)
        partial = col.view.text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not col.running)
        assert col.view.text == partial
        assert "cancelled" in text_of(col.query_one(".metadata", Static))
        with console_server.client() as http:
            for _ in range(100):
                rows = http.get("/executions", params={"status": "cancelled"}).json()
                if rows["executions"]:
                    break
                await pilot.pause(0.05)
            stored = http.get(f"/executions/{rows['executions'][0]['execution_id']}").json()
        assert stored["status"] == "cancelled" and stored["content"] == partial


async def test_an_api_error_shows_code_message_and_request_id_in_place(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.playground.extra_model_config = {  # type: ignore[union-attr]
            "simulate": {"fail": "content_policy"}}
        await fill(pilot, app, "analysis_template", data="keep me")
        await pilot.press("ctrl+enter")
        col = column(app)
        await finished(pilot, col)
        shown = text_of(col.query_one(".error", Static))
        assert "CONTENT_POLICY_VIOLATION" in shown and "req_" in shown
        assert col.error is not None and col.error.request_id in shown  # type: ignore
        field = app.playground.query_one(VariableField)  # type: ignore[union-attr]
        assert field.raw == "keep me"


async def test_json_output_is_pretty_printed(console_server: ServerHandle,
                                             tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "analysis_template", data="json please")
        col = column(app)
        col.query_one("#response_format").value = "json"  # type: ignore[attr-defined]
        await pilot.press("ctrl+enter")
        await finished(pilot, col)
        assert col.view.output_format == "json"
        assert isinstance(json.loads(col.view.text), dict)
        lines = [strip.text for strip in col.view._tail_lines]
        assert lines[0].strip() == "{" and lines[1].startswith("  ")


async def test_compare_runs_up_to_three_columns_each_on_its_own(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "analysis_template", data="compare these")
        for _ in range(3):
            await pilot.press("ctrl+n")
        await pilot.pause()
        columns = app.playground.columns  # type: ignore[union-attr]
        assert len(columns) == 3
        for col, max_tokens in zip(columns, ("5", "10", ""), strict=True):
            col.query_one("#max_tokens", Input).value = max_tokens
        await pilot.press("ctrl+enter")
        for col in columns:
            await finished(pilot, col)
        tokens = [c.last_execution.metadata.output_tokens for c in columns]  # type: ignore
        assert tokens[0] <= 5 < tokens[1] <= 10 < tokens[2]
        assert len({c.last_execution.execution_id for c in columns}) == 3  # type: ignore
        metadata_rows = {c.query_one(".metadata").region.y for c in columns}
        assert len(metadata_rows) == 1  # aligned
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert len(app.playground.columns) == 2  # type: ignore[union-attr]


async def test_copy_output_says_what_happened(console_server: ServerHandle, tmp_path: Path,
                                              monkeypatch: Any) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+o")
        assert "Nothing to copy" in list(app._notifications)[-1].message
        await fill(pilot, app, "analysis_template", data="copy me")
        await pilot.press("ctrl+enter")
        await finished(pilot, column(app))
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: "OSC 52" in list(app._notifications)[-1].message)
        message = list(app._notifications)[-1].message
        assert "OSC 52" in message and str(tmp_path / "last-output.txt") in message
        assert app.clipboard == column(app).view.text
        assert (tmp_path / "last-output.txt").read_text() == column(app).view.text


async def test_save_a_raw_prompt_as_a_template(console_server: ServerHandle,
                                               tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        playground.query_one("#source-tabs", TabbedContent).active = "source-raw"
        playground.query_one("#raw-prompt", TextArea).text = "Write a haiku about {{topic}}."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveTemplateScreen))
        dialog = app.screen
        dialog.query_one("#name", Input).value = "analysis_template"  # taken
        await pilot.click("#save")
        await wait_for(pilot, lambda: "TEMPLATE_NAME_TAKEN" in text_of(
            dialog.query_one("#save-error", Static)))
        assert dialog.query_one("#name", Input).value == "analysis_template"
        dialog.query_one("#name", Input).value = "haiku"
        dialog.query_one("#tags", Input).value = "poetry, short"
        dialog.query_one("#name", Input).focus()
        await pilot.press("enter")  # Enter in a field saves too
        await wait_for(pilot, lambda: playground.selected is not None
                       and playground.selected.name == "haiku")
        with console_server.client() as http:
            saved = http.get("/templates/haiku").json()
        assert saved["prompt"] == "Write a haiku about {{topic}}."
        assert saved["variables"] == [{"name": "topic", "type": "string", "required": True}]
        assert saved["tags"] == ["poetry", "short"]
        assert playground.query_one("#raw-prompt", TextArea).text.startswith("Write a haiku")


async def test_template_filter_by_name_or_tag(console_server: ServerHandle,
                                              tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.click("#template-filter")
        await pilot.press(*"blog seo")
        option_list = app.playground.query_one("#template-list")  # type: ignore[union-attr]
        ids = [option_list.get_option_at_index(i).id  # type: ignore[attr-defined]
               for i in range(option_list.option_count)]  # type: ignore[attr-defined]
        names = {t.template_id: t.name for t in app.playground.templates}  # type: ignore
        assert [names[i] for i in ids] == ["blog_post_seo_v2"]  # "seo" is only in its tags
        await pilot.press("enter")
        assert app.playground.selected.name == "blog_post_seo_v2"  # type: ignore[union-attr]
        await pilot.click("#template-filter")
        await pilot.press(*"zzz")
        assert "no template matches" in str(option_list.get_option_at_index(0).prompt)  # type: ignore


async def test_switching_templates_and_back_keeps_what_was_typed(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "blog_post_seo_v2", topic="oolong", keywords='["tea"]')
        await fill(pilot, app, "analysis_template", data="other")
        await fill(pilot, app, "blog_post_seo_v2")
        fields = {f.spec.name: f.raw for f in app.playground.query(VariableField)}  # type: ignore
        assert fields["topic"] == "oolong" and fields["keywords"] == '["tea"]'


async def test_what_was_typed_survives_quitting(console_server: ServerHandle,
                                                tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "blog_post_seo_v2", topic="matcha")
        app.playground.query_one("#raw-prompt", TextArea).text = "a draft"  # type: ignore
        await pilot.press("ctrl+q")
    assert oct((tmp_path / "draft.json").stat().st_mode & 0o777) == "0o600"
    again = make_app(console_server, tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = again.playground
        assert playground is not None
        await wait_for(pilot, lambda: playground.selected is not None)
        assert playground.selected.name == "blog_post_seo_v2"  # type: ignore[union-attr]
        await pilot.pause()
        fields = {f.spec.name: f.raw for f in playground.query(VariableField)}
        assert fields["topic"] == "matcha"
        assert playground.query_one("#raw-prompt", TextArea).text == "a draft"


async def test_holding_down_in_the_template_list_never_crashes(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.playground.query_one("#template-list").focus()  # type: ignore[union-attr]
        await pilot.press(*["down"] * 16, "up", "down")
        await pilot.pause(0.2)
        assert app.is_running and app.playground.selected is not None  # type: ignore


async def test_markup_in_a_template_is_shown_as_text(console_server: ServerHandle,
                                                     tmp_path: Path) -> None:
    with console_server.client() as http:
        http.post("/templates", json={
            "name": "odd_markup", "prompt": "Say {{x}}",
            "variables": [{"name": "x", "description": "closing [/] and [b]bold[/b]"}],
            "description": "[red]not red[/red]"}).raise_for_status()
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "odd_markup")
        label = app.playground.query_one(".field-label", Static)  # type: ignore[union-attr]
        assert "closing [/] and [b]bold[/b]" in str(label.render())


async def test_esc_without_streaming_says_the_server_may_still_finish(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.playground.extra_model_config = {"simulate": {"latency_ms": 2000}}  # type: ignore
        await fill(pilot, app, "analysis_template", data="slow")
        col = column(app)
        col.query_one("#stream", Switch).value = False
        await pilot.press("ctrl+enter")
        await wait_for(pilot, lambda: col.running)
        await pilot.pause(0.2)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not col.running)
        assert "may still finish" in list(app._notifications)[-1].message


async def test_the_output_follows_a_long_stream_to_its_end(console_server: ServerHandle,
                                                          tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.playground.extra_model_config = {  # type: ignore[union-attr]
            "simulate": {"output_tokens": 1500, "tokens_per_second": 6000}}
        await fill(pilot, app, "analysis_template", data="a long one")
        await pilot.press("ctrl+enter")
        col = column(app)
        await finished(pilot, col)
        await pilot.pause(0.3)
        view = col.view
        assert view.max_scroll_y > 20 and view.following
        assert view.scroll_y == view.max_scroll_y  # the end is on screen
        view.scroll_to(y=0, animate=False, immediate=True)  # the user scrolls up...
        assert not view.following
        view.append("\n\nmore")  # ...and more text does not pull them back down
        await pilot.pause(0.2)
        assert view.scroll_y == 0


async def _palette(pilot: Pilot[Any], query: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.press(*query)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause(0.3)


async def test_the_palette_opens_a_template_the_filter_hides_and_focuses_its_first_variable(
        console_server: ServerHandle, tmp_path: Path) -> None:
    """Type `sent` in the filter, then open blog_post_seo_v2 from the palette: it used to
    crash (OptionDoesNotExist), and left the cursor in the filter."""
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        await pilot.press(*"sent")
        await _palette(pilot, "open template blog_post_seo")
        assert app.is_running
        assert playground.selected is not None and playground.selected.name == "blog_post_seo_v2"
        assert playground.query_one("#template-filter", Input).value == ""
        options = playground.query_one("#template-list", OptionList)
        assert options.highlighted is not None
        assert options.get_option_at_index(options.highlighted).id == (
            playground.selected.template_id)
        focused = app.focused
        assert focused is not None and isinstance(focused.parent, VariableField)
        assert focused.parent.spec.name == "topic"
        await pilot.press(*"cats")  # the next keystrokes fill the variable, not the filter
        assert isinstance(focused, Input) and focused.value == "cats"
        assert playground.query_one("#template-filter", Input).value == ""


async def test_saving_a_template_the_filter_would_hide_selects_it(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        await pilot.press(*"sentiment")
        playground.query_one("#source-tabs", TabbedContent).active = "source-raw"
        playground.query_one("#raw-prompt", TextArea).text = "A limerick about {{topic}}."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveTemplateScreen))
        app.screen.query_one("#name", Input).value = "limerick"
        await pilot.click("#save")
        await wait_for(pilot, lambda: playground.selected is not None
                       and playground.selected.name == "limerick")
        options = playground.query_one("#template-list", OptionList)
        assert options.highlighted is not None
        assert options.get_option_at_index(options.highlighted).id == (
            playground.selected.template_id)
