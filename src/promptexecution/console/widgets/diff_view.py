"""`DiffView`: two texts compared line by line, with the changed words inside a changed line
marked, unified or side by side, soft-wrapped (prompts are prose with long lines).

The diff is difflib's (lines, then words within each replaced pair of lines). Rows are wrapped
to the width once per width and drawn with the line API, so scrolling a long diff costs the
visible lines only. `tests/bench/bench_templates.py` times a 2,000-line diff.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..theming import theme_colour

RowKind = Literal["same", "removed", "added", "changed", "gap", "title"]
_WORDS = re.compile(r"\s+|\w+|[^\w\s]")
CONTEXT = 3  # unchanged lines shown around each change


@dataclass
class DiffRow:
    kind: RowKind
    old: Text | None = None  # the left side (unified: the removed line)
    new: Text | None = None  # the right side (unified: the added line)
    old_number: int | None = None
    new_number: int | None = None


@dataclass(frozen=True)
class DiffStyles:
    removed: Style
    added: Style
    removed_word: Style
    added_word: Style
    dim: Style
    title: Style


def word_diff(old: str, new: str, styles: DiffStyles) -> tuple[Text, Text]:
    """The two lines with the words that differ marked."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    left, right = Text(style=styles.removed), Text(style=styles.added)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append("".join(a[i1:i2]))
            right.append("".join(b[j1:j2]))
        else:
            left.append("".join(a[i1:i2]), styles.removed_word)
            right.append("".join(b[j1:j2]), styles.added_word)
    return left, right


