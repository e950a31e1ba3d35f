"""One version in full, as the detail pane shows the latest: prompt, variables, settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from . import detail

if TYPE_CHECKING:
    from ....models import Template


class VersionScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, template: Template) -> None:
        super().__init__()
        self.template = template

    def compose(self) -> ComposeResult:
        template, variables = self.template, self.app.theme_variables
        with VerticalScroll(classes="dialog help", id="version-view"):
            yield Static(detail.head(template))
            yield Static(detail.prompt(template, variables), classes="prompt-box")
            yield Static(detail.variables_table(template))
            yield Static(detail.settings(template))
