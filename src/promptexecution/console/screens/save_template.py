"""Saving a raw prompt as a new template: name, description, tags, and the variables found in it.

`{{ name }}` and `{name}` placeholders become required string variables. A refusal from the
server (a taken name, say) shows in the dialog; nothing typed is lost.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...exceptions import APIError
from ...models import Template
from ..errors import describe_error

if TYPE_CHECKING:
    from ..app import PeApp

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}|(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")


def placeholders(prompt: str) -> list[str]:
    """Variable names used in `prompt`, in order of first use."""
    names: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(prompt):
        names[match.group(1) or match.group(2)] = None
    return list(names)


class SaveTemplateScreen(ModalScreen[Template | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.variables = placeholders(prompt)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save the raw prompt as a template", classes="dialog-title")
            yield Label("name (letters, digits, . _ -)")
            yield Input(placeholder="my-template", id="name",
                        restrict=r"[A-Za-z0-9_.\-]*", max_length=200)
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

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def _save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self._error("✗ a name is required")
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
