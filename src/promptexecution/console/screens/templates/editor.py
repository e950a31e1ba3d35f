"""Editing a template (or making one, from scratch or as a copy): the prompt with Jinja
highlighting, its variables (add, remove, retype, defaults), tags, description and default
settings, checked live by the server's render preview a moment after typing pauses.

Save says which version it makes and takes a change note. A refused save shows the server's
error here with its request id, and every field keeps what was typed; so does a lost
connection. `$EDITOR` edits the prompt in a file while the app is suspended. What is being
edited is kept in a draft file on quit, and offered back when the same template is edited.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from ....exceptions import APIError
from ...errors import describe_error
from ...theming import theme_colour
from ...widgets.jinja_editor import JinjaTextArea
from ..base import ModeScreen
from ..save_template import name_problem, placeholders
from .detail import next_version
from .dialogs import AskScreen, ConfirmScreen
from .editor_drafts import TemplateDrafts
from .external_editor import edit_externally
from .variable_row import STAND_IN, VariableRow, parse_typed, shown_value

if TYPE_CHECKING:
    from collections.abc import Callable

    from ....client import AsyncPromptExecutionClient
    from ....models import Template, TemplatePreview

PREVIEW_AFTER = 0.3  # seconds after typing pauses
FORMATS = ("text", "json", "structured")


class EditTemplateScreen(ModeScreen):
    AUTO_FOCUS = "#edit-prompt"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="templates.save", priority=True),
        Binding("ctrl+e", "external_editor", "$EDITOR", id="templates.external_editor",
                priority=True),
        Binding("ctrl+n", "add_variable", "Add variable", id="templates.add_variable",
                priority=True),
        Binding("escape", "close", "Back", id="templates.close"),
    ]

    def __init__(self, template: Template | None, *, duplicate: bool = False,
                 on_saved: Callable[[Template], None] | None = None) -> None:
        super().__init__(id="template-editor")
        self.template = template
        self.duplicate = duplicate
        self.on_saved = on_saved
        self.creating = template is None or duplicate
        # The version this edit began from: the server refuses the save (VERSION_CONFLICT)
        # when someone saved a newer one meanwhile, instead of saving over it.
        self.base_version = None if self.creating or template is None else template.version
        self.last_preview: TemplatePreview | None = None
        self._note = ""  # the change note typed last, offered again after a refused save
        self._profile = ""  # the profile this edit belongs to, set on mount
        self.preview_times: list[float] = []  # seconds per preview round trip (benchmarks)
        self._preview_timer: Any = None
        self._original: dict[str, Any] | None = None
        self._saving = False

    # ------------------------------------------------------------------ layout

    def compose_body(self) -> ComposeResult:
        t = self.template
        name = ""
        if t is not None:
            name = f"{t.name}-copy" if self.duplicate else t.name
        config = (t.default_config if t else None) or {}
        with Horizontal(id="edit-body"):
            with Vertical(id="edit-main"):
                yield Static(self._title(), id="edit-title")
                with Horizontal(id="edit-names"):
                    yield Label("name", classes="field-label")
                    yield Input(name, placeholder="letters, digits, . _ -", id="edit-name",
                                compact=True)
                    yield Label("tags", classes="field-label")
                    yield Input(", ".join(t.tags if t else []), placeholder="comma-separated",
                                id="edit-tags", compact=True)
                with Horizontal(id="edit-about"):
                    yield Label("description", classes="field-label")
                    yield Input((t.description or "") if t else "", placeholder="optional",
                                id="edit-description", compact=True)
                yield JinjaTextArea(t.prompt if t else "", id="edit-prompt")
            with VerticalScroll(id="edit-side", can_focus=False):
                yield Label("Variables", classes="section-title")
                with Vertical(id="edit-variables"):
                    for var in (t.variables if t else []):
                        yield VariableRow(var)
                yield Button("+ variable", id="edit-add-variable", compact=True)
                yield Label("Default settings", classes="section-title")
                with Horizontal(classes="edit-config"):
                    yield Label("model", classes="field-label")
                    yield Input(str(config.get("model") or ""), placeholder="server default",
                                id="edit-model", compact=True)
                    yield Select([(f, f) for f in FORMATS], value=str(
                        config.get("response_format") or "text"), allow_blank=False,
                        id="edit-format", compact=True)
                with Horizontal(classes="edit-config"):
                    yield Label("temp", classes="field-label")
                    yield Input(shown_value("number", config.get("temperature")),
                                placeholder="auto", id="edit-temperature", compact=True)
                    yield Label("max tokens", classes="field-label")
                    yield Input(shown_value("integer", config.get("max_tokens")),
                                placeholder="auto", id="edit-max-tokens", compact=True)
                yield Label("Preview (the server renders, no model runs)",
                            classes="section-title")
                yield Static("‹name› stands for a value with no sample or default",
                             classes="hint")
                yield Static("", id="edit-problems")
                yield Static("", id="edit-rendered", classes="prompt-box")
        yield Static("", id="edit-status", classes="error")

    def _title(self) -> Text:
        t = self.template
        if t is None:
            return Text("New template: saving makes version 1.0", style="bold")
        if self.duplicate:
            return Text(f"Copy of {t.name} {t.version}: saving makes a new template (1.0)",
                        style="bold")
        base = self.base_version or t.version
        return Text(f"Editing {t.name} {base}: saving makes {next_version(base)}",
                    style="bold")

    def on_mount(self) -> None:
        self._drafts = TemplateDrafts(self.pe.draft_file.with_name("template-drafts.json"))
        self._profile = self.pe.profile_name
        self._original = self.collect()[0]
        self._offer_draft()
        self.changed()
        self.pe.open_editors.append(self)

    def on_unmount(self) -> None:
        if self in self.pe.open_editors:
            self.pe.open_editors.remove(self)

    # ------------------------------------------------------------------ reading the form

    def collect(self) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(the template's fields, sample values, problems that stop a save)."""
        problems: list[str] = []
        name = self.query_one("#edit-name", Input).value.strip()
        problem = name_problem(name)
        if problem:
            problems.append(problem)
        variables, samples, seen = [], {}, set()
        for row in self.query(VariableRow):
            var, sample, row_problems = row.read()
            problems += row_problems
            if var["name"] in seen and var["name"]:
                problems.append(f"variable '{var['name']}' is declared twice")
            seen.add(var["name"])
            variables.append(var)
            if sample is not None:
                samples[var["name"]] = sample
        config: dict[str, Any] = {}
        model = self.query_one("#edit-model", Input).value.strip()
        if model:
            config["model"] = model
        fmt = str(self.query_one("#edit-format", Select).value)
        if fmt != "text":
            config["response_format"] = fmt
        for selector, key, kind in (("#edit-temperature", "temperature", "number"),
                                    ("#edit-max-tokens", "max_tokens", "integer")):
            value, bad = parse_typed(kind, self.query_one(selector, Input).value)
            if bad:
                problems.append(f"{key} {bad}")
            elif value is not None:
                config[key] = value
        keep = (self.template.default_config or {}) if self.template else {}
        for key, value in keep.items():  # settings this form has no field for stay as they were
            if key not in ("model", "response_format", "temperature", "max_tokens"):
                config[key] = value
        prompt = self.query_one("#edit-prompt", TextArea).text
        if not prompt.strip():
            problems.append("the prompt is empty")
        # A field left as it was keeps its value exactly (a tag holding a comma, a
        # description ending in a space): opening and saving changes nothing not typed.
        t = self.template
        typed_tags = self.query_one("#edit-tags", Input).value
        tags = [tag.strip() for tag in typed_tags.split(",") if tag.strip()]
        if t is not None and typed_tags == ", ".join(t.tags):
            tags = list(t.tags)
        description: str | None = self.query_one("#edit-description", Input).value
        if t is None or description != (t.description or ""):
            description = (description or "").strip() or None
        else:
            description = t.description
        fields = {
            "name": name, "prompt": prompt, "tags": tags, "variables": variables,
            "description": description,
            "default_config": config or None,
            "output_schema": self.template.output_schema if self.template else None,
        }
        return fields, samples, problems

    @property
    def dirty(self) -> bool:
        return self._original is not None and self.collect()[0] != self._original

    # ------------------------------------------------------------------ live preview

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    @on(VariableRow.Removed)
    def changed(self) -> None:
        """Any edit: the preview runs once typing pauses (one timer per burst of typing)."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_AFTER, self._preview)

    @work(exclusive=True, group="template-preview", exit_on_error=False, name="previewing")
    async def _preview(self) -> None:
        self._preview_timer = None
        self.keep_draft()  # a console that dies before quitting loses nothing typed
        fields, samples, problems = self.collect()
        box = self.query_one("#edit-problems", Static)
        local = [p for p in problems if not p.startswith(("a name", "the prompt"))]
        if not fields["prompt"].strip():
            box.update(Text("Write the prompt on the left; {{ name }} uses a variable.",
                            style="dim"))
            return
        client = self.client()
        if client is None:
            box.update(Text(f"✗ No preview: {self._not_connected()}"))
            return
        # Values nobody typed render as visible stand-ins, so the preview shows the text.
        declared = {var["name"]: var for var in fields["variables"] if var["name"]}
        for name in [*declared, *placeholders(fields["prompt"])]:
            var = declared.get(name, {})
            if name not in samples and var.get("default") is None:
                kind = var.get("type", "string")
                samples[name] = f"‹{name}›" if kind == "string" else STAND_IN[kind]
        started = time.perf_counter()
        try:
            preview = await client.templates.preview(
                prompt=fields["prompt"], template_variables=fields["variables"] if not local
                else [v for v in fields["variables"] if v["name"]], variables=samples)
        except APIError as exc:
            box.update(Text(describe_error(exc)))
            return
        self.preview_times.append(time.perf_counter() - started)
        self.last_preview = preview
        self._show_preview(preview, local)

    def _show_preview(self, preview: TemplatePreview, local: list[str]) -> None:
        variables = self.app.theme_variables
        text = Text()
        for problem in local:
            text.append(f"✗ {problem}\n", style=theme_colour(variables, "error", "red"))
        for p in preview.problems:
            warning = p.code in ("UNDECLARED_VARIABLE", "UNUSED_VARIABLE")
            where = f"line {p.line}, col {p.column}: " if p.line else ""
            style = theme_colour(variables, "warning" if warning else "error", "red")
            text.append(f"{'⚠' if warning else '✗'} {where}{p.message} ({p.code})\n", style=style)
        if preview.valid and not local:
            text.append("✓ renders", style=theme_colour(variables, "success", "green"))
            if preview.variables_used:
                text.append(f" · uses {', '.join(preview.variables_used)}", style="dim")
        self.query_one("#edit-problems", Static).update(text)
        rendered = preview.rendered_prompt
        self.query_one("#edit-rendered", Static).update(
            Text(rendered) if rendered is not None else Text("(nothing rendered)", style="dim"))

    # ------------------------------------------------------------------ actions

    def action_add_variable(self) -> None:
        row = VariableRow({"name": "", "type": "string"})
        self.query_one("#edit-variables").mount(row)
        row.call_after_refresh(lambda: row.query_one(".var-name", Input).focus())

    @on(Button.Pressed, "#edit-add-variable")
    def _add_pressed(self) -> None:
        self.action_add_variable()

    def _status(self, text: str) -> None:
        box = self.query_one("#edit-status", Static)
        box.update(Text(text))
        box.set_class(bool(text), "-shown")

    def action_save(self) -> None:
        if self._saving:
            return
        fields, _, problems = self.collect()
        if problems:
            self._status(f"✗ Not saved: {problems[0]}"
                         + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
            return
        if not self.creating and fields == self._original:
            self.notify(f"Nothing changed: {self.template.version if self.template else ''} "
                        "stays the latest version, and no version is made.")
            return
        made = next_version(self.base_version) if self.base_version else "1.0"
        what = f"new template {fields['name']}" if self.creating else f"{fields['name']}"

        def noted(note: str | None) -> None:
            if note is not None:
                self._note = note
                self._save(fields, note)

        self.app.push_screen(AskScreen(
            f"Save {what} as version {made}", "A short note on what changed, kept with the "
            "version (optional).", value=self._note, placeholder="e.g. shorter intro",
            button=f"Save {made}"), noted)

    def client(self) -> AsyncPromptExecutionClient | None:
        """The client of the profile this edit was opened on (the console may have switched
        to another since: a save or a preview must not go to that other server)."""
        session = self.pe.sessions.get(self._profile)
        if session is None or session.status.state != "connected":
            return None
        return session.client

    def _not_connected(self) -> str:
        if self.pe.profile_name != self._profile:
            return (f"this edit belongs to profile {self._profile}, which is not connected; "
                    f"the console is on {self.pe.profile_name} now")
        return self.pe.not_connected()

    @work(exclusive=True, group="template-save", exit_on_error=False, name="saving")
    async def _save(self, fields: dict[str, Any], note: str) -> None:
        client = self.client()
        if client is None:
            self._status(f"✗ Not saved: {self._not_connected()}. Everything typed stays; "
                         f"save again when it is connected.")
            return
        self._saving = True
        self._status("")
        try:
            if self.creating or self.template is None:
                create = {k: v for k, v in fields.items() if v is not None}
                saved = await client.templates.create(change_note=note or None, **create)
            else:
                saved = await client.templates.update(
                    self.template.template_id, **fields, change_note=note or None,
                    base_version=self.base_version)
        except APIError as exc:
            if exc.code == "VERSION_CONFLICT":
                self._conflict(str(exc.details.get("current_version") or ""))
                return
            self._status(f"Not saved: {describe_error(exc)}\nEverything typed stays here.")
            return
        finally:
            self._saving = False
        if not self.creating and saved.version == self.base_version:
            self.notify(f"The server found no change: {saved.version} stays the latest.")
        else:
            self.notify(f"Saved {saved.name} {saved.version}.")
        self.forget_draft()
        if self.on_saved is not None:
            self.on_saved(saved)
        self.dismiss()

    def _conflict(self, current: str) -> None:
        """Someone saved `current` while this edit was open: nothing is overwritten; the next
        save stores this edit on top of it, once the author has been told."""
        began = self.base_version
        self.base_version = current
        self.query_one("#edit-title", Static).update(self._title())
        self._status(
            f"✗ Not saved: {current} was saved elsewhere while you edited {began}. Everything "
            f"typed stays here. Compare them in Versions ({self.pe.hint_key('templates.versions')}"
            f" on the list), or {self.pe.hint_key('templates.save')} again to store yours as "
            f"{next_version(current)}, on top of {current}.")

    def action_close(self) -> None:
        if not self.dirty:
            self.forget_draft()
            self.dismiss()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.forget_draft()
                self.dismiss()

        self.app.push_screen(ConfirmScreen("Discard your changes?",
                                           "What you changed here is not saved.", "Discard"),
                             answered)

    def action_external_editor(self) -> None:
        """The prompt in $VISUAL / $EDITOR: the app suspends, the editor runs on the terminal,
        and the file is read back into the text area."""
        area = self.query_one("#edit-prompt", TextArea)
        edited = edit_externally(self.app, area.text)
        self.refresh(layout=True)
        if edited.text is None:
            self._status(f"✗ {edited.problem}")
            return
        self._status("")
        if edited.text != area.text:
            area.load_text(edited.text)
            self.notify("Prompt read back from the editor.")

    # ------------------------------------------------------------------ drafts

    @property
    def _draft_key(self) -> str:
        t = self.template
        if t is None:
            return "new"
        return f"copy:{t.template_id}" if self.duplicate else t.template_id

    def save_draft(self) -> None:
        """Called on quit: an unsaved edit is kept, with the version it began from."""
        if self.dirty:
            self._drafts.put(self._draft_key, self.collect()[0], self.base_version)

    def keep_draft(self) -> None:
        """Called when typing pauses: the edit as it stands now, or none once it is undone."""
        if self.dirty:
            self.save_draft()
        else:
            self.forget_draft()

    def forget_draft(self) -> None:
        self._drafts.drop(self._draft_key)

    def _offer_draft(self) -> None:
        draft = self._drafts.get(self._draft_key)
        if draft is None:
            return
        self.fill(draft.fields)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(draft.saved_at))
        back = self.pe.hint_key("templates.close")
        moved = ""
        if self.template is not None and not self.creating and draft.base_version and \
                draft.base_version != self.template.version:
            self.base_version = draft.base_version  # saving asks about the version it began at
            moved = (f" It began from {draft.base_version}; the template is at "
                     f"{self.template.version} now.")
        self.query_one("#edit-title", Static).update(self._title())
        self.notify(f"Restored your unsaved edit from {when}.{moved} {back} and Discard "
                    "drops it.", timeout=10)

    def fill(self, fields: dict[str, Any]) -> None:
        self.query_one("#edit-name", Input).value = str(fields.get("name") or "")
        self.query_one("#edit-tags", Input).value = ", ".join(fields.get("tags") or [])
        self.query_one("#edit-description", Input).value = str(fields.get("description") or "")
        self.query_one("#edit-prompt", TextArea).load_text(str(fields.get("prompt") or ""))
        container = self.query_one("#edit-variables")
        container.remove_children()
        container.mount_all([VariableRow(v) for v in fields.get("variables") or []
                             if isinstance(v, dict)])
        config = fields.get("default_config") or {}
        self.query_one("#edit-model", Input).value = str(config.get("model") or "")
        fmt = str(config.get("response_format") or "text")
        self.query_one("#edit-format", Select).value = fmt if fmt in FORMATS else "text"
        self.query_one("#edit-temperature", Input).value = shown_value(
            "number", config.get("temperature"))
        self.query_one("#edit-max-tokens", Input).value = shown_value(
            "integer", config.get("max_tokens"))

