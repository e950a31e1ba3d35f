"""The console's pure pieces: variable parsing, Markdown block splitting, placeholders,
settings parsing and the metadata block."""

from __future__ import annotations

import pytest

from promptexecution.client.types import ExecutionResult
from promptexecution.console.screens.save_template import placeholders
from promptexecution.console.widgets.output_column import (
    _duration,
    metadata_line,
    parse_settings,
)
from promptexecution.console.widgets.stream_view import MarkdownBlocks
from promptexecution.console.widgets.variables_form import VariableSpec, parse_value


@pytest.mark.parametrize(("spec", "raw", "value", "problem"), [
    (VariableSpec("n", "integer"), "42", 42, None),
    (VariableSpec("n", "integer"), "4.2", None, "must be a whole number, like 3"),
    (VariableSpec("x", "number"), " 0.5 ", 0.5, None),
    (VariableSpec("x", "number"), "half", None, "must be a number, like 0.5"),
    (VariableSpec("b", "boolean"), True, True, None),
    (VariableSpec("a", "array"), '["x", 1]', ["x", 1], None),
    (VariableSpec("a", "array"), '{"k": 1}', None, "must be a JSON array, like [1, 2]"),
    (VariableSpec("o", "object"), '{"k": 1}', {"k": 1}, None),
    (VariableSpec("o", "object"), "[1]", None, "must be a JSON object"),
    (VariableSpec("s", "string", required=True), "  ", None, "required"),
    (VariableSpec("s", "string"), "", None, None),  # optional and empty: left out
])
def test_parse_value(spec: VariableSpec, raw: str | bool, value: object,
                     problem: str | None) -> None:
    assert parse_value(spec, raw) == (value, problem)


def test_parse_value_names_the_json_problem_and_where() -> None:
    value, problem = parse_value(VariableSpec("a", "array"), '["x",\n  oops]')
    assert value is None and problem is not None
    assert problem.startswith("not valid JSON") and "line 2" in problem


def test_long_text_variables_get_a_text_area() -> None:
    assert VariableSpec("content").multiline and VariableSpec("o", "object").multiline
    assert VariableSpec("x", default="a\nb").multiline
    assert not VariableSpec("name").multiline and not VariableSpec("n", "integer").multiline


def test_markdown_blocks_close_at_blank_lines_outside_fences_whatever_the_chunking() -> None:
    doc = ("## Title\n\nPara one\nstill one.\n\n- a\n- b\n\n```python\nx = 1\n\ny = 2\n```\n"
           "\nlast para\n")
    for size in (1, 3, 7, len(doc)):
        blocks = MarkdownBlocks()
        for i in range(0, len(doc), size):
            blocks.feed(doc[i:i + size])
        assert blocks.closed == ["## Title", "Para one\nstill one.", "- a\n- b",
                                 "```python\nx = 1\n\ny = 2\n```"]
        assert blocks.tail == "last para"


def test_placeholders_in_order_of_first_use() -> None:
    prompt = "Hi {{ name }}, about {topic} and {{name}} again; not {{{x}}} or {a b}"
    assert placeholders(prompt) == ["name", "topic", "x"]
    # The root name of an expression is the variable; Jinja's own names are not.
    assert placeholders("{{ who|upper }} {{ range(3) }} {{- d.start }} {{ true }}") == [
        "who", "d"]


def test_waits_read_as_times() -> None:
    assert [_duration(s) for s in (37, 60, 245, 3412, 7322)] == [
        "37 s", "60 s", "4 min 05 s", "56 min 52 s", "2 h 02 min"]


def test_parse_settings() -> None:
    assert parse_settings({"temperature": "0.7", "max_tokens": "100", "top_p": ""}) == (
        {"temperature": 0.7, "max_tokens": 100}, [])
    config, problems = parse_settings({"temperature": "3", "max_tokens": "1.5", "top_p": "x"})
    assert config == {} and problems == ["temperature must be between 0 and 2",
                                         "top_p must be a number",
                                         "max_tokens must be a whole number"]


def test_metadata_block() -> None:
    execution = ExecutionResult.model_validate({
        "execution_id": "exec_1", "status": "completed", "created_at": "2026-01-01T00:00:00Z",
        "metadata": {"tokens_used": 1200, "input_tokens": 200, "output_tokens": 1000,
                     "execution_time": 2.5, "time_to_first_token": 0.5, "model": "m",
                     "cost": 0.0123}})
    assert metadata_line(execution).splitlines() == [
        "exec_1", "m · $0.012300", "1,200 tokens · 200 in · 1,000 out",
        "TTFT 0.50s · total 2.50s", "500 tokens/s"]


