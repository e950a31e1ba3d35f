"""`ModeScreen`: the frame every mode shares (session line, tab strip, body, footer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.screen import Screen

from ..widgets.footer import PeFooter
from ..widgets.header import ModeTabs, SessionLine

if TYPE_CHECKING:
    from ..app import PeApp


class ModeScreen(Screen[None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A new screen is styled from the current stylesheet as it mounts. Textual also
        # re-parses the whole stylesheet and restyles every screen when a screen it has not
        # seen appears (for screens that bring CSS of their own; ours have none): that was
        # ~0.7 s of the first switch to a mode on this machine, so the screen says it is
        # up to date. (A theme change later moves the count on, and restyles it as usual.)
        self._css_update_count = self.app._css_update_count

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
