"""Small dialogs of the History screen: pick one of a few things (what to copy)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..save_template import DialogBody


class PickScreen(ModalScreen[str | None]):
    """One of `choices`; Enter picks, Escape picks nothing."""

    AUTO_FOCUS = "#pick-list"
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, title: str, choices: list[str]) -> None:
        super().__init__()
        self.title_text, self.choices = title, choices

    def compose(self) -> ComposeResult:
        with DialogBody(classes="dialog"):
            yield Label(escape(self.title_text), classes="dialog-title")
            yield OptionList(*(Option(escape(c), id=str(i)) for i, c in enumerate(self.choices)),
                             id="pick-list")

    @on(OptionList.OptionSelected, "#pick-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)])
