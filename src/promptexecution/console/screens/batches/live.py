"""`LiveScreen`: a screen drawn from the book of batches. A change in the book only marks it
stale; it is drawn at most every `REDRAW_EVERY` (a burst of events costs one draw) and once
a second anyway, so ages ("updated 3s ago") move on when nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base import ModeScreen

REDRAW_EVERY = 0.25  # seconds


class LiveScreen(ModeScreen):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dirty = True
        self._unsubscribe: Callable[[], None] | None = None

    def start_live(self) -> None:
        """Called once mounted: follows the book and draws the first time."""
        self._unsubscribe = self.pe.batch_book.subscribe(self._book_changed)
        self.set_interval(REDRAW_EVERY, self._redraw)
        self.set_interval(1.0, self._tick)
        self._redraw()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def shows(self, ids: set[str]) -> bool:
        """Whether a change to these batches (none: the book was cleared) concerns it."""
        return True

    def draw(self) -> None:
        raise NotImplementedError

    def _book_changed(self, ids: set[str]) -> None:
        if self.shows(ids):
            self._dirty = True

    def _tick(self) -> None:
        self._dirty = True

    def _redraw(self) -> None:
        if not self._dirty or not self.is_attached:
            return
        self._dirty = False
        self.draw()
