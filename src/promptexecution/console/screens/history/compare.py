"""Two executions side by side: each one's head, then their outputs, prompts, variables and
settings diffed word by word (side by side when the terminal is wide enough)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from ...widgets.diff_view import DiffView
from ..base import ModeScreen
from . import detail

if TYPE_CHECKING:
    from ....client.types import ExecutionResult

SPLIT_MIN_WIDTH = 120


class CompareScreen(ModeScreen):
    AUTO_FOCUS = "#compare-diff"
    BINDINGS = [
        Binding("escape", "close", "Back", id="history.compare_close"),
        Binding("u", "toggle_split", "Unified ⇄ split", id="history.compare_split"),
    ]

    def __init__(self, left: ExecutionResult, right: ExecutionResult) -> None:
        super().__init__(id="history-compare")
        self.left, self.right = left, right

    def compose_body(self) -> ComposeResult:
        variables = self.app.theme_variables
        with Horizontal(id="compare-heads"):
            yield Static(detail.head(self.left, None, variables), classes="compare-head")
            yield Static(detail.head(self.right, None, variables), classes="compare-head")
        yield Static("", id="compare-title")
        yield DiffView(id="compare-diff")

    def on_mount(self) -> None:
        self._show(split=self.size.width >= SPLIT_MIN_WIDTH)

    def _show(self, split: bool) -> None:
        old_out, old_prompt, old_rest = detail.comparable(self.left)
        new_out, new_prompt, new_rest = detail.comparable(self.right)
        view = self.query_one(DiffView)
        view.show([("output", old_out, new_out), ("rendered prompt", old_prompt, new_prompt),
                   ("variables and settings", old_rest, new_rest)], split=split)
        mode = "side by side" if view.split else "unified"
        self.query_one("#compare-title", Static).update(Text(
            f"{self.left.execution_id} → {self.right.execution_id}: {view.changes} changed "
            f"line(s) · {self.pe.hint_key('history.compare_split')} {mode}", style="bold"))

    def action_toggle_split(self) -> None:
        view = self.query_one(DiffView)
        if not view.split and self.size.width < SPLIT_MIN_WIDTH:
            self.notify(f"Side by side needs {SPLIT_MIN_WIDTH} columns; this terminal has "
                        f"{self.size.width}.", severity="warning")
            return
        self._show(split=not view.split)

    def action_close(self) -> None:
        self.dismiss()
