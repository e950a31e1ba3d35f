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
            yield Static(help_text(app), classes="hint", markup=False)


def help_text(app: PeApp) -> str:
    """The notes under the table, naming the keys bound now (after any remapping)."""
    run = app.keys_for(next(b for _, b in app.all_bindings() if b.id == "playground.run"))
    run_keys = [k.strip() for k in run.split(",")]
    lines = [
        "Tab and shift+tab move between fields; the focused one has a bright border. "
        "Tab also stops on the tab strips (Template/Raw prompt, Output/Rendered prompt): "
        f"← → switch them, or {app.hint_key('playground.source_tab')} and "
        f"{app.hint_key('playground.output_tab')} from anywhere.",
    ]
    if "ctrl+enter" in run_keys and len(run_keys) > 1:
        others = " or ".join(k for k in run_keys if k != "ctrl+enter")
        lines.append(f"{others} runs too: some terminals never send ctrl+enter.")
    lines.append(f"Remap a key in {app.config_path} under [bindings], e.g. "
                 f'"playground.run" = "f5". Every action is in the palette '
                 f"({app.hint_key('palette')}) as well. Esc, "
                 f"{app.hint_key('help')} or q closes this.")
    return "\n".join(lines)
