"""The console's screens in the states that matter, made reproducible: a server with a fixed
clock, a frozen timer and seeded ids on a fixed port, and a console with a fixed clock.

The snapshot tests (test_snapshots.py) and the screenshots command
(`python -m tests.console.screenshots`, `make screenshots`) both use these scenes, so the
pictures in screenshots/ are the screens the tests check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent, TextArea

from promptexecution.console.app import PeApp
from promptexecution.console.config import ConsoleConfig, Profile
from promptexecution.console.widgets.output_column import OutputColumn
from promptexecution.console.widgets.variables_form import VariableField
from promptexecution.server.core.clock import FixedClock, IdSource
from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, running_server

# Times show in local time; the scenes' local time is UTC wherever they run.
os.environ["TZ"] = "UTC"
time.tzset()

SIZE = (140, 42)
PORT = 48765  # fixed, so the header's URL is the same in every snapshot
START = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


# A plan whose burst is one request a minute: the second run of a scene meets a 429.
LIMITED = ServerConfig(plans={"basic": {"burst_per_minute": 1, "requests_per_hour": 100,
                                        "concurrent": 1}})


@contextmanager
def scene_server(data_dir: Path, config: ServerConfig | None = None) -> Iterator[ServerHandle]:
    with running_server(data_dir, clock=FixedClock(START), ids=IdSource(seed=7),
                        monotonic=lambda: 1000.0, port=PORT, config=config) as handle:
        yield handle


def scene_app(server: ServerHandle, config_dir: Path, theme: str = "pe-dark",
              plan: str | None = None) -> PeApp:
    # The key is random per data dir; naming it by env var keeps Settings' listing stable.
    os.environ["PE_SCENE_KEY"] = server.make_key(plan) if plan else server.local_key
    config = ConsoleConfig(
        profiles={"local": Profile("local"),
                  "demo": Profile("demo", server.base_url, api_key_env="PE_SCENE_KEY")},
        default_profile="demo", theme=theme)
    # A fixed config path: the help screen shows it. Scenes never save the config.
    app = PeApp(config, config_path=Path("/tmp/pe-scenes/config.toml"), clock=lambda: 0.0,
                output_file=config_dir / "last-output.txt", heartbeat=3600, freshness=3600,
                draft_file=config_dir / "draft.json")
    app.now = lambda: START + timedelta(hours=3)
    return app


async def wait_for(pilot: Pilot[Any], check: Callable[[], object], limit: float = 10) -> None:
    waited = 0.0
    while not check():
        if waited > limit:
            raise AssertionError(f"timed out waiting for {check}")
        await pilot.pause(0.05)
        waited += 0.05


async def ready(pilot: Pilot[Any]) -> PeApp:
    """The app, once the Playground has its templates and models."""
    app = pilot.app
    assert isinstance(app, PeApp)
    await wait_for(pilot, lambda: app.playground is not None and app.playground.loaded)
    return app


async def fill(pilot: Pilot[Any], app: PeApp, template: str, **values: str) -> None:
    """Picks `template` and types `values` into its variables form."""
    assert app.playground is not None
    assert app.playground.select_template(template)
    await pilot.pause()
    for field in app.playground.query(VariableField):
        if field.spec.name in values:
            editor = field.editor
            if isinstance(editor, Input):
                editor.value = values[field.spec.name]
            elif isinstance(editor, TextArea):
                editor.text = values[field.spec.name]
    await pilot.pause()


async def _template(pilot: Pilot[Any], name: str, **values: str) -> PeApp:
    app = await ready(pilot)
    await fill(pilot, app, name, **values)
    assert app.playground is not None
    app.playground.query_one("#template-list").focus()
    await pilot.pause()
    return app


def _columns(app: PeApp) -> list[OutputColumn]:
    assert app.playground is not None
    return app.playground.columns


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.2)  # the output view draws at most 30 times a second
    await pilot.wait_for_scheduled_animations()


async def idle(pilot: Pilot[Any]) -> None:
    await _template(pilot, "blog_post_seo_v2", topic="green tea")


async def _run(pilot: Pilot[Any], app: PeApp) -> None:
    await pilot.press("ctrl+enter")
    for column in _columns(app):
        await wait_for(pilot, lambda c=column: not c.running and (c.last_execution or c.error))
    await _settle(pilot)


async def finished(pilot: Pilot[Any]) -> None:
    app = await _template(pilot, "analysis_template",
                          data="Q3 revenue rose 12% while churn fell to 3.1%")
    await _run(pilot, app)


async def mid_stream(pilot: Pilot[Any]) -> None:
    app = await _template(pilot, "analysis_template",
                          data="Q3 revenue rose 12% while churn fell to 3.1%")
    assert app.playground is not None
    app.playground.extra_model_config = {"simulate": {"hold_after_tokens": 60}}
    await pilot.press("ctrl+enter")
    column = _columns(app)[0]
    await wait_for(pilot, lambda: len(column.view.text) > 150)
    await _settle(pilot)


async def api_error(pilot: Pilot[Any]) -> None:
    app = await _template(pilot, "analysis_template", data="something the policy refuses")
    assert app.playground is not None
    app.playground.extra_model_config = {"simulate": {"fail": "content_policy"}}
    await _run(pilot, app)


async def compare(pilot: Pilot[Any]) -> None:
    app = await _template(pilot, "analysis_template",
                          data="Q3 revenue rose 12% while churn fell to 3.1%")
    await pilot.press("ctrl+n", "ctrl+n")
    await pilot.pause()
    for column, (temperature, max_tokens, fmt) in zip(
            _columns(app), (("0.2", "60", "text"), ("1.0", "120", "text"), ("", "", "json")),
            strict=True):
        column.query_one("#temperature", Input).value = temperature
        column.query_one("#max_tokens", Input).value = max_tokens
        column.query_one("#response_format").value = fmt  # type: ignore[attr-defined]
    await _run(pilot, app)


async def raw_prompt(pilot: Pilot[Any]) -> None:
    app = await ready(pilot)
    assert app.playground is not None
    app.playground.query_one("#source-tabs", TabbedContent).active = "source-raw"
    area = app.playground.query_one("#raw-prompt", TextArea)
    area.text = "Write three tips for brewing {{tea}}, as a Markdown list."
    area.focus()
    await pilot.pause()


async def rate_limited(pilot: Pilot[Any]) -> None:
    """A raw prompt run twice on a plan with a burst of one: the second is a 429, counted
    down in place."""
    app = await ready(pilot)
    assert app.playground is not None
    await pilot.press("ctrl+t", *"Name three teas.")
    await _run(pilot, app)
    await _run(pilot, app)


async def one_match(pilot: Pilot[Any]) -> None:
    """A wide terminal: the source pane grows, the list is as tall as what matches."""
    app = await ready(pilot)
    assert app.playground is not None
    app.playground.query_one("#template-filter", Input).value = "analysis"
    await pilot.pause()
    await fill(pilot, app, "analysis_template", data="Q3 revenue rose 12% while churn fell")
    await _run(pilot, app)


async def settings(pilot: Pilot[Any]) -> None:
    await ready(pilot)
    await pilot.press("f9")
    await _settle(pilot)


async def help_screen(pilot: Pilot[Any]) -> None:
    await ready(pilot)
    await pilot.press("f1")
    await _settle(pilot)


async def _templates_screen(pilot: Pilot[Any], name: str | None = None) -> Any:
    from promptexecution.console.screens.templates import TemplatesScreen
    from promptexecution.console.screens.templates.template_list import TemplateList

    app = await ready(pilot)
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen)
                   and app.screen.loaded_at_least_once)
    screen = app.screen
    if name is not None:
        listing = screen.query_one(TemplateList)
        listing.move_to(next(i for i, t in enumerate(listing.rows) if t.name == name))
    await _settle(pilot)
    return screen


async def _second_version(pilot: Pilot[Any]) -> None:
    """greeting_template gets a 1.1 with a reworded prompt, a new variable and a note."""
    app = pilot.app
    assert isinstance(app, PeApp)
    client = app.client_or_none()
    assert client is not None
    old = await client.templates.get("greeting_template")
    await client.templates.update(
        "greeting_template",
        prompt=old.prompt.replace("a warm", "a warm and cheerful") + "\nSigned, {{ sender }}.",
        variables=[*old.variables, {"name": "sender", "type": "string", "default": "the team"}],
        change_note="warmer opening, signed")


async def templates_list(pilot: Pilot[Any]) -> None:
    """The list with the detail of a template that has run: three runs, one refused."""
    from promptexecution.exceptions import APIError

    app = await ready(pilot)
    client = app.client_or_none()
    assert client is not None
    values = {"customer_name": "Ada", "message": "Where is my parcel?", "tone": "warm"}
    for fail in (None, None, "content_policy"):
        config = {"simulate": {"fail": fail}} if fail else None
        try:
            await client.execute("customer_email_response", variables=values,
                                 model_config=config)
        except APIError:
            pass  # the refused run counts as a failure in the figures
    screen = await _templates_screen(pilot, "customer_email_response")
    current = screen.current
    await wait_for(pilot, lambda: screen.figures_loaded(current.template_id))
    await _settle(pilot)


async def templates_edit_error(pilot: Pilot[Any]) -> None:
    from promptexecution.console.screens.templates.editor import EditTemplateScreen

    await _templates_screen(pilot, "greeting_template")
    await pilot.press("e")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, EditTemplateScreen))
    editor = app.screen
    area = editor.query_one("#edit-prompt", TextArea)
    area.load_text(
        "Hello {{ name }}, welcome to {{ place }}!\n{% if vip %}Enjoy the lounge.{% endif \n")
    area.focus()  # under load the screen's own focus could land after the snapshot
    await wait_for(pilot, lambda: area.has_focus and editor.last_preview is not None
                   and not editor.last_preview.valid)
    await _settle(pilot)


async def templates_diff(pilot: Pilot[Any], split: bool = False) -> None:
    from promptexecution.console.widgets.diff_view import DiffView

    await ready(pilot)
    await _second_version(pilot)
    screen = await _templates_screen(pilot, "greeting_template")
    await pilot.press("v")
    await wait_for(pilot, lambda: screen.query_one(DiffView).changes > 0)
    if split:
        await pilot.press("u")
        await wait_for(pilot, lambda: screen.query_one(DiffView).split)
    await _settle(pilot)


async def templates_split_diff(pilot: Pilot[Any]) -> None:
    await templates_diff(pilot, split=True)


async def templates_labels(pilot: Pilot[Any]) -> None:
    from promptexecution.console.screens.templates.labels import LabelsTable

    app = await ready(pilot)
    await _second_version(pilot)
    client = app.client_or_none()
    assert client is not None
    await client.templates.set_label("greeting_template", "production", "1.0")
    await client.templates.set_label("greeting_template", "production", "1.1")
    await client.templates.set_label("greeting_template", "staging", "1.1")
    screen = await _templates_screen(pilot, "greeting_template")
    await pilot.press("l")
    await wait_for(pilot, lambda: screen.query_one(LabelsTable).row_count == 2)
    await _settle(pilot)


async def _history_runs(pilot: Pilot[Any]) -> PeApp:
    """Six runs the History scenes share: templates, a raw prompt, a refusal."""
    from promptexecution.exceptions import APIError

    app = await ready(pilot)
    client = app.client_or_none()
    assert client is not None
    await client.execute("greeting_template", variables={"name": "Ada"})
    await client.execute("customer_email_response", variables={
        "customer_name": "Bo", "message": "Where is my refund?", "tone": "warm"},
        model_config={"temperature": 0.4})
    await client.execute(prompt="Name three teas and what they taste of.")
    await client.execute("greeting_template", variables={"name": "Cy"},
                         model_config={"temperature": 1.1, "max_tokens": 80})
    with contextlib.suppress(APIError):
        await client.execute("customer_email_response", variables={
            "customer_name": "Dee", "message": "something the policy refuses", "tone": "curt"},
            model_config={"simulate": {"fail": "content_policy"}})
    await client.execute("analysis_template", variables={"data": "Q3 revenue rose 12%"},
                         response_format="json")
    return app


async def _history_screen(pilot: Pilot[Any], query: str = "") -> Any:
    from promptexecution.console.screens.history.screen import HistoryScreen

    app = await _history_runs(pilot)
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows.loaded)
    screen = app.screen
    if query:
        bar = screen.query_one("#history-filter", Input)
        bar.focus()
        bar.value = query
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.query_text == query and screen.rows.loaded)
    table = screen.query_one("#history-table")
    await wait_for(pilot, lambda: all(screen.rows.row(i) is not None
                                      for i in range(min(screen.rows.total, 6))))
    await wait_for(pilot, lambda: len(screen.names) >= 2 or query)  # template names learnt
    await pilot.pause(0.2)
    table.refresh()
    await _settle(pilot)
    return screen


async def history_list(pilot: Pilot[Any]) -> None:
    await _history_screen(pilot)


async def history_filtered(pilot: Pilot[Any]) -> None:
    await _history_screen(pilot, "status:completed template:greeting_template")


async def history_empty(pilot: Pilot[Any]) -> None:
    await _history_screen(pilot, 'status:cancelled "lighthouse"')


async def _history_detail(pilot: Pilot[Any], row: int) -> None:
    screen = await _history_screen(pilot)
    table = screen.query_one("#history-table")
    table.move_to(row)
    await pilot.press("enter")
    wanted = screen.rows.execution(row).execution_id
    await wait_for(pilot, lambda: wanted in screen._details)
    await pilot.pause(0.2)
    await _settle(pilot)


async def history_detail(pilot: Pilot[Any]) -> None:
    await _history_detail(pilot, 2)  # the second greeting, with its settings


async def history_detail_failed(pilot: Pilot[Any]) -> None:
    await _history_detail(pilot, 1)  # the refusal


async def history_compare(pilot: Pilot[Any]) -> None:
    from promptexecution.console.screens.history.compare import CompareScreen

    screen = await _history_screen(pilot)
    table = screen.query_one("#history-table")
    table.move_to(2)
    await pilot.press("m")
    table.move_to(5)
    await pilot.press("C")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
    await _settle(pilot)


# ------------------------------------------------------------------ Batches

BATCH_FILE = Path("/tmp/pe-scenes/feedback.jsonl")  # fixed: the submit form shows its path
SLOW = 600_000  # ms: items that wait this long hold their batch part-way for the scene


async def _until(client: Any, batch_id: str, done: Callable[[Any], bool]) -> None:
    deadline = time.monotonic() + 20
    while not done(await client.batches.progress(batch_id)):
        assert time.monotonic() < deadline, batch_id
        await asyncio.sleep(0.05)


async def _batch_runs(pilot: Pilot[Any]) -> PeApp:
    """Four batches: one completed, one with failures, one cancelling (items still running
    finish first) and one held part-way (its last items wait), on one template."""
    app = await ready(pilot)
    client = app.client_or_none()
    assert client is not None
    template = await client.templates.create(
        name="feedback_triage", prompt="Sort this {{ tier }} feedback: {{ text }}",
        variables=[{"name": "text", "type": "string", "required": True},
                   {"name": "tier", "type": "string", "required": False,
                    "default": "standard"}])

    async def submit(words: list[str], **simulate: Any) -> str:
        submitted = await client.batches.submit(
            [{"id": f"fb-{i:04d}", "variables": {"text": f"{word} note {i}"}}
             for i, word in enumerate(words)],
            template_id=template.template_id, model_config={"simulate": simulate},
            options={"max_concurrent": 4})
        return submitted.batch_id

    done = await submit(["fine"] * 40)
    await _until(client, done, lambda p: p.finished)
    failing = await submit(["broken" if i % 7 == 0 else "fine" for i in range(120)],
                           fail="server_error", fail_when="broken")
    await _until(client, failing, lambda p: p.finished)
    stopping = await submit(["fine"] * 24 + ["slow"] * 176, latency_ms=SLOW,
                            latency_when="slow")
    await _until(client, stopping, lambda p: p.completed == 24)
    await client.batches.cancel(stopping)
    held = await submit(["broken" if i % 10 == 3 else "fine" for i in range(640)]
                        + ["slow"] * 360, latency_ms=SLOW, latency_when="slow",
                        fail="server_error", fail_when="broken")
    await _until(client, held, lambda p: p.completed + p.failed == 640)
    return app


def _held(state: Any) -> bool:
    return state.status == "processing"


def _with_failures(state: Any) -> bool:
    return state.finished and state.counts.failed > 0


async def _batches_screen(pilot: Pilot[Any], pick: Callable[[Any], bool] = _held) -> Any:
    """The list with the cursor on the batch `pick` chooses (the server's clock is fixed, so
    every batch has the same creation time and the order is by id)."""
    from promptexecution.console.screens.batches.screen import BatchesScreen

    app = await _batch_runs(pilot)
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(app.screen, BatchesScreen)
                   and len(app.batch_book.states) == 4
                   and len(app.screen.source.shown) == 4)
    screen = app.screen
    table = screen.query_one("#batches-table")
    table.move_to(next(i for i, s in enumerate(screen.source.shown) if pick(s)))
    await wait_for(pilot, lambda: all(s.progress is not None
                                      for s in app.batch_book.states.values()
                                      if not s.finished))
    await wait_for(pilot, lambda: screen.current is not None
                   and screen.current.progress is not None
                   and screen.current.batch_id in screen.throughput
                   and len(app.batch_book.names) == 1)
    # Whether the console saw the first batches running (and so announces their end) is a
    # matter of timing: their notices are not part of the scene.
    app.clear_notifications()
    screen._dirty = True
    screen._redraw()
    await _settle(pilot)
    return screen


async def batches_list(pilot: Pilot[Any]) -> None:
    await _batches_screen(pilot)


async def _batch_screen(pilot: Pilot[Any]) -> Any:
    from promptexecution.console.screens.batches.batch_screen import BatchScreen

    await _batches_screen(pilot, _with_failures)
    await pilot.press("enter")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, BatchScreen)
                   and app.screen.rows.loaded and app.screen.throughput is not None
                   and app.screen.rows.row(0) is not None)
    batch = app.screen
    await wait_for(pilot, lambda: batch.query_one("#batch-error-list").option_count > 0)
    batch._dirty = True
    batch._redraw()
    await _settle(pilot)
    return batch


async def batch_errors(pilot: Pilot[Any]) -> None:
    await _batch_screen(pilot)


async def batch_results_failed(pilot: Pilot[Any]) -> None:
    batch = await _batch_screen(pilot)
    await pilot.press("e", "enter")
    await wait_for(pilot, lambda: batch.error_code and batch.rows.loaded
                   and batch.rows.row(0) is not None)
    await _settle(pilot)


async def batch_submit_errors(pilot: Pilot[Any]) -> None:
    from promptexecution.console.screens.batches.submit import SubmitScreen

    BATCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"fb-{i}", "text": f"parcel {i} arrived late", "tier": "gold"}
            for i in range(1, 48)]
    lines = [json.dumps(row) for row in rows]
    lines[11] = json.dumps({"id": "fb-3", "text": "a second fb-3"})
    lines[20] = json.dumps({"id": "fb-21", "tier": "gold"})
    lines[33] = json.dumps({"id": "fb-34", "text": ["not", "a", "string"]})
    lines[40] = '{"id": "fb-41", "text": "cut off'
    await asyncio.to_thread(BATCH_FILE.write_text, "\n".join(lines) + "\n")
    app = await _batch_runs(pilot)
    await pilot.pause(0.5)
    app.clear_notifications()  # the first batches' ends, announced or not by timing
    await pilot.press("f5")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen) and app.screen.templates)
    screen = app.screen
    screen.query_one("#submit-path", Input).value = str(BATCH_FILE)
    picker = screen.query_one("#submit-template")
    picker.value = next(t.template_id for t in screen.templates if t.name == "feedback_triage")
    await wait_for(pilot, lambda: len(screen.query(".submit-column")) == 2)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: screen.checked is not None)
    await pilot.pause(0.2)
    await _settle(pilot)


@dataclass(frozen=True)
class Scene:
    name: str
    run_before: RunBefore
    theme: str = "pe-dark"
    size: tuple[int, int] = SIZE
    plan: str | None = None  # the demo profile's key is on a new account of this plan

    @property
    def server_config(self) -> ServerConfig | None:
        return LIMITED if self.plan else None

    async def play(self, pilot: Pilot[Any]) -> None:
        """The scene, then every text cursor held steady: a focused Input or TextArea
        blinks, so a snapshot taken a moment later differed (wide-playground failed in CI)."""
        await self.run_before(pilot)
        for field in pilot.app.screen.query("Input, TextArea"):
            field.cursor_blink = False  # type: ignore[attr-defined]
            if isinstance(field, TextArea):
                # Textual 8's line cache keys a non-blinking cursor as "no cursor", so a line
                # drawn in the blink's off phase would be reused without its cursor.
                field._line_cache.clear()
                field.refresh()
        await pilot.pause()


SCENES = [
    Scene("playground-idle", idle),
    Scene("playground-mid-stream", mid_stream),
    Scene("playground-finished", finished),
    Scene("playground-api-error", api_error),
    Scene("playground-compare", compare),
    Scene("playground-raw-prompt", raw_prompt),
    Scene("settings", settings),
    Scene("help", help_screen),
    Scene("theme-pe-light", finished, "pe-light"),
    Scene("theme-pe-solarized", finished, "pe-solarized"),
    Scene("playground-rate-limited", rate_limited, plan="basic"),
    Scene("small-playground", idle, size=(80, 24)),
    Scene("small-finished", finished, size=(80, 24)),
    Scene("small-settings", settings, size=(80, 24)),
    Scene("small-help", help_screen, size=(80, 24)),
    Scene("wide-playground", one_match, size=(200, 55)),
    Scene("templates-list", templates_list),
    Scene("templates-edit-error", templates_edit_error),
    Scene("templates-diff", templates_diff),
    Scene("templates-split-diff", templates_split_diff, size=(200, 55)),
    Scene("templates-labels", templates_labels),
    Scene("small-templates", templates_list, size=(80, 24)),
    Scene("small-templates-diff", templates_diff, size=(80, 24)),
    Scene("history-list", history_list),
    Scene("history-filtered", history_filtered),
    Scene("history-detail", history_detail),
    Scene("history-detail-failed", history_detail_failed),
    Scene("history-compare", history_compare, size=(200, 55)),
    Scene("history-empty", history_empty),
    Scene("small-history", history_detail, size=(80, 24)),
    Scene("batches-list", batches_list),
    Scene("batch-errors", batch_errors),
    Scene("batch-results-failed", batch_results_failed),
    Scene("batch-submit-errors", batch_submit_errors),
    Scene("small-batches", batches_list, size=(80, 24)),
    Scene("wide-batches", batches_list, size=(200, 55)),
]
