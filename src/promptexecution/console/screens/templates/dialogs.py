"""Small dialogs of the Templates screen: a confirmation and a one-line question."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..save_template import DialogBody


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no; Escape is no."""

    AUTO_FOCUS = "#confirm-no"
    BINDINGS = [Binding("escape", "dismiss(False)", "Close", id="dialog.close")]

    def __init__(self, title: str, body: str, yes: str) -> None:
        super().__init__()
        self.title_text, self.body, self.yes = title, body, yes

    def compose(self) -> ComposeResult:
        with DialogBody(classes="dialog"):
            yield Label(escape(self.title_text), classes="dialog-title")
            yield Static(escape(self.body))
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="error", id="confirm-yes")
                yield Button("Cancel", id="confirm-no")

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)


class AskScreen(ModalScreen[str | None]):
    """One line of text (a change note, a label, a version); Escape gives None."""

    AUTO_FOCUS = "#ask-input"
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, title: str, body: str, *, value: str = "", placeholder: str = "",
                 button: str = "OK", allow_empty: bool = True) -> None:
        super().__init__()
        self.title_text, self.body, self.value = title, body, value
        self.placeholder, self.button, self.allow_empty = placeholder, button, allow_empty

    def compose(self) -> ComposeResult:
        with DialogBody(classes="dialog"):
            yield Label(escape(self.title_text), classes="dialog-title")
            if self.body:
                yield Static(escape(self.body), classes="hint")
            yield Input(self.value, placeholder=self.placeholder, id="ask-input")
            yield Static("", id="ask-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.button, variant="primary", id="ask-ok")
                yield Button("Cancel", id="ask-cancel")

    @on(Button.Pressed, "#ask-ok")
    @on(Input.Submitted, "#ask-input")
    def _ok(self) -> None:
        value = self.query_one("#ask-input", Input).value.strip()
        if not value and not self.allow_empty:
            box = self.query_one("#ask-error", Static)
            box.update("✗ this cannot be empty")
            box.add_class("-shown")
            return
        self.dismiss(value)

    @on(Button.Pressed, "#ask-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
