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
        # Textual reparses the whole stylesheet the first time any new screen is shown, as
        # if the CSS had changed (a new screen starts at update count -1): 100-300 ms of the
        # first F3. Nothing changed: every rule is in app.tcss, parsed at start, and widget
        # defaults are added as widgets register. A theme change still bumps the app's count,
        # so screens made before it are refreshed as usual. (Snapshots check the styles.)
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
