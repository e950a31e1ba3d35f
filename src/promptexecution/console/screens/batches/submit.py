"""Submit a batch from a JSONL or CSV file: the path (with completion), the template and
version, each variable's column (same names match by themselves), the model settings and
the spec's processing options. Check reads the whole file here, as `pe batch submit` does
(`batch_file`): bad rows are listed with their reasons and nothing is sent until they are
fixed, or dropped on purpose. Then the estimated cost, a confirmation, and the batch."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from .... import batch_file
from ....exceptions import APIError
from ....history_cells import one_line
from ....models import BatchOptions, ModelSettings
from ...errors import describe_error
from ..base import ModeScreen
from ..templates.dialogs import ConfirmScreen

if TYPE_CHECKING:
    from ....models import ModelInfo, Template

SHOW_PROBLEMS = 50
BATCH_FILES = (".jsonl", ".csv", ".json", ".ndjson")


class PathSuggester(Suggester):
    """Completes a path from the disk: directories, and files a batch can be read from."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, value)


def complete_path(value: str) -> str | None:
    if not value:
        return None
    expanded = os.path.expanduser(value)
    folder, _, stem = expanded.rpartition(os.sep)
    where = Path(folder or ".") if folder or not expanded.startswith(os.sep) else Path(os.sep)
    try:
        names = sorted(os.listdir(where))
    except OSError:
        return None
    for name in names:
        if not name.startswith(stem) or name == stem or name.startswith("."):
            continue
        full = where / name
        if full.is_dir():
            return value + name[len(stem):] + os.sep
        if full.suffix.lower() in BATCH_FILES:
            return value + name[len(stem):]
    return None


def mapping_of(columns: dict[str, str]) -> dict[str, str]:
    """variable -> column (as the form has them) into column -> variable for `batch_file`,
    only where the names differ."""
    return {column: variable for variable, column in columns.items()
            if column and column != variable}


class FormError(Exception):
    """A field of the form that cannot be sent as it is (the message says which and why)."""


