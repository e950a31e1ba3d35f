"""`ModeScreen`: the frame every mode shares (session line, tab strip, body, footer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.screen import Screen

from ..widgets.footer import PeFooter
from ..widgets.header import ModeTabs, SessionLine

if TYPE_CHECKING:
    from ..app import PeApp


class ModeScreen(Screen[None]):
    @property
    def pe(self) -> PeApp:
        return cast("PeApp", self.app)

    def compose(self) -> ComposeResult:
        yield SessionLine()
        yield ModeTabs()
        yield from self.compose_body()
        yield PeFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError
