"""`PeFooter`: Textual's footer, made to fit any width.

Below `COMPACT_BELOW` columns it uses Textual's compact style. F1 Help always comes first and
the palette key stays on the right; when the keys still do not fit, the last of them give way
(Help and the palette list every key, so nothing becomes unreachable)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

COMPACT_BELOW = 120
FIRST = ("help",)  # the action shown first, whatever the width


def key_width(key: FooterKey, compact: bool) -> int:
    """Columns a key takes, as FooterKey draws it (padding, and the compact margin)."""
    text = len(key.key_display) + (len(key.description) + 1 if key.description else 0)
    return text + (1 if compact else 2)


class PeFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        self._width = 0

    def compose(self) -> ComposeResult:
        width = self.size.width
        compact = 0 < width < COMPACT_BELOW
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)
                and not w.has_class("-command-palette")]
        keys.sort(key=lambda k: k.action not in FIRST)  # stable: the rest keep their order
        if width:
            palette = [w for w in widgets if isinstance(w, FooterKey)
                       and w.has_class("-command-palette")]
            room = width - sum(key_width(p, compact) + 2 for p in palette)
            while keys and sum(key_width(k, compact) for k in keys) > room:
                keys.pop()
        others: list[Widget] = [w for w in widgets if not isinstance(w, FooterKey)
                                or w.has_class("-command-palette")]
        yield from keys
        yield from others

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
