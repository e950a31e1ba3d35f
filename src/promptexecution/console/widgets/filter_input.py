"""`FilterInput`: an Input whose owner hears of each change within the keystroke itself.

A plain Input announces a change with a `Changed` message, which its screen handles after
Textual has already drawn the echoed character; the filtered list then waits for the next
frame (at most 60 a second), so a keystroke took two frames to show (36 ms median with 10,000
templates). Here the owner's callback runs in the watcher, before the first frame, so the
character and the list it filters are drawn together. The Input's growing virtual width is
also set without a layout pass: one line of fixed size needs none, and each pass costs the
whole screen a reflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Input


class FilterInput(Input):
    def __init__(self, on_change: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_change = on_change

    def _watch_value(self, value: str) -> None:
        # Input's own watcher would assign this through the reactive, which lays out the
        # screen; the same size set quietly makes that assignment a no-op.
        self.set_reactive(Widget.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)

    def watch_value(self, value: str) -> None:
        self._on_change(value)
