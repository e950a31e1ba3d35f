"""One declared variable in the template editor: name, type, required, default, a sample
value for the preview, description, and a button that removes it; and how a value typed as
text becomes a value of the variable's type."""

from __future__ import annotations

import json
import re
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select

from ....models import VARIABLE_NAME_PATTERN, is_variable_type

TYPES = ("string", "number", "integer", "boolean", "array", "object")


def parse_typed(kind: str, text: str) -> tuple[Any, str | None]:
    """A default or sample typed as text, as a value of `kind` (None when empty)."""
    if not text.strip():
        return None, None
    if kind == "string":
        return text, None
    try:
        value = json.loads(text)
    except ValueError:
        return None, f"is not a {kind} (type it as JSON, e.g. {_EXAMPLES[kind]})"
    if is_variable_type(value, kind):
        return value, None
    return None, f"is not a {kind} (e.g. {_EXAMPLES[kind]})"


# What a variable with neither a sample nor a default renders as in the preview.
STAND_IN: dict[str, Any] = {"number": 0, "integer": 0, "boolean": False, "array": [],
                             "object": {}}
_EXAMPLES = {"number": "0.5", "integer": "3", "boolean": "true", "array": '["a", "b"]',
             "object": '{"k": "v"}', "string": "text"}


def shown_value(kind: str, value: Any) -> str:
    if value is None:
        return ""
    return value if kind == "string" and isinstance(value, str) else json.dumps(value)


class VariableRow(Vertical):
    """One declared variable: name, type, required, default, a sample value for the preview,
    description, and a button that removes it."""

    def __init__(self, spec: dict[str, Any] | None = None, sample: str = "") -> None:
        super().__init__(classes="variable-row")
        self.spec = spec or {}
        self.sample = sample

    def compose(self) -> ComposeResult:
        spec = self.spec
        kind = str(spec.get("type") or "string")
        with Horizontal(classes="variable-line"):
            yield Input(str(spec.get("name", "")), placeholder="name", classes="var-name",
                        compact=True)
            yield Select([(t, t) for t in TYPES], value=kind, allow_blank=False,
                         classes="var-type", compact=True)
            yield Checkbox("req", bool(spec.get("required")), classes="var-required",
                           compact=True)
            yield Button("✕", classes="var-remove", compact=True)
        with Horizontal(classes="variable-line"):
            yield Label("default", classes="field-label")
            yield Input(shown_value(kind, spec.get("default")), placeholder="none",
                        classes="var-default", compact=True)
            yield Label("sample", classes="field-label")
            yield Input(self.sample, placeholder="preview only", classes="var-sample",
                        compact=True)
        with Horizontal(classes="variable-line"):
            yield Label("about", classes="field-label")
            yield Input(str(spec.get("description") or ""), placeholder="what it is for",
                        classes="var-description", compact=True)

    def read(self) -> tuple[dict[str, Any], Any, list[str]]:
        """(the variable as the API takes it, its sample value, problems). A field left as
        it was keeps its value exactly: an empty-string default or a description ending in
        a space is not turned into "none" or trimmed by opening and saving."""
        name = self.query_one(".var-name", Input).value.strip()
        kind = str(self.query_one(".var-type", Select).value)
        problems = []
        if not name:
            problems.append("a variable needs a name")
        elif not re.match(VARIABLE_NAME_PATTERN, name):
            problems.append(f"variable name '{name}': letters, digits and _, not starting "
                            "with a digit")
        typed_default = self.query_one(".var-default", Input).value
        default, problem = parse_typed(kind, typed_default)
        if kind == self.spec.get("type", "string") and \
                typed_default == shown_value(kind, self.spec.get("default")):
            default, problem = self.spec.get("default"), None
        if problem:
            problems.append(f"default of {name or 'a variable'} {problem}")
        sample, problem = parse_typed(kind, self.query_one(".var-sample", Input).value)
        if problem:
            problems.append(f"sample of {name or 'a variable'} {problem}")
        var: dict[str, Any] = {"name": name, "type": kind,
                               "required": self.query_one(".var-required", Checkbox).value}
        description = self.query_one(".var-description", Input).value
        if description != (self.spec.get("description") or ""):
            description = description.strip()
        if description:
            var["description"] = description
        if default is not None:
            var["default"] = default
        return var, sample, problems

    @on(Button.Pressed, ".var-remove")
    def _remove(self) -> None:
        screen = self.screen  # told directly: the row is gone before a bubbling message
        self.remove()
        screen.post_message(self.Removed())

    class Removed(Message):
        """The row was removed: the form changed."""