class SubmitScreen(ModeScreen):
    AUTO_FOCUS = "#submit-path"
    BINDINGS = [
        Binding("escape", "close", "Back", id="submit.back"),
        Binding("ctrl+s", "send", "Check and send", id="submit.send", priority=True),
    ]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.initial_path = path
        self.templates: list[Template] = []
        self.models: list[ModelInfo] = []
        self.default_model = ""
        self.template: Template | None = None
        self.file_columns: list[str] = []
        self.checked: batch_file.BatchFile | None = None
        self._checked_with: tuple[Any, ...] | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="submit-form"):
            yield Label("New batch", classes="section-title")
            yield Label("file (JSON lines or CSV; → completes)", classes="field-label")
            yield Input(self.initial_path, compact=True, id="submit-path",
                        suggester=PathSuggester(), placeholder="~/data/feedback.jsonl")
            with Horizontal(classes="submit-row"):
                with Vertical():
                    yield Label("template", classes="field-label")
                    yield Select([], compact=True, id="submit-template",
                                 prompt="loading templates…")
                with Vertical(classes="submit-narrow"):
                    yield Label("version", classes="field-label")
                    yield Input(compact=True, id="submit-version", placeholder="latest")
            yield Label("columns → variables", classes="field-label")
            yield Static(Text("Pick a file and a template first.", style="dim"),
                         id="submit-columns-note")
            yield Vertical(id="submit-mapping")
            with Horizontal(classes="submit-row"):
                with Vertical():
                    yield Label("model", classes="field-label")
                    yield Select([], compact=True, id="submit-model",
                                 prompt="the template's or default")
                with Vertical(classes="submit-narrow"):
                    yield Label("max tokens", classes="field-label")
                    yield Input(compact=True, id="submit-max-tokens", type="integer",
                                placeholder="template's")
                with Vertical(classes="submit-narrow"):
                    yield Label("temperature", classes="field-label")
                    yield Input(compact=True, id="submit-temperature", type="number",
                                placeholder="template's")
            with Horizontal(classes="submit-row"):
                with Vertical(classes="submit-narrow"):
                    yield Label("priority", classes="field-label")
                    yield Select([("low", "low"), ("normal", "normal"), ("high", "high")],
                                 value="normal", allow_blank=False, compact=True,
                                 id="submit-priority")
                with Vertical(classes="submit-narrow"):
                    yield Label("max concurrent", classes="field-label")
                    yield Input(compact=True, id="submit-concurrency", type="integer",
                                placeholder="server's")
                with Vertical():
                    yield Label(" ", classes="field-label")
                    yield Checkbox("retry transient failures", compact=True,
                                   id="submit-retry")
            with Horizontal(classes="submit-row"):
                with Vertical():
                    yield Label("webhook (callback URL; checked by the server)",
                                classes="field-label")
                    yield Input(compact=True, id="submit-callback",
                                placeholder="https://your-app.example/webhooks/batch")
                with Vertical(classes="submit-wide"):
                    yield Label(" ", classes="field-label")
                    yield Checkbox("progress webhooks every 2 s", compact=True,
                                   id="submit-progress-updates")
            yield Checkbox("drop the bad rows and send the rest", compact=True, id="submit-drop")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Check", id="submit-check")
                yield Button("Send…", variant="primary", id="submit-send")
            yield Static("", id="submit-report")

    def on_mount(self) -> None:
        self.query_one("#submit-drop").display = False
        self._load_choices()

    def action_close(self) -> None:
        self.dismiss()

    # ------------------------------------------------------------------ choices

    @work(group="submit-choices", exit_on_error=False, name="reading templates and models")
    async def _load_choices(self) -> None:
        client = self.pe.client_or_none()
        if client is None:
            self._report(Text(f"✗ {self.pe.not_connected()}"))
            return
        try:
            templates = [t async for t in client.templates.iterate()]
            models = await client.models.list()
        except APIError as exc:
            self._report(Text(f"✗ {describe_error(exc)}"))
            return
        self.templates = sorted(templates, key=lambda t: t.name)
        self.models = list(models.models)
        self.default_model = models.default_model or ""
        picker = self.query_one("#submit-template", Select)
        picker.set_options([(t.name, t.template_id) for t in self.templates])
        picker.prompt = "pick a template" if self.templates else "no template yet (F3)"
        self.query_one("#submit-model", Select).set_options(
            [(m.id, m.id) for m in self.models])

    @on(Select.Changed, "#submit-template")
    @on(Input.Submitted, "#submit-version")
    @on(Input.Submitted, "#submit-path")
    def _source_changed(self) -> None:
        self._load_template()

    @work(group="submit-template", exclusive=True, exit_on_error=False,
          name="reading the template")
    async def _load_template(self) -> None:
        client = self.pe.client_or_none()
        template_id = self.query_one("#submit-template", Select).value
        if client is None or not isinstance(template_id, str):
            self.template = None
            await self._show_mapping()
            return
        version = self.query_one("#submit-version", Input).value.strip()
        try:
            self.template = (await client.templates.get_version(template_id, version)
                             if version else await client.templates.get(template_id))
        except APIError as exc:
            self.template = None
            self._report(Text(f"✗ {describe_error(exc)}"))
        await self._show_mapping()

    async def _show_mapping(self) -> None:
        """One line per variable: the column it takes (its own name when the file has it)."""
        path = self._path()
        note = self.query_one("#submit-columns-note", Static)
        box = self.query_one("#submit-mapping", Vertical)
        await box.remove_children()
        self.file_columns = []
        if path is not None and path.is_file():
            try:
                self.file_columns = await asyncio.to_thread(batch_file.columns, path)
            except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
                note.update(Text(f"✗ {path}: {exc}"))
                return
        if self.template is None:
            note.update(Text("Pick a file and a template first.", style="dim"))
            return
        rows = []
        for variable in self.template.variables:
            name = str(variable.get("name", ""))
            taken = name if name in self.file_columns else ""
            required = variable.get("required") and variable.get("default") is None
            label = f"{name} ({variable.get('type', 'string')}{', required' if required else ''})"
            rows.append(Horizontal(Label(label, classes="submit-variable"),
                                   Input(taken, placeholder="column (empty: not given)",
                                         compact=True, name=name, classes="submit-column"),
                                   classes="submit-map-row"))
        await box.mount_all(rows)
        columns = one_line(", ".join(self.file_columns)) or "none read yet"
        note.update(Text(f"the file's columns: {columns}", style="dim"))

    # ------------------------------------------------------------------ checking

    def _path(self) -> Path | None:
        text = self.query_one("#submit-path", Input).value.strip()
        return Path(os.path.expanduser(text)) if text else None

    def _columns(self) -> dict[str, str]:
        return {field.name or "": field.value.strip()
                for field in self.query(".submit-column").results(Input)}

    def _report(self, text: Text) -> None:
        report = self.query_one("#submit-report", Static)
        report.update(text)
        self.call_after_refresh(report.scroll_visible)

    @on(Button.Pressed, "#submit-check")
    def _check_pressed(self) -> None:
        self._check(send=False)

    @on(Button.Pressed, "#submit-send")
    def action_send(self) -> None:
        self._check(send=True)

    @work(group="submit-check", exclusive=True, exit_on_error=False, name="checking the file")
    async def _check(self, send: bool) -> None:
        path, template = self._path(), self.template
        if path is None or template is None:
            self._report(Text("✗ Pick a file and a template first.", style="bold"))
            return
        if not path.is_file():  # a directory, a FIFO (reading one would wait for ever)...
            self._report(Text(f"✗ {path} is not a file that can be read", style="bold"))
            return
        try:
            self._settings()
        except FormError as exc:
            self._report(Text(f"✗ {exc}", style="bold"))
            return
        stat = path.stat()  # an edited file is read again
        key = (path, stat.st_mtime_ns, stat.st_size, template.template_id, template.version,
               tuple(self._columns().items()))
        if self.checked is None or key != self._checked_with:
            self._report(Text(f"checking {path}…", style="dim"))
            declared = list(template.variables)
            try:
                checked = await asyncio.to_thread(batch_file.load, path, declared,
                                                  mapping_of(self._columns()))
            except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
                self.checked = None
                self._report(Text(f"✗ {exc}", style="bold"))
                return
            self.checked, self._checked_with = checked, key
        checked = self.checked
        report = self._describe(checked, path, template)
        self._report(report)
        drop = self.query_one("#submit-drop", Checkbox)
        drop.display = bool(checked.problems) and checked.can_drop_bad_rows
        if not send:
            return
        if checked.problems and not (drop.value and checked.can_drop_bad_rows):
            self.notify("Nothing sent: fix the rows listed, or drop them.",
                        severity="warning")
            return
        await self._confirm_and_send(checked, template)

    def _settings(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        """(model_config, processing_options, model id) from the form, checked against the
        request's own models; a `FormError` says which field is wrong and why."""
        template = self.template
        defaults = (template.default_config if template else None) or {}
        model = self.query_one("#submit-model", Select).value
        model_id = model if isinstance(model, str) else (defaults.get("model")
                                                         or self.default_model)
        config: dict[str, Any] = {"model": model_id} if isinstance(model, str) else {}
        options: dict[str, Any] = {
            "priority": self.query_one("#submit-priority", Select).value,
            "retry_failed": self.query_one("#submit-retry", Checkbox).value,
            "progress_updates": self.query_one("#submit-progress-updates", Checkbox).value}
        callback = self.query_one("#submit-callback", Input).value.strip()
        if callback:
            options["callback_url"] = callback
        for field, into, key, kind in (("max-tokens", config, "max_tokens", int),
                                       ("temperature", config, "temperature", float),
                                       ("concurrency", options, "max_concurrent", int)):
            text = self.query_one(f"#submit-{field}", Input).value.strip()
            if text:
                try:
                    into[key] = kind(text)
                except ValueError:
                    raise FormError(f"{key.replace('_', ' ')}: {text!r} is not a "
                                    f"{'whole number' if kind is int else 'number'}") from None
        try:
            ModelSettings.model_validate(config)
            BatchOptions.model_validate(options)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][-1]).replace("_", " ") if first["loc"] else "settings"
            raise FormError(f"{where}: {first['msg'].lower()}") from None
        return config, options, str(model_id)

    def _estimate(self, checked: batch_file.BatchFile, template: Template
                  ) -> tuple[str, batch_file.CostEstimate | None]:
        config, _, model_id = self._settings()
        model = next((m for m in self.models if m.id == model_id), None)
        if model is None:
            return model_id, None
        max_tokens = config.get("max_tokens") or (template.default_config or {}).get(
            "max_tokens")
        return model_id, batch_file.estimate(checked.inputs, template.prompt, max_tokens,
                                             model.input_price_per_million,
                                             model.output_price_per_million)

    def _describe(self, checked: batch_file.BatchFile, path: Path,
                  template: Template) -> Text:
        text = Text()
        text.append(f"{path.name}: {checked.rows:,} rows, {batch_file.size_words(checked.size)}, "
                    f"checked against {template.name} {template.version}\n", style="bold")
        if checked.unmapped:
            text.append(f"columns no variable takes: {one_line(', '.join(checked.unmapped))}\n",
                        style="dim")
        if checked.problems:
            bad_rows = len({p.row for p in checked.problems if not p.whole_file})
            text.append(f"✗ {len(checked.problems):,} problem(s) on {bad_rows:,} row(s); "
                        "nothing is sent until they are fixed"
                        + (" or dropped" if checked.can_drop_bad_rows else "") + ":\n",
                        style="bold red")
            for problem in checked.problems[:SHOW_PROBLEMS]:
                text.append(f"  {one_line(str(problem))}\n")
            if len(checked.problems) > SHOW_PROBLEMS:
                text.append(f"  … and {len(checked.problems) - SHOW_PROBLEMS:,} more\n",
                            style="dim")
        else:
            text.append(f"✓ every row is good: {len(checked.inputs):,} items\n", style="bold")
        model_id, cost = self._estimate(checked, template)
        if cost is not None and checked.inputs:
            text.append(f"estimated cost: {cost.words(len(checked.inputs), model_id)}")
        elif checked.inputs:
            text.append(f"estimated cost: unknown (no model {model_id!r} here)", style="dim")
        return text

    async def _confirm_and_send(self, checked: batch_file.BatchFile,
                                template: Template) -> None:
        model_id, cost = self._estimate(checked, template)
        dropped = len({p.row for p in checked.problems})
        body = (f"{len(checked.inputs):,} items through {template.name} {template.version} "
                f"on {model_id}."
                + (f"\n{dropped:,} bad row(s) left out." if dropped else "")
                + (f"\nEstimated cost: {cost.words(len(checked.inputs), model_id)}."
                   if cost is not None else ""))
        if not await self.app.push_screen_wait(ConfirmScreen("Send this batch?", body,
                                                             "Send")):
            return
        client = self.pe.client_or_none()
        if client is None:
            self.notify(f"Not sent: {self.pe.not_connected()}", severity="warning")
            return
        config, options, _ = self._settings()
        try:
            submitted = await client.batches.submit(
                checked.inputs, template_id=template.template_id,
                template_version=template.version, model_config=config or None,
                options=options)
        except APIError as exc:
            self._report(Text(f"✗ Not sent: {describe_error(exc)}", style="bold"))
            return
        with contextlib.suppress(APIError):  # sent: the stream brings it if this read fails
            self.pe.batch_book.put_summary(await client.batches.get(submitted.batch_id))
        self.notify(f"Batch {submitted.batch_id}: {submitted.total_items:,} items sent; "
                    "you will be told when it finishes.")
        self.dismiss()
