"""The help screen: every key, what it does, and the id to remap it under [bindings]."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

if TYPE_CHECKING:
    from ..app import PeApp


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="help.close")]  # F1 toggles

    def compose(self) -> ComposeResult:
        app = cast("PeApp", self.app)
        with Vertical(classes="dialog help"):
            yield Label("Keys", classes="dialog-title")
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("key", "does", "where", "id")
            for where, binding in app.all_bindings():
                assert binding.id is not None
                keys = app.keys_for(binding)
                shown = ", ".join(app.get_key_display(Binding(k.strip(), ""))
                                  for k in keys.split(","))
                table.add_row(shown, binding.description or binding.action, where, binding.id)
            yield table
            yield Static(
                f"Remap a key in {app.config_path} under [bindings], e.g. "
                '"playground.run" = "f5". ctrl+j runs too: some terminals never send '
                "ctrl+enter. Esc, F1 or q closes this.", classes="hint", markup=False)
