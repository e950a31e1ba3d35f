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

    def __init__(self, left: ExecutionResult, right: ExecutionResult,
                 template_names: dict[str, str]) -> None:
        super().__init__(id="history-compare")
        self.left, self.right = left, right
        self.names = template_names

    def template_name(self, execution: ExecutionResult) -> str | None:
        return self.names.get(execution.template_id or "")

    def compose_body(self) -> ComposeResult:
        variables = self.app.theme_variables
        with Horizontal(id="compare-heads"):
            for execution in (self.left, self.right):
                yield Static(detail.head(execution, self.template_name(execution), variables),
                             classes="compare-head")
        yield Static("", id="compare-title")
        yield DiffView(id="compare-diff")

    def on_mount(self) -> None:
        self._show(split=self.size.width >= SPLIT_MIN_WIDTH)

    def _show(self, split: bool) -> None:
        left, right = self.left, self.right
        old_out, old_prompt, old_rest = detail.comparable(left, self.template_name(left))
        new_out, new_prompt, new_rest = detail.comparable(right, self.template_name(right))
        view = self.query_one(DiffView)
        view.show([("output", old_out, new_out), ("rendered prompt", old_prompt, new_prompt),
                   ("variables and settings", old_rest, new_rest)], split=split)
        other = "unified" if view.split else "side by side"
        changes = f"{view.changes} changed line{'' if view.changes == 1 else 's'}"
        self.query_one("#compare-title", Static).update(Text(
            f"{self.left.execution_id} → {self.right.execution_id}: {changes} · "
            f"{self.pe.hint_key('history.compare_split')} for {other}", style="bold"))

    def action_toggle_split(self) -> None:
        view = self.query_one(DiffView)
        if not view.split and self.size.width < SPLIT_MIN_WIDTH:
            self.notify(f"Side by side needs {SPLIT_MIN_WIDTH} columns; this terminal has "
                        f"{self.size.width}.", severity="warning")
            return
        self._show(split=not view.split)

    def action_close(self) -> None:
        self.dismiss()