def diff_rows(old: str, new: str, styles: DiffStyles, context: int = CONTEXT) -> list[DiffRow]:
    """The rows of a diff: changes with `context` unchanged lines around them, and a gap row
    where unchanged lines are left out."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    rows: list[DiffRow] = []
    for group in matcher.get_grouped_opcodes(context):
        if rows:
            rows.append(DiffRow("gap"))
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                for k in range(i2 - i1):
                    line = Text(a[i1 + k], style=styles.dim)
                    rows.append(DiffRow("same", line, line, i1 + k + 1, j1 + k + 1))
                continue
            paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
            for k in range(paired):
                left, right = word_diff(a[i1 + k], b[j1 + k], styles)
                rows.append(DiffRow("changed", left, right, i1 + k + 1, j1 + k + 1))
            for k in range(i1 + paired, i2):
                rows.append(DiffRow("removed", Text(a[k], style=styles.removed), None, k + 1))
            for k in range(j1 + paired, j2):
                rows.append(DiffRow("added", None, Text(b[k], style=styles.added), None, k + 1))
    return rows


def wrap_offsets(plain: str, width: int) -> list[int]:
    """Where to break `plain` so no piece is wider than `width` cells: after the last space
    that fits, else at the width (a word longer than the line is folded)."""
    if cell_len(plain) <= width:
        return []
    breaks: list[int] = []
    start = 0
    while cell_len(plain[start:]) > width:
        end = start + width
        while cell_len(plain[start:end]) > width:  # wide characters take two cells
            end -= 1
        space = plain.rfind(" ", start + 1, end + 1)
        cut = space + 1 if space > start else max(end, start + 1)
        breaks.append(cut)
        start = cut
    return breaks


class DiffView(ScrollView, can_focus=True):
    """Sections of (title, old text, new text), each diffed; `split` puts the sides next to
    each other (the caller decides when the terminal is wide enough)."""

    DEFAULT_CSS = """
    DiffView { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sections: list[tuple[str, str, str]] = []
        self.split = False
        self._rows: list[DiffRow] = []
        self._index: list[tuple[int, int]] = []  # per line: (row, line within the row)
        self._cache: dict[int, list[Strip]] = {}  # row -> its lines, drawn when first seen
        self._laid_out_for: tuple[int, bool] | None = None
        self._styles_now: DiffStyles | None = None
        self.changes = 0  # rows that differ, over every section

    def _styles(self) -> DiffStyles:
        variables = self.app.theme_variables
        removed = theme_colour(variables, "error", "red")
        added = theme_colour(variables, "success", "green")
        return DiffStyles(
            removed=Style.parse(removed), added=Style.parse(added),
            removed_word=Style.parse(f"bold reverse {removed}"),
            added_word=Style.parse(f"bold reverse {added}"),
            dim=Style.parse(theme_colour(variables, "text-muted", "grey50")),
            title=Style.parse(f"bold {theme_colour(variables, 'primary', 'blue')}"),
        )

    def show(self, sections: list[tuple[str, str, str]], split: bool | None = None) -> None:
        self.sections = sections
        if split is not None:
            self.split = split
        styles = self._styles_now = self._styles()
        self._rows = []
        self.changes = 0
        for title, old, new in sections:
            rows = diff_rows(old, new, styles)
            self.changes += sum(r.kind not in ("same", "gap") for r in rows)
            if not rows:
                continue
            self._rows.append(DiffRow("title", Text(title, style=styles.title)))
            self._rows.extend(rows)
        self._laid_out_for = None
        self._lay_out()
        self.scroll_to(0, 0, animate=False)

    def set_split(self, split: bool) -> None:
        if split != self.split:
            self.split = split
            self._laid_out_for = None
            self._lay_out()

    def on_resize(self) -> None:
        self._lay_out()

    def _widths(self, width: int) -> tuple[int, int]:
        half = (width - 1) // 2
        return half, width - half - 1

    def _lay_out(self) -> None:
        """Counts each row's wrapped lines (cheap); drawing waits until a line is seen."""
        width = max(self.scrollable_content_region.width, 20)
        if self._laid_out_for == (width, self.split):
            return
        self._laid_out_for = (width, self.split)
        self._cache.clear()
        index: list[tuple[int, int]] = []
        left, right = self._widths(width)
        for number, row in enumerate(self._rows):
            if row.kind in ("title", "gap"):
                height = 1
            elif self.split:
                height = max(_height(row.old, left - 2), _height(row.new, right - 2))
            elif row.kind == "same":
                height = _height(row.old, width - 2)
            else:
                height = _height(row.old, width - 2) * (row.old is not None) + _height(
                    row.new, width - 2) * (row.new is not None)
            index.extend((number, k) for k in range(height))
        self._index = index
        self.virtual_size = Size(width, max(len(index), 1))
        self.refresh()

    def _draw(self, number: int) -> list[Strip]:
        found = self._cache.get(number)
        if found is None:
            if len(self._cache) > 2000:
                self._cache.clear()
            width = self._laid_out_for[0] if self._laid_out_for else 80
            found = self._cache[number] = self._row_lines(self._rows[number], width)
        return found

    def _row_lines(self, row: DiffRow, width: int) -> list[Strip]:
        styles = self._styles_now or self._styles()
        console = self.app.console
        if row.kind == "title":
            assert row.old is not None
            return [Strip(list(row.old.render(console))).adjust_cell_length(width)]
        if row.kind == "gap":
            return [Strip([Segment("  ⋯", styles.dim)]).adjust_cell_length(width)]
        if self.split:
            half, rest = self._widths(width)
            left = _wrap(row.old, "- " if row.kind in ("removed", "changed") else "  ",
                         half, console)
            right = _wrap(row.new, "+ " if row.kind in ("added", "changed") else "  ",
                          rest, console)
            bar = Strip([Segment("│", styles.dim)])
            return [Strip.join([
                left[i] if i < len(left) else Strip.blank(half), bar,
                right[i] if i < len(right) else Strip.blank(rest),
            ]) for i in range(max(len(left), len(right)))]
        if row.kind == "same":
            return _wrap(row.old, "  ", width, console)
        return _wrap(row.old, "- ", width, console) + _wrap(row.new, "+ ", width, console)

    def render_line(self, y: int) -> Strip:
        line = self.scroll_offset.y + y
        width = self.size.width
        if not self._rows:
            if y == 0:
                dim = (self._styles_now or self._styles()).dim
                return Strip([Segment("no differences", dim)]).adjust_cell_length(width)
            return Strip.blank(width)
        if line >= len(self._index):
            return Strip.blank(width)
        number, within = self._index[line]
        strips = self._draw(number)
        strip = strips[within] if within < len(strips) else Strip.blank(width)
        return strip.crop(self.scroll_offset.x, self.scroll_offset.x + width)

    @property
    def line_count(self) -> int:
        return len(self._index)


def _height(text: Text | None, width: int) -> int:
    if text is None:
        return 0
    return len(wrap_offsets(text.plain, max(width, 1))) + 1


def _wrap(text: Text | None, mark: str, width: int, console: Console) -> list[Strip]:
    """`text` behind its mark, soft-wrapped to `width` (continuations indented like it)."""
    if text is None:
        return []
    body = max(width - len(mark), 1)
    pieces = text.divide(wrap_offsets(text.plain, body)) if text.plain else [Text("")]
    strips = []
    for number, piece in enumerate(pieces):
        prefix = Text(mark if number == 0 else " " * len(mark), style=text.style)
        piece.rstrip()
        strips.append(Strip(list((prefix + piece).render(console))).adjust_cell_length(width))
    return strips
