"""Saving a raw prompt as a new template: name, description, tags, and the variables found in it.

`{{ name }}` (also with filters or fields) and `{name}` placeholders become required string
variables. A refusal from the
server (a taken name, say) shows in the dialog; nothing typed is lost.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...exceptions import APIError
from ...models import TEMPLATE_NAME_PATTERN, Template
from ..errors import describe_error

if TYPE_CHECKING:
    from ..app import PeApp

_NAME = re.compile(TEMPLATE_NAME_PATTERN)
_NAME_RULE = "letters, digits and . _ - only"
# `{{ name }}`, `{{ name|filter }}`, `{{ name.field }}` (the root name is the variable), and
# the spec's single-brace `{name}`, which the server also fills when `name` is given.
_PLACEHOLDER = re.compile(r"\{\{-?\s*([A-Za-z_]\w*)|(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")
# Names Jinja itself provides: `{{ range(3) }}` or `{{ true }}` takes no variable.
_JINJA_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "loop", "range",
                          "lipsum", "dict", "cycler", "joiner", "namespace", "self", "super"})


def name_problem(name: str) -> str:
    """Why the server would refuse `name`, with a name it would take; "" when it is fine.
    Nothing is changed behind the user's back: the name saved is the name typed."""
    if not name:
        return "a name is required"
    if len(name) > 200:
        return f"a name has at most 200 characters ({len(name):,} typed)"
    if _NAME.match(name):
        return ""
    bad = sorted({c for c in name if not _NAME.match(c)}, key=name.index)
    shown = ", ".join("space" if c == " " else repr(c) for c in bad)
    suggestion = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.\-]", "_", name)).strip("_")
    hint = f", e.g. {suggestion}" if suggestion else ""
    return f"a name may hold {_NAME_RULE}, not {shown}{hint}"


def placeholders(prompt: str) -> list[str]:
    """Variable names used in `prompt`, in order of first use: what a raw prompt gets fields
    for, and what Save as template declares."""
    names: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(prompt):
        name = match.group(1) or match.group(2)
        if name not in _JINJA_NAMES:
            names[name] = None
    return list(names)


class DialogBody(VerticalScroll, can_focus=False):
    """Scrolls on a terminal too small for the dialog; not a Tab stop itself."""


class SaveTemplateScreen(ModalScreen[Template | None]):
    AUTO_FOCUS = "#name"  # the one field that must be filled: typing starts there
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.variables = placeholders(prompt)

    def compose(self) -> ComposeResult:
        with DialogBody(classes="dialog"):
            yield Label("Save the raw prompt as a template", classes="dialog-title")
            yield Label(f"name ({_NAME_RULE})")
            yield Input(placeholder="e.g. my-template", id="name")
            yield Label("description")
            yield Input(placeholder="optional", id="description")
            yield Label("tags, comma-separated")
            yield Input(placeholder="optional", id="tags")
            found = ", ".join(self.variables) if self.variables else "none"
            yield Static(f"variables found: {escape(found)} (saved as required strings)",
                         classes="hint")
            yield Static("", id="save-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Input.Changed, "#name")
    def _check_name(self, event: Input.Changed) -> None:
        """The rule shows as soon as the name breaks it, before Save is pressed."""
        problem = name_problem(event.value.strip())
        self._error(f"✗ {problem}" if problem and event.value else "")

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def _save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        problem = name_problem(name)
        if problem:
            self._error(f"✗ Not saved: {problem}")
            self.query_one("#name", Input).focus()
            return
        tags = [t.strip() for t in self.query_one("#tags", Input).value.split(",") if t.strip()]
        fields: dict[str, Any] = {
            "variables": [{"name": v, "type": "string", "required": True}
                          for v in self.variables],
            "tags": tags,
        }
        description = self.query_one("#description", Input).value.strip()
        if description:
            fields["description"] = description
        self._create(name, fields)

    def _error(self, text: str) -> None:
        box = self.query_one("#save-error", Static)
        box.update(escape(text))
        box.set_class(bool(text), "-shown")
        if text:
            box.call_after_refresh(box.scroll_visible)  # a small terminal may hide it

    @work(exclusive=True, group="save-template", exit_on_error=False)
    async def _create(self, name: str, fields: dict[str, Any]) -> None:
        app = cast("PeApp", self.app)
        client = app.client_or_none()
        if client is None:
            self._error(f"✗ Not saved: {app.not_connected()}")
            return
        self._error("")
        self.query_one("#save", Button).disabled = True
        try:
            template = await client.templates.create(name, self.prompt, **fields)
        except APIError as exc:
            self._error(describe_error(exc))
            return
        finally:
            self.query_one("#save", Button).disabled = False
        self.dismiss(template)
