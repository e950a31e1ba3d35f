"""`VirtualTable`: a table over rows it never holds, drawn with the line API.

Textual's DataTable keeps every row (35 s to first paint 100,000 rows here). This one asks
a `RowSource` for the rows in view only: `row(i)` gives a row's cells, or None while it is
still on its way (drawn as a dim placeholder), and `wanted(first, last)` tells the source
which rows the view shows, so it can fetch them (and forget others). Scrolling is the
table's own offset, not a ScrollView's: a million rows cost no virtual canvas, moving the
view needs no layout pass, and the scrollbar is drawn in the last column.

The header stays on line 0. Columns have fixed widths except flexible ones, which share
what is left; a column may hide below a terminal width, so 80 columns keep what matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ..theming import theme_colour

Cell = str | Text


@dataclass(frozen=True)
class Column:
    title: str
    width: int = 0  # 0: flexible, sharing what the fixed columns leave
    align: str = "left"  # or "right"
    hide_below: int = 0  # the table is narrower than this: the column is not shown
    max_width: int = 0  # for a flexible column: at most this many cells (0: no limit)


class RowSource(Protocol):
    def row_count(self) -> int: ...

    def row(self, index: int) -> Sequence[Cell] | None: ...

    def wanted(self, first: int, last: int) -> None: ...


# The keys of a list with a cursor; a widget that uses them has the actions move(by),
# page(by), edge(0|1) and choose.
LIST_KEYS: list[BindingType] = [
    Binding("up", "move(-1)", show=False),
    Binding("down", "move(1)", show=False),
    Binding("pageup", "page(-1)", show=False),
    Binding("pagedown", "page(1)", show=False),
    Binding("home", "edge(0)", show=False),
    Binding("end", "edge(1)", show=False),
    Binding("enter", "choose", show=False),
]


class VirtualTable(Widget, can_focus=True):
    DEFAULT_CSS = """
    VirtualTable {
        height: 1fr;
        background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = LIST_KEYS

    class CursorMoved(Message):
        def __init__(self, table: VirtualTable, index: int) -> None:
            super().__init__()
            self.table, self.index = table, index

        @property
        def control(self) -> VirtualTable:  # what @on(..., "#id") matches
            return self.table

    class Chosen(Message):
        def __init__(self, table: VirtualTable, index: int) -> None:
            super().__init__()
            self.table, self.index = table, index

        @property
        def control(self) -> VirtualTable:
            return self.table

    cursor: reactive[int] = reactive(0, repaint=True)

    def __init__(self, columns: Sequence[Column], source: RowSource, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.source = source
        self.top = 0  # the row on the first line under the header
        self.empty_text = ""
        self._styles_of: str | None = None
        self._styles: dict[str, Style] = {}

    # ------------------------------------------------------------------ geometry

    @property
    def rows_shown(self) -> int:
        return max(self.size.height - 1, 1)  # line 0 is the header

    def _widths(self, width: int) -> list[tuple[Column, int]]:
        shown = [c for c in self.columns if width >= c.hide_below]
        gaps = len(shown) - 1
        fixed = sum(c.width for c in shown if c.width)
        flexible = [c for c in shown if not c.width]
        room = max(width - fixed - gaps, 0)
        sizes: dict[int, int] = {}
        # Capped flexible columns take their cap first if the rest still gets room.
        for column in sorted(flexible, key=lambda c: c.max_width or 10**9):
            share = room // max(len([c for c in flexible if id(c) not in sizes]), 1)
            size = min(share, column.max_width) if column.max_width else share
            sizes[id(column)] = size
            room -= size
        if flexible and room > 0:  # what is left goes to the last uncapped flexible column
            last = next((c for c in reversed(flexible) if not c.max_width), flexible[-1])
            sizes[id(last)] += room
        return [(c, c.width or sizes[id(c)]) for c in shown]

    # ------------------------------------------------------------------ moving

    def refresh_rows(self) -> None:
        """The source has new rows or a new count: clamp, ask for what is in view, redraw."""
        count = self.source.row_count()
        if self.cursor >= count:
            self.set_reactive(VirtualTable.cursor, max(count - 1, 0))
        self.top = max(0, min(self.top, max(count - self.rows_shown, 0)))
        self._want()
        self.refresh()

    def shift(self, rows: int) -> None:
        """`rows` arrived above everything (newest first): the view and the cursor keep
        showing the same rows, as if nothing moved."""
        self.top += rows
        self.set_reactive(VirtualTable.cursor, self.cursor + rows)
        self.refresh_rows()

    def move_to(self, index: int) -> None:
        count = self.source.row_count()
        if count == 0:
            return
        index = max(0, min(index, count - 1))
        if index < self.top:
            self.top = index
        elif index >= self.top + self.rows_shown:
            self.top = index - self.rows_shown + 1
        changed = index != self.cursor
        self.cursor = index
        self._want()
        self.refresh()
        if changed:
            self.post_message(self.CursorMoved(self, index))

    def scroll_rows(self, by: int) -> None:
        count = self.source.row_count()
        self.top = max(0, min(self.top + by, max(count - self.rows_shown, 0)))
        self._want()
        self.refresh()

    def _want(self) -> None:
        self.source.wanted(self.top, self.top + self.rows_shown - 1)

    def action_move(self, by: int) -> None:
        self.move_to(self.cursor + by)

    def action_page(self, by: int) -> None:
        step = max(self.rows_shown - 1, 1) * by
        last_top = max(self.source.row_count() - self.rows_shown, 0)  # no blank page at the end
        self.top = max(0, min(self.top + step, last_top))
        self.move_to(self.cursor + step)

    def action_edge(self, end: int) -> None:
        self.move_to(self.source.row_count() - 1 if end else 0)

    def action_choose(self) -> None:
        if self.source.row_count():
            self.post_message(self.Chosen(self, self.cursor))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.scroll_rows(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.scroll_rows(-3)

    def on_click(self, event: events.Click) -> None:
        if event.y > 0:
            self.move_to(self.top + event.y - 1)
            if event.chain == 2:
                self.action_choose()

    def on_resize(self) -> None:
        self.refresh_rows()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def _style(self, name: str) -> Style:
        theme = self.app.theme
        if self._styles_of != theme:
            variables = self.app.theme_variables
            self._styles = {
                "header": Style(bold=True, dim=True),
                "placeholder": Style(dim=True),
                "cursor": Style.parse(f"bold {theme_colour(variables, 'background', 'black')} "
                                      f"on {theme_colour(variables, 'primary', 'blue')}"),
                "cursor-unfocused": Style.parse(
                    f"on {theme_colour(variables, 'panel', 'blue')}"),
                "bar": Style.parse(theme_colour(variables, "primary", "blue")),
                "track": Style.parse(theme_colour(variables, "panel", "grey23")),
            }
            self._styles_of = theme
        return self._styles[name]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width <= 1:
            return Strip.blank(width)
        inner = width - 1  # the last column is the scrollbar
        count = self.source.row_count()
        if y == 0:
            cells: Sequence[Cell] = [c.title for c in self.columns]
            strip = self._line(cells, inner, self._style("header"))
        else:
            index = self.top + y - 1
            if count == 0:
                text = self.empty_text if y == 1 else ""
                strip = Strip([Segment(set_cell_size(text, inner), self._style("placeholder"))],
                              inner)
            elif index >= count:
                strip = Strip.blank(inner)
            else:
                row = self.source.row(index)
                if row is None:
                    strip = Strip([Segment(set_cell_size(" ···", inner),
                                           self._style("placeholder"))], inner)
                else:
                    strip = self._line(row, inner, None)
                if index == self.cursor:
                    strip = self._on_cursor(strip)
        return Strip([*strip, self._bar(y, count)], width)

    def _on_cursor(self, strip: Strip) -> Strip:
        """The cursor row: its background under the cells' own colours, except a cell drawn
        in the cursor's own colour (a status, say), which would vanish: it takes the
        cursor's text colour."""
        if not self.has_focus:
            return strip.apply_style(self._style("cursor-unfocused"))
        cursor = self._style("cursor")
        segments = []
        for text, style, control in strip:
            if style is not None and style.color is not None and style.color == cursor.bgcolor:
                style = style + Style(color=cursor.color)
            segments.append(Segment(text, cursor + style if style else cursor, control))
        return Strip(segments, strip.cell_length)

    def _line(self, cells: Sequence[Cell], width: int, style: Style | None) -> Strip:
        segments: list[Segment] = []
        widths = self._widths(width)
        shown = [i for i, c in enumerate(self.columns) if width >= c.hide_below]
        for n, ((column, size), index) in enumerate(zip(widths, shown, strict=True)):
            if n:
                segments.append(Segment(" ", style))
            cell = cells[index] if index < len(cells) else ""
            segments.extend(_cell(cell, size, column.align, style, self.app.console))
        return Strip(segments, width).adjust_cell_length(width)

    def _bar(self, y: int, count: int) -> Segment:
        height = self.size.height
        if count <= self.rows_shown or height <= 1:
            return Segment(" ")
        thumb = max(1, round(height * self.rows_shown / count))
        start = round((height - thumb) * self.top / max(count - self.rows_shown, 1))
        if start <= y < start + thumb:
            return Segment("▐", self._style("bar"))
        return Segment("▐", self._style("track"))


def _cell(cell: Cell, size: int, align: str, base: Style | None,
          console: Console) -> list[Segment]:
    """One cell in exactly `size` cells: cut with an ellipsis, padded by its alignment."""
    if size <= 0:
        return []
    if isinstance(cell, Text):
        text = cell.copy()
        text.truncate(size, overflow="ellipsis")
        # Text.render leaves out the Text's own style (its __rich_console__ adds it).
        own = console.get_style(text.style) if text.style else None
        layers = [style for style in (base, own) if style]
        parts = [Segment(s.text, _layered(layers, s.style))
                 for s in text.render(console) if s.text != "\n"]
        pad = size - text.cell_len
    else:
        plain = cell.replace("\n", " ")
        if cell_len(plain) > size:
            plain = set_cell_size(plain, size - 1) + "…" if size > 1 else "…"
        parts, pad = [Segment(plain, base)], size - cell_len(plain)
    filler = [Segment(" " * pad, base)] if pad > 0 else []
    return filler + parts if align == "right" else parts + filler


def _layered(layers: list[Style], top: Style | None) -> Style | None:
    styles = [*layers, top] if top else layers
    return Style.combine(styles) if styles else None
