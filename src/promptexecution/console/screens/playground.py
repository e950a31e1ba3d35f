"""The Playground: pick a template (or write a raw prompt), fill its variables, choose model
settings, run, and read the answer as it streams. Compare runs the same input under up to
three settings side by side.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widget import AwaitMount
from textual.widgets import (
    Input,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.widgets.option_list import Option, OptionDoesNotExist

from ...exceptions import APIError
from ..drafts import Draft, load_draft, save_draft
from ..freshness import newest_change, templates_change
from ..widgets.output_column import OutputColumn, RunRequest
from ..widgets.variables_form import VariableField, VariablesForm
from .base import ModeScreen
from .save_template import SaveTemplateScreen, placeholders

if TYPE_CHECKING:
    from ...client.types import ExecutionResult
    from ...models import Template

MAX_COLUMNS = 3
RAW_FIELDS_AFTER = 0.3  # seconds after typing pauses that the raw prompt's fields update
MAX_RAW_FIELDS = 200  # as many variables as a template may have
RAW_FORM_KEY = "(raw prompt)"  # the raw prompt's values in the draft; no template id is this


def matches(template: Template, needle: str) -> bool:
    """Type-to-filter: every word must appear in the name or a tag."""
    haystack = " ".join([template.name, *template.tags]).lower()
    return all(word in haystack for word in needle.lower().split())


class PlaygroundScreen(ModeScreen):
    AUTO_FOCUS = "#template-filter"  # typing at start filters the templates
    BINDINGS = [
        Binding("ctrl+enter,ctrl+j", "run", "Run", id="playground.run", priority=True),
        Binding("escape", "cancel", "Cancel", id="playground.cancel"),
        Binding("ctrl+n", "add_column", "Compare +", id="playground.add_column",
                priority=True),
        Binding("ctrl+r", "remove_column", "Compare −", id="playground.remove_column",
                priority=True),
        Binding("ctrl+o", "copy_output", "Copy", id="playground.copy", priority=True),
        Binding("ctrl+s", "save_template", "Save as template", id="playground.save_template",
                priority=True),
        Binding("ctrl+l", "reload", "Reload templates", id="playground.reload", priority=True),
        # The tab strips are Tab stops too (then ← →); these switch from anywhere.
        Binding("ctrl+t", "toggle_source", "Template ⇄ Raw prompt", id="playground.source_tab",
                priority=True, show=False),
        Binding("ctrl+g", "toggle_output", "Output ⇄ Rendered prompt",
                id="playground.output_tab", priority=True, show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="playground")
        self.templates: list[Template] = []
        self.selected: Template | None = None
        # A version the Templates screen asked to run: it stays until another is chosen.
        self.pinned: Template | None = None
        self.models: list[str] = []
        self.default_model: str | None = None
        self.extra_model_config: dict[str, Any] = {}  # e.g. simulator knobs, set by tests
        self._connected_to: tuple[str, str | None] | None = None
        self.loaded = False  # templates and models have arrived at least once
        self._form_mounting: AwaitMount | None = None
        self._draft_template: str | None = None
        self._seen: tuple[object, ...] | None = None  # the newest change the list reflects
        self._raw_names: list[str] | None = None  # the raw prompt's placeholders, as shown
        self._loading = False
        self._pending_select: str | None = None  # opened when the running load finishes
        self._shown_from: tuple[str, str | None] | None = None  # whose templates are listed
        self._raw_fields_timer: asyncio.TimerHandle | None = None
        self._raw_typed_at = 0.0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="playground-body"):
            with Vertical(id="source"):
                with TabbedContent(initial="source-template", id="source-tabs"):
                    with TabPane("Template", id="source-template"):
                        yield Input(placeholder="filter by name or tag", id="template-filter",
                                    compact=True)
                        yield OptionList(id="template-list")
                        yield Static("", id="template-info")
                        yield VariablesForm(id="variables")
                    with TabPane("Raw prompt", id="source-raw"):
                        save = self.pe.hint_key("playground.save_template")
                        yield TextArea(id="raw-prompt", soft_wrap=True,
                                       placeholder="Write a prompt. {{name}} gets a field "
                                                   f"below; {save} saves it as a template.")
                        yield VariablesForm(id="raw-variables")
                yield Static("", id="source-problems", classes="error")
            with Horizontal(id="columns"):
                yield OutputColumn(1, self.models, self.default_model, self.pe.clock)

    def on_mount(self) -> None:
        self.query_one("#template-list", OptionList).loading = True
        self._restore_draft()
        self.watch(self.app, "status", self._status_changed, init=True)
        self.set_interval(self.pe.freshness, self._check_freshness)

    @on(TextArea.Changed, "#raw-prompt")
    def _raw_prompt_changed(self) -> None:
        """Its `{{ name }}` placeholders get fields, as a template's variables do; found a
        moment after typing stops, so a long prompt costs nothing per key."""
        # One timer for a burst of typing, not one per key: a timer made and cancelled per
        # key cost key latency while streaming (tests/bench/bench_console_stream.py).
        self._raw_typed_at = time.monotonic()
        if self._raw_fields_timer is None:
            self._raw_fields_timer = asyncio.get_running_loop().call_later(
                RAW_FIELDS_AFTER, self._raw_fields_due)

    def _raw_fields_due(self) -> None:
        wait = self._raw_typed_at + RAW_FIELDS_AFTER - time.monotonic()
        if wait > 0.01:  # typed again meanwhile: look once typing pauses
            self._raw_fields_timer = asyncio.get_running_loop().call_later(
                wait, self._raw_fields_due)
            return
        self._raw_fields_timer = None
        if self.is_attached:
            self._show_raw_fields()

    def _show_raw_fields(self) -> AwaitMount | None:
        """Mounts a field per placeholder when they changed; await the result to use them."""
        names = placeholders(self.query_one("#raw-prompt", TextArea).text)
        form = self.query_one("#raw-variables", VariablesForm)
        if names == self._raw_names:
            return None
        self._raw_names = names
        shown = names[:MAX_RAW_FIELDS]
        note = (f"{len(names):,} placeholders: fields for the first {MAX_RAW_FIELDS} only "
                "(as many as a template may have)") if len(names) > len(shown) else ""
        return form.show(RAW_FORM_KEY, [{"name": n, "type": "string", "required": True}
                                        for n in shown], empty="", note=note)

    def on_resize(self) -> None:
        """The template list may take a quarter of the height: more rows on a tall screen."""
        rows = max(4, self.size.height // 4)
        self.query_one("#template-list", OptionList).styles.max_height = rows

    def action_toggle_source(self) -> None:
        tabs = self.query_one("#source-tabs", TabbedContent)
        tabs.active = "source-raw" if tabs.active == "source-template" else "source-template"
        if tabs.active == "source-raw":
            self.query_one("#raw-prompt", TextArea).focus()
        else:
            self.query_one("#template-filter", Input).focus()

    def action_toggle_output(self) -> None:
        self.focused_column.toggle_output()

    def action_reload(self) -> None:
        self.notify("Reloading templates and models…", timeout=2)
        self.reload()

    def _check_freshness(self) -> None:
        # Not while a run streams: the poll's request and the header update it causes
        # cost key latency and the final text's lag (bench_console_stream); the next tick
        # after the run looks.
        if (self.loaded and self.pe.current_mode == "playground"
                and not any(column.running for column in self.columns)):
            self._compare_with_server()

    @work(exclusive=True, group="playground-fresh", exit_on_error=False,
          name="checking templates")
    async def _compare_with_server(self) -> None:
        """Reloads when the server's newest template change is not the one the list shows."""
        client = self.pe.client_or_none()
        if client is None:
            return
        change = await templates_change(client)
        if change is not None and change != self._seen and not self._loading:
            self.reload()

    # ------------------------------------------------------------------ drafts

    def _restore_draft(self) -> None:
        draft = load_draft(self.pe.draft_file)
        self.query_one("#raw-prompt", TextArea).text = draft.raw_prompt
        raw = {k: v for k, v in draft.typed.items() if k == RAW_FORM_KEY}
        self.query_one("#variables", VariablesForm).restore(
            {k: v for k, v in draft.typed.items() if k != RAW_FORM_KEY})
        self.query_one("#raw-variables", VariablesForm).restore(raw)
        self._draft_template = draft.template_id
        self._show_raw_fields()
        if draft.source == "raw":
            self.query_one("#source-tabs", TabbedContent).active = "source-raw"
            self.query_one("#raw-prompt", TextArea).focus()  # not the (hidden) filter

    def save_draft(self) -> None:
        tabs = self.query_one("#source-tabs", TabbedContent)
        save_draft(Draft(
            source="raw" if tabs.active == "source-raw" else "template",
            raw_prompt=self.query_one("#raw-prompt", TextArea).text,
            template_id=self.selected.template_id if self.selected else self._draft_template,
            typed={**self.query_one("#variables", VariablesForm).typed(),
                   **{k: v for k, v in self.query_one("#raw-variables", VariablesForm)
                      .typed().items() if k == RAW_FORM_KEY}},
        ), self.pe.draft_file)

    # ------------------------------------------------------------------ loading

    def _status_changed(self, status: Any) -> None:
        """Loads templates and models whenever a connection is (re)established."""
        where = (status.profile, status.base_url)
        if self._shown_from is not None and where != self._shown_from:
            self._forget_templates()  # another profile: its templates are not these
        connected = where if status.state == "connected" else None
        if connected != self._connected_to:
            self._connected_to = connected
            if connected is not None:
                self._shown_from = connected
                self.reload()

    def _forget_templates(self) -> None:
        self._shown_from = None
        self.query_one("#template-list", OptionList).loading = True
        self.templates = []
        self._show_template(None)
        self._fill_list()

    @work(exclusive=True, group="playground-load", exit_on_error=False,
          name="loading templates and models")
    async def reload(self, select: str | None = None) -> None:
        """Templates and models from the server. `select` is kept on the screen until a
        load finishes, so a reload that replaces this one (exclusive) still opens it."""
        if select:
            self._pending_select = select
        client = self.pe.client_or_none()
        template_list = self.query_one("#template-list", OptionList)
        if client is None:
            template_list.loading = False
            return
        self._loading = True
        try:
            seen = newest_change(await client.templates.list(limit=1, sort="updated",
                                                             status="all"))
            templates = [t async for t in client.templates.iterate()]
            models = await client.models.list()
        except APIError as exc:
            self.pe.report_error(exc, "loading templates and models")
            return
        finally:
            template_list.loading = False
            self._loading = False
        select, self._pending_select = self._pending_select, None
        self.templates = sorted(templates, key=lambda t: t.name.lower())
        self._seen = seen
        self.models = [m.id for m in models.models]
        self.default_model = models.default_model
        for column in self.query(OutputColumn):
            column.set_models(self.models, self.default_model)
        if not self.loaded:
            # Start-up objects (modules, widgets, templates) live as long as the app: moving
            # them out of the collector's sight keeps full collections, which showed up as the
            # longest pauses while streaming (tests/bench/bench_console_stream.py), short.
            gc.freeze()
        self.loaded = True
        previous = self.selected
        focused = self.focused_variable()
        current = previous and next((t for t in self.templates
                                     if t.template_id == previous.template_id), None)
        if self.pinned is not None and current is not None:
            self.selected = self.pinned  # a pinned version does not follow new versions
        elif current is not None and previous is not None and current.version == previous.version:
            self.selected = current  # unchanged: its form, and the cursor in it, stay
        else:
            self.selected = None  # look it up again: it changed, or went
        self._fill_list()
        if select:
            self.select_template(select, show_tab=True)
        elif previous is not None and self.selected is None:
            if not (self.select_template(previous.template_id)
                    or self.select_template(previous.name)):
                self._show_template(None)
            elif focused is not None:  # it changed elsewhere: the cursor stays in its field
                if self._form_mounting is not None:
                    await self._form_mounting
                self.focus_variable(focused)
        elif self._draft_template:
            self.select_template(self._draft_template)
        if self.selected is None:
            self._show_template(None)  # says how to pick one, or make the first

    def _fill_list(self) -> None:
        needle = self.query_one("#template-filter", Input).value
        shown = [t for t in self.templates if matches(t, needle)]
        option_list = self.query_one("#template-list", OptionList)
        option_list.clear_options()
        option_list.add_options(Option(_template_line(t), id=t.template_id) for t in shown)
        if not self.templates:
            save = escape(self.pe.hint_key("playground.save_template"))
            option_list.add_option(Option(f"[dim]no templates yet: write a raw prompt, "
                                          f"{save} saves it[/]", disabled=True))
        elif not shown:
            option_list.add_option(Option("[dim]no template matches[/]", disabled=True))
        if self.selected is not None and _has_option(option_list, self.selected.template_id):
            self._move_highlight(option_list, self.selected.template_id)

    @on(Input.Changed, "#template-filter")
    def _filter(self) -> None:
        self._fill_list()

    @on(Input.Submitted, "#template-filter")
    async def _pick_first(self) -> None:
        """Enter in the filter takes the first match and moves on to its first variable."""
        option_list = self.query_one("#template-list", OptionList)
        if not option_list.option_count or not option_list.get_option_at_index(0).id:
            return
        await self.open_template(str(option_list.get_option_at_index(0).id))

    async def open_template(self, key: str) -> bool:
        """Selects a template and puts the cursor where its input starts: its first
        variable, else the template list. (Enter in the filter and the palette both.)"""
        if not self.select_template(key, show_tab=True):
            return False
        if self._form_mounting is not None:
            await self._form_mounting
        editors = self.query_one("#variables", VariablesForm).query(".field-editor")
        (editors.first() if editors else self.query_one("#template-list", OptionList)).focus()
        return True

    async def open_pinned(self, template: Template) -> None:
        """Shows one version of a template (not necessarily the latest) and runs that one,
        until another template, or this one again, is picked."""
        self.query_one("#source-tabs", TabbedContent).active = "source-template"
        self.pinned = template
        self._show_template(template)
        if any(t.template_id == template.template_id for t in self.templates):
            self._highlight(template)
        if self._form_mounting is not None:
            await self._form_mounting
        editors = self.query_one("#variables", VariablesForm).query(".field-editor")
        (editors.first() if editors else self.query_one("#template-list", OptionList)).focus()

    async def open_execution(self, execution: ExecutionResult,
                             template: Template | None) -> None:
        """A stored execution, ready to run again exactly: its template version pinned with
        its variables typed in (or its rendered prompt as a raw prompt), and its settings in
        the first column."""
        meta = execution.metadata
        if template is not None:
            used = (meta.variables_used if meta else None) or {}
            typed: dict[str, str | bool] = {
                name: value if isinstance(value, str | bool) else json.dumps(value)
                for name, value in used.items()}
            self.query_one("#variables", VariablesForm).restore({template.template_id: typed})
            await self.open_pinned(template)
        else:
            self.query_one("#source-tabs", TabbedContent).active = "source-raw"
            area = self.query_one("#raw-prompt", TextArea)
            area.text = execution.rendered_prompt or ""
            area.focus()
        self.columns[0].apply_settings(meta.model if meta else None,
                                       (meta.model_settings if meta else None) or {},
                                       meta.response_format if meta else None)

    @on(OptionList.OptionHighlighted, "#template-list")
    @on(OptionList.OptionSelected, "#template-list")
    def _picked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.select_template(event.option.id, move_highlight=False)

    def select_template(self, key: str, move_highlight: bool = True,
                        show_tab: bool = False) -> bool:
        """Shows the template (by id or name) and its variables form; `show_tab` brings the
        Template tab forward (an explicit open), else the tab in view stays (a reload must
        never pull the user out of the raw prompt they are typing)."""
        found = next((t for t in self.templates if key in (t.template_id, t.name)), None)
        if found is None:
            return False
        if show_tab:
            self.query_one("#source-tabs", TabbedContent).active = "source-template"
        if (self.selected is not None and self.selected.template_id == found.template_id
                and self.pinned is None):
            return True
        self.pinned = None
        self._show_template(found)
        if move_highlight:
            self._highlight(found)
        return True

    def _highlight(self, template: Template) -> None:
        """Highlights the template in the list; if the filter hides it, the filter goes (the
        user opened it from elsewhere: the palette, a draft, a save)."""
        option_list = self.query_one("#template-list", OptionList)
        if _has_option(option_list, template.template_id):
            self._move_highlight(option_list, template.template_id)
        else:
            self.query_one("#template-filter", Input).value = ""
            self._fill_list()  # which highlights the selected template

    def _move_highlight(self, option_list: OptionList, template_id: str) -> None:
        """Highlights without the event that the user's own browsing sends (which would
        open the template, and bring its tab forward)."""
        with self.prevent(OptionList.OptionHighlighted):
            option_list.highlighted = option_list.get_option_index(template_id)

    def _show_template(self, template: Template | None) -> None:
        """The chosen template's name, description, variables form and default settings."""
        self.selected = template
        info = self._no_template_hint()
        if template is not None:
            info = f"[b]{escape(template.name)}[/] v{escape(template.version)}"
            if self.pinned is template:
                info += " [reverse] pinned [/] [dim](pick it again for the latest)[/]"
            if template.description:
                info += f"\n[dim]{escape(template.description)}[/]"
        self.query_one("#template-info", Static).update(info)
        self._form_mounting = self.query_one("#variables", VariablesForm).show(
            template.template_id if template else None, template.variables if template else [])
        for column in self.columns:
            column.show_defaults(template.default_config if template else None)

    def _no_template_hint(self) -> str:
        """What the source pane says when no template is open: how to get one."""
        if not self.loaded or self.query_one("#template-list", OptionList).loading:
            return ""
        save = self.pe.hint_key("playground.save_template")
        if not self.templates:
            return ("[b]No templates yet.[/] Write a prompt in [b]Raw prompt[/] and press "
                    f"[b]{escape(save)}[/] to save it as a template; "
                    "templates made through the API appear here too.")
        return ("[dim]Pick a template above (↑↓, Enter), or write a prompt in "
                "[b]Raw prompt[/].[/]")

    # ------------------------------------------------------------------ running

    @property
    def columns(self) -> list[OutputColumn]:
        return list(self.query(OutputColumn))

    @property
    def focused_column(self) -> OutputColumn:
        """The column the cursor is in (the first when it is in none)."""
        columns = self.columns
        return next((c for c in columns if c.has_focus_within), columns[0])

    def focused_variable(self) -> str | None:
        """The name of the template variable the cursor is in, if it is in one."""
        focused = self.app.focused
        for field in self.query_one("#variables", VariablesForm).query(VariableField):
            if focused is not None and field in focused.ancestors_with_self:
                return field.spec.name
        return None

    def focus_variable(self, name: str) -> None:
        for field in self.query_one("#variables", VariablesForm).query(VariableField):
            if field.spec.name == name:
                field.editor.focus()

    def build_request(self) -> tuple[RunRequest | None, list[str]]:
        """The source half of the request, or the problems that stop it being sent."""
        tabs = self.query_one("#source-tabs", TabbedContent)
        if tabs.active == "source-raw":
            prompt = self.query_one("#raw-prompt", TextArea).text
            if not prompt.strip():
                return None, ["the raw prompt is empty"]
            variables, problems = self.query_one("#raw-variables", VariablesForm).collect()
            return RunRequest(prompt=prompt, variables=variables or None,
                              extra_model_config=self.extra_model_config), problems
        if self.selected is None:
            return None, ["pick a template first (or write a raw prompt)"]
        defaults = self.selected.default_config or {}
        variables, problems = self.query_one("#variables", VariablesForm).collect()
        pinned = self.pinned.version if self.pinned is self.selected and self.pinned else None
        return RunRequest(template_id=self.selected.template_id, template_version=pinned,
                          variables=variables,
                          extra_model_config=self.extra_model_config,
                          default_format=str(defaults.get("response_format") or "text")), problems

    async def action_run(self) -> None:
        tabs = self.query_one("#source-tabs", TabbedContent)
        if tabs.active == "source-raw":
            mounting = self._show_raw_fields()  # the fields match the prompt as it is now
            if mounting is not None:
                await mounting
        request, problems = self.build_request()
        settings = [(column, *column.model_config()) for column in self.columns]
        for column, _, column_problems in settings:
            problems += [f"column {column.index}: {p}" for p in column_problems]
        box = self.query_one("#source-problems", Static)
        box.update("\n".join(f"✗ {escape(p)}" for p in problems))
        box.set_class(bool(problems), "-shown")
        if problems or request is None:
            self.notify(f"Not sent: {problems[0]}", severity="warning")
            return
        replaced = [column.cancel() for column, _, _ in settings if column.running]
        for column, config, _ in settings:
            column.start(request, config)
        if replaced:
            fate = ("the server records it cancelled" if "wait" not in replaced else
                    "without streaming the server may still finish it, and charge for it")
            self.notify(f"Started again: the run that was going was stopped ({fate}). "
                        f"{self.pe.hint_key('playground.cancel')} stops a run without "
                        "starting another.", severity="warning", timeout=6)
        self.save_draft()

    def action_cancel(self) -> None:
        stopped = [kind for column in self.columns if (kind := column.cancel())]
        if "stream" in stopped:
            self.notify("Cancelled; the partial output stays and the server records the "
                        "execution as cancelled.")
        elif stopped:
            self.notify("Stopped waiting. Without streaming the server may still finish the "
                        "execution (and charge for it).", severity="warning")

    def action_add_column(self) -> None:
        columns = self.columns
        if len(columns) >= MAX_COLUMNS:
            self.notify(f"Compare shows at most {MAX_COLUMNS} columns.", severity="warning")
            return
        index = max(c.index for c in columns) + 1
        column = OutputColumn(index, self.models, self.default_model, self.pe.clock)
        self.query_one("#columns").mount(column)
        self._comparing(len(columns) + 1)
        column.call_after_refresh(column.show_defaults,
                                  self.selected.default_config if self.selected else None)

    def action_remove_column(self) -> None:
        columns = self.columns
        if len(columns) <= 1:
            return
        last = columns[-1]
        last.cancel()
        last.remove()
        self._comparing(len(columns) - 1)

    def _comparing(self, columns: int) -> None:
        """Compare columns need the width more than the source pane does (app.tcss)."""
        self.query_one("#playground-body").set_class(columns > 1, "-comparing")

    def action_copy_output(self) -> None:
        text = self.focused_column.view.text
        if not text:
            self.notify("Nothing to copy yet: run something first.", severity="warning")
            return
        self.pe.copy_output(text)

    def action_save_template(self) -> None:
        prompt = self.query_one("#raw-prompt", TextArea).text
        if not prompt.strip():
            self.notify("Write a raw prompt first (Raw prompt tab); that is what gets saved.",
                        severity="warning")
            return

        def saved(template: Template | None) -> None:
            if template is not None:
                self.notify(f"Saved as template {template.name} ({template.template_id}).")
                self.reload(select=template.template_id)

        self.app.push_screen(SaveTemplateScreen(prompt), saved)


def _has_option(option_list: OptionList, option_id: str) -> bool:
    try:
        option_list.get_option(option_id)
    except OptionDoesNotExist:
        return False
    return True


def _template_line(template: Template) -> Text:
    """One line per template (name, then tags dimmed), cut with an ellipsis, never wrapped."""
    line = Text(template.name, no_wrap=True, overflow="ellipsis")
    if template.tags:
        line.append("  " + " ".join(template.tags), style="dim")
    return line
