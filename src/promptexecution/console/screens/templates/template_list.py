"""`TemplateList`: the account's templates as a virtual list (line API), so 10,000 of them
cost the visible rows only, and a filter keystroke only recomputes which rows match.

Each row: name, latest version, tags, variables, last updated, and archived in its own
colour, struck through, under a header that stays while the rows scroll. The cursor row is
highlighted; moving it posts `Highlighted`, Enter posts `Chosen`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...theming import theme_colour
from ...widgets.virtual_table import LIST_KEYS

if TYPE_CHECKING:
    from ....models import Template


def printable(text: str) -> str:
    """Text for one row: a newline or control character in a tag would break the line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)


def haystack(template: Template) -> str:
    """What the filter searches: name, tags and description, lowercased once."""
    return " ".join([template.name, *template.tags, template.description or ""]).lower()


def matches(hay: str, words: list[str]) -> bool:
    return all(word in hay for word in words)


def ago(stamp: str, now: datetime) -> str:
    """`updated_at` in at most 6 cells: 45s, 12m, 3h, 5d, then Jan 15 this year, else 2025."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp[:6]
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return f"{max(int(seconds), 0)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    if seconds < 86400 * 30:
        return f"{int(seconds // 86400)}d"
    return when.strftime("%b %d") if when.year == now.year else str(when.year)


# The columns right of the name, with their widths; the narrowest lists drop "vars" first.
COLUMNS = (("ver", 6), ("vars", 5), ("updated", 8))
NARROW_COLUMNS = (("ver", 5), ("updated", 8))
NARROW = 36  # below this many cells the list shows version and age only


def columns_for(width: int) -> tuple[tuple[str, int], ...]:
    return COLUMNS if width >= NARROW else NARROW_COLUMNS


class TemplateList(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = LIST_KEYS

    class Highlighted(Message):
        def __init__(self, template: Template | None) -> None:
            super().__init__()
            self.template = template

    class Chosen(Message):
        def __init__(self, template: Template) -> None:
            super().__init__()
            self.template = template

    cursor: reactive[int] = reactive(0, repaint=True)

    def __init__(self, *, id: str | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(id=id)
        self.rows: list[Template] = []
        self.now = now
        self.empty_text = ""
        self._styles_of: str | None = None
        self._row_styles: dict[str, Style] = {}

    def show(self, rows: list[Template], keep: str | None = None) -> None:
        """Replaces the rows; the cursor stays on template `keep` when it is still shown."""
        self.rows = rows
        index = next((i for i, t in enumerate(rows) if t.template_id == keep), 0) if keep else 0
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.set_reactive(TemplateList.cursor, min(index, max(len(rows) - 1, 0)))
        self._follow()
        self.refresh()
        self.post_message(self.Highlighted(self.current))

    @property
    def current(self) -> Template | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        if index != self.cursor:
            self.cursor = index
            self._follow()
            self.post_message(self.Highlighted(self.current))

    def _follow(self) -> None:
        """Scrolls so the cursor row is in view."""
        top, height = self.scroll_offset.y, self._rows_shown
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    @property
    def _rows_shown(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)  # line 0 is the header

    def action_move(self, by: int) -> None:
        self.move_to(self.cursor + by)

    def action_page(self, by: int) -> None:
        self.move_to(self.cursor + by * max(self._rows_shown - 1, 1))

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.rows) - 1 if end else 0)

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current))

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int) and y > 0:
            self.move_to(self.scroll_offset.y + y - 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # the scrollbar has the rest
        if y == 0:
            return self._header(width)
        index = self.scroll_offset.y + y - 1
        if not self.rows:
            if y == 1 and self.empty_text:
                return Strip(list(Text(self.empty_text, style="dim").render(self.app.console))
                             ).adjust_cell_length(width)
            return Strip.blank(width)
        if index >= len(self.rows):
            return Strip.blank(width)
        return self._row(self.rows[index], index == self.cursor, width)

    def _header(self, width: int) -> Strip:
        columns = columns_for(width)
        line = Text("name  tags", no_wrap=True, overflow="ellipsis", style="bold dim")
        line.truncate(max(width - sum(w for _, w in columns), 4), pad=True)
        for title, cells in columns:
            line.append(f" {title}".rjust(cells))
        return Strip(list(line.render(self.app.console))).adjust_cell_length(width)

    def _styles(self) -> dict[str, Style]:
        """The row styles of the current theme, parsed once per theme (rows ask per line)."""
        theme = self.app.theme
        if self._styles_of != theme:
            variables = self.app.theme_variables
            colour = functools.partial(theme_colour, variables)
            self._row_styles = {
                "name": Style(bold=True),
                "archived": Style.parse(f"strike {colour('warning', 'yellow')}"),
                "muted": Style.parse(colour("text-muted", "grey50")),
                "accent": Style.parse(colour("accent", "cyan")),
                "cursor": Style.parse(f"bold on {colour('primary', 'blue')}"),
                "cursor-unfocused": Style.parse(f"on {colour('panel', 'blue')}"),
            }
            self._styles_of = theme
        return self._row_styles

    def _row(self, template: Template, is_cursor: bool, width: int) -> Strip:
        """Segments built directly (not through Rich Text): a filter keystroke repaints every
        visible row, and this keeps a row to a few microseconds."""
        styles = self._styles()
        columns = columns_for(width)
        left = max(width - sum(size for _, size in columns), 4)
        name = printable(template.name)
        tags = "  " + printable(" ".join(template.tags)) if template.tags else ""
        name_cells = cell_len(name)
        if name_cells > left:
            name, tags = set_cell_size(name, left - 1) + "…", ""
        elif name_cells + cell_len(tags) > left:
            room = left - name_cells  # tags start with two spaces: show them if one fits
            tags = set_cell_size(tags, room - 1) + "…" if room >= 4 else ""
        pad = left - cell_len(name) - cell_len(tags)
        cells = {"ver": template.version, "vars": str(len(template.variables)),
                 "updated": ago(template.updated_at, self.now())}
        archived = template.status == "archived"
        segments = [Segment(name, styles["archived" if archived else "name"]),
                    Segment(tags + " " * pad, styles["muted"])]
        for title, size in columns:
            segments.append(Segment(f" {cells[title]}"[-size:].rjust(size),
                                    styles["accent" if title == "ver" else "muted"]))
        strip = Strip(segments, width)
        if is_cursor:
            strip = strip.apply_style(styles["cursor" if self.has_focus else "cursor-unfocused"])
        return strip

    def watch_cursor(self) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)