def test_a_loose_list_with_indented_code_stays_one_block() -> None:
    doc = ("Steps:\n\n1. Install\n\n   ```bash\n   pip install pe\n   ```\n\n2. Run it\n\n"
           "   It starts.\n\nDone.\n")
    blocks = MarkdownBlocks()
    blocks.feed(doc)
    assert blocks.closed == [
        "Steps:",
        "1. Install\n\n   ```bash\n   pip install pe\n   ```\n\n2. Run it\n\n   It starts."]
    assert blocks.tail == "Done."


async def test_jinja_highlights_land_on_their_rows_after_leading_blank_lines() -> None:
    """pygments' get_tokens drops leading newlines: every highlight sat two rows too high."""
    from textual.app import App, ComposeResult

    from promptexecution.console.widgets.jinja_editor import JinjaTextArea

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield JinjaTextArea("\n\nHello {{ name }}")

    app = One()
    async with app.run_test() as pilot:
        area = app.query_one(JinjaTextArea)
        await pilot.pause(0.3)
        rows = {row for row, spans in area._highlights.items() if spans}
        assert rows == {2}


def test_a_styled_text_cell_keeps_its_colour_in_the_virtual_table() -> None:
    # Text.render leaves a Text's own style out; the status colour was lost that way.
    from rich.console import Console
    from rich.style import Style
    from rich.text import Text

    from promptexecution.console.widgets.virtual_table import _cell

    segments = _cell(Text("failed", style="#ff0000"), 8, "left", Style(bold=True), Console())
    first = segments[0]
    assert first.text == "failed" and first.style is not None
    assert first.style.color is not None and first.style.color.name == "#ff0000"
    assert first.style.bold
    assert [s.text for s in segments] == ["failed", "  "]


@pytest.mark.parametrize(("preview", "shown"), [
    ("## Write a warm greeting", "Write a warm greeting"),
    ("> - **Bold** start", "Bold start"),
    ("1. first item", "first item"),
    ('```json {"a": 1} ```', '{"a": 1} ```'),
    ("plain words", "plain words"),
    ("##", "##"),  # nothing left after the markers: the preview as it was
])
def test_output_previews_lose_their_leading_markdown(preview: str, shown: str) -> None:
    from promptexecution.history_cells import output_line

    assert output_line(preview) == shown


@pytest.mark.parametrize(("head", "preview"), [
    ("## Title\n\nBody", "## Title"),
    ('{\n  "summary": "ok",\n  "n": 1\n}', '{ "summary": "ok", "n": 1 }'),
    ('```json\n{"a": 1}\n```', '```json {"a": 1} ```'),
    ("\n\n  first real line\nsecond", "first real line"),
    ("", ""),
])
def test_list_previews_show_a_line_that_says_something(head: str, preview: str) -> None:
    from promptexecution.server.executions.history import preview as server_preview

    assert server_preview(head) == preview


def test_control_characters_from_the_server_never_reach_the_terminal() -> None:
    # An output holding ESC sequences (clear screen, OSC 52 clipboard) was drawn as it was.
    from datetime import UTC, datetime

    from promptexecution.console.screens.history import detail
    from promptexecution.history_cells import cells
    from promptexecution.models import ExecutionSummary
    from tests.console.test_history_screen import _detail_text

    hostile = "\x1b[2J\x1b]52;c;cHduZWQ=\x07ok\tthen\rmore"
    row = ExecutionSummary(execution_id="exec_x", status="completed", created_at="2026-01-01T"
                           "00:00:00Z", model=hostile, output_preview=hostile,
                           template_id="tmpl_x", template_version="1.0")
    shown = cells(row, {"tmpl_x": hostile}, datetime.now(UTC))
    assert not any(c in cell for cell in shown for c in "\x1b\x07\t\r\n")
    from promptexecution.client.types import ExecutionResult

    execution = ExecutionResult.model_validate({
        "execution_id": "exec_x", "status": "completed", "content": hostile,
        "rendered_prompt": hostile, "created_at": "2026-01-01T00:00:00Z",
        "metadata": {"variables_used": {"v": hostile}, "model_config": {"k": hostile}}})
    for _, part in detail.sections(execution, hostile, {}):
        text = _detail_text(None, type("Body", (), {"content": part})())  # type: ignore[arg-type]
        assert "\x1b" not in text and "\x07" not in text
