"""`VariablesForm`: one field per typed template variable, checked as the user types.

string: a one-line input, or a text area for variables that usually hold long text;
number / integer: an input that must parse; boolean: a switch; array / object: a JSON editor
whose value must parse to that type. Defaults are filled in and required fields are marked.
A problem shows under its field at once, before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.widget import AwaitMount, Widget
from textual.widgets import Input, Label, Static, Switch, TextArea

_LONG_TEXT_NAMES = {"text", "content", "body", "document", "article", "code", "input",
                    "message", "transcript", "context", "email", "review", "notes", "prompt"}


@dataclass(frozen=True)
class VariableSpec:
    name: str
    type: str = "string"
    required: bool = False
    description: str | None = None
    default: Any = None

    @classmethod
    def from_template(cls, data: dict[str, Any]) -> VariableSpec:
        return cls(str(data.get("name", "")), str(data.get("type") or "string"),
                   bool(data.get("required")), data.get("description"), data.get("default"))

    @property
    def multiline(self) -> bool:
        if self.type in ("array", "object"):
            return True
        default = self.default if isinstance(self.default, str) else ""
        return self.type == "string" and ("\n" in default or len(default) > 60
                                          or self.name.lower() in _LONG_TEXT_NAMES)


def parse_value(spec: VariableSpec, raw: str | bool) -> tuple[Any, str | None]:
    """(value, problem). An empty optional field is `None`: left out, the server fills it."""
    if spec.type == "boolean":
        return bool(raw), None
    text = str(raw)
    if not text.strip():
        return None, ("required" if spec.required else None)
    if spec.type == "string":
        return text, None
    if spec.type == "integer":
        try:
            return int(text.strip()), None
        except ValueError:
            return None, "must be a whole number, like 3"
    if spec.type == "number":
        try:
            return float(text.strip()), None
        except ValueError:
            return None, "must be a number, like 0.5"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    want = list if spec.type == "array" else dict
    if not isinstance(value, want):
        return None, f"must be a JSON {'array, like [1, 2]' if want is list else 'object'}"
    return value, None


def initial_text(spec: VariableSpec) -> str:
    if spec.default is None:
        return ""
    if spec.type in ("array", "object"):
        return json.dumps(spec.default, indent=2)
    return str(spec.default)


class VariableField(Vertical):
    DEFAULT_CSS = """
    VariableField { height: auto; margin-bottom: 1; }
    VariableField TextArea { height: 5; }
    VariableField .problem { display: none; }
    VariableField.-invalid .problem { display: block; }
    """

    def __init__(self, spec: VariableSpec, raw: str | bool | None = None) -> None:
        super().__init__(classes="variable-field")
        self.spec = spec
        self._raw = raw

    def compose(self) -> ComposeResult:
        spec = self.spec
        mark = " *" if spec.required else ""
        label = f"{escape(spec.name)}{mark} [dim]{spec.type}[/]"
        if spec.description:  # the template's text: never markup
            label += f" [dim]· {escape(spec.description)}[/]"
        yield Label(label, markup=True, classes="field-label")
        editor: Widget
        if spec.type == "boolean":
            value = self._raw if isinstance(self._raw, bool) else bool(spec.default)
            editor = Switch(value=value)
        elif spec.multiline:
            text = self._raw if isinstance(self._raw, str) else initial_text(spec)
            language = "json" if spec.type in ("array", "object") else None
            placeholder = {"array": 'JSON array, like ["a", "b"]',
                           "object": 'JSON object, like {"key": "value"}'}.get(spec.type, "")
            editor = TextArea(text, language=language, soft_wrap=True, show_line_numbers=False,
                              placeholder=placeholder)
        else:
            text = self._raw if isinstance(self._raw, str) else initial_text(spec)
            placeholder = {"integer": "a whole number", "number": "a number"}.get(
                spec.type, "required" if spec.required else "optional")
            editor = Input(text, placeholder=placeholder, compact=True)
        editor.add_class("field-editor")
        yield editor
        yield Static("", classes="problem")

    @property
    def editor(self) -> Widget:
        return self.query_one(".field-editor")

    @property
    def raw(self) -> str | bool:
        """What is typed; before the editor is mounted, what it will start with."""
        editors = self.query(".field-editor")
        if not editors:
            if self._raw is not None:
                return self._raw
            return bool(self.spec.default) if self.spec.type == "boolean" else initial_text(
                self.spec)
        editor = editors.first()
        if isinstance(editor, Switch):
            return editor.value
        if isinstance(editor, TextArea):
            return editor.text
        assert isinstance(editor, Input)
        return editor.value

    def check(self) -> tuple[Any, str | None]:
        value, problem = parse_value(self.spec, self.raw)
        self.set_class(problem is not None, "-invalid")
        self.query_one(".problem", Static).update(f"✗ {self.spec.name}: {problem}" if problem
                                                  else "")
        return value, problem


class VariablesForm(VerticalScroll, can_focus=False):
    """Holds what was typed per template, so switching templates and back loses nothing.
    Not a Tab stop itself: Tab goes from field to field (it still scrolls to the focused)."""

    DEFAULT_CSS = """
    VariablesForm { height: auto; max-height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.template_key: str | None = None
        self._typed: dict[str, dict[str, str | bool]] = {}

    def show(self, template_key: str | None, variables: list[dict[str, Any]],
             empty: str = "This template takes no variables.", note: str = "") -> AwaitMount:
        """Replaces the fields; await the result to use them (e.g. to focus one). `empty` is
        said when there are none; with no template at all, nothing is. `note` goes first."""
        self._remember()
        self.template_key = template_key
        self.remove_children()
        typed = self._typed.get(template_key or "", {})
        specs = [VariableSpec.from_template(v) for v in variables]
        if not specs and template_key is None:
            return self.mount_all([])  # no template open: the template info says what to do
        if not specs:
            return self.mount_all([Static(empty, classes="hint")] if empty else [])
        fields: list[Widget] = [Static(note, classes="hint")] if note else []
        fields += [VariableField(spec, typed.get(spec.name)) for spec in specs]
        return self.mount_all(fields)

    def typed(self) -> dict[str, dict[str, str | bool]]:
        """What was typed, per template (the current one included)."""
        self._remember()
        return {key: dict(values) for key, values in self._typed.items()}

    def restore(self, typed: dict[str, dict[str, str | bool]]) -> None:
        self._typed.update(typed)

    def _remember(self) -> None:
        if self.template_key is not None:
            self._typed[self.template_key] = {f.spec.name: f.raw for f in self.fields}

    @property
    def fields(self) -> list[VariableField]:
        return list(self.query(VariableField))

    def collect(self) -> tuple[dict[str, Any], list[str]]:
        """The variables to send, and one line per problem (empty when all is well)."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in self.fields:
            value, problem = field.check()
            if problem:
                problems.append(f"{field.spec.name}: {problem}")
            elif value is not None:
                values[field.spec.name] = value
        return values, problems

    def on_input_changed(self, event: Input.Changed) -> None:
        self._recheck(event.control)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._recheck(event.control)

    def _recheck(self, control: Widget) -> None:
        if isinstance(control.parent, VariableField):
            control.parent.check()
