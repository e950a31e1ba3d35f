"""`StreamView`: model output that grows while it streams, drawn with Textual's line API.

Textual's `Markdown` widget keeps a widget per block and lays them all out as the answer
grows. Here the text is cut into Markdown blocks (at blank lines outside code fences, unless
the next line continues the block); a block is rendered to lines once, when it is closed, and
only the open tail is rendered again, at most `FPS` times a second. Drawing is `render_line`,
so a frame costs the visible lines only. tests/bench/bench_console_stream.py compares the two.

Three formats: `markdown` (default), `json` (pretty-printed and highlighted by pygments once it
parses, highlighted as it is while still arriving) and `text`.
"""

from __future__ import annotations

import json
import re
import time
from typing import ClassVar, Literal

from rich.console import RenderableType
from rich.markdown import Heading, Markdown
from rich.syntax import Syntax
from rich.text import Text
from rich.theme import Theme as RichTheme
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

OutputFormat = Literal["markdown", "json", "text"]


class _LeftHeading(Heading):
    """Rich centres h1; in a narrow column a left-aligned heading reads better."""

    LEVEL_ALIGN: ClassVar = dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), "left")


class _Markdown(Markdown):
    elements: ClassVar = {**Markdown.elements, "heading_open": _LeftHeading}


_LIST_ITEM = re.compile(r"\s*([-*+]|\d+[.)])\s")


class MarkdownBlocks:
    """Splits streamed Markdown into closed blocks and the open tail (no rendering here).

    A blank line outside a code fence ends a block, unless the next line continues it: an
    indented line (a list item's paragraph or code) or another item of the same list. So the
    decision waits for that next line.
    """

    def __init__(self) -> None:
        self.closed: list[str] = []
        self._current: list[str] = []  # complete lines of the open block
        self._partial = ""  # the last line, still without its newline
        self._fence: str | None = None  # the open code fence marker, if inside one
        self._blank = False  # a blank line followed the open block

    @property
    def tail(self) -> str:
        return "\n".join(self._current + ([self._partial] if self._partial else []))

    def feed(self, text: str) -> int:
        """Adds text; returns how many blocks it closed."""
        before = len(self.closed)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)
        return len(self.closed) - before

    def _line(self, line: str) -> None:
        stripped = line.lstrip()
        if self._fence is not None:
            self._current.append(line)
            if stripped.startswith(self._fence):
                self._fence = None
            return
        if not stripped:
            self._blank = bool(self._current)
            return
        if self._blank:
            self._blank = False
            continues = line[:1] in (" ", "\t") or (
                _LIST_ITEM.match(line) is not None and _LIST_ITEM.match(self._current[0]))
            if continues:
                self._current.append("")
            else:
                self._close()
        if stripped.startswith(("```", "~~~")):
            self._fence = stripped[:3]
        self._current.append(line)

    def _close(self) -> None:
        if self._current:
            self.closed.append("\n".join(self._current))
            self._current = []


class StreamView(ScrollView, can_focus=True):
    """Output that may be appended to many times a second; follows the end unless scrolled."""

    FPS = 30
    DEFAULT_CSS = """
    StreamView { height: 1fr; padding: 0 1; }
    """

    def __init__(self, *, output_format: OutputFormat = "markdown", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.output_format: OutputFormat = output_format
        self._parts: list[str] = []
        self._blocks = MarkdownBlocks()
        self._closed_lines: list[Strip] = []  # rendered closed blocks, blank lines between
        self._rendered_blocks = 0
        self._tail_lines: list[Strip] = []
        self._width = 0
        self._flush_timer: Timer | None = None
        self._pending = False
        self._interval = 1 / self.FPS
        self.following = True  # keep the end in view, until the user scrolls up
        self._styles: RichTheme | None = None  # Markdown colours, built once per theme

    # ------------------------------------------------------------------ content

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def clear(self, output_format: OutputFormat | None = None) -> None:
        if output_format is not None:
            self.output_format = output_format
        self._parts = []
        self.scroll_to(y=0, animate=False, immediate=True)
        self.following = True
        self._reset_rendering()
        self._flush()

    def append(self, text: str) -> None:
        """Adds streamed text; drawing follows at most FPS times a second."""
        if not text:
            return
        self._parts.append(text)
        if self.output_format == "markdown":
            self._blocks.feed(text)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(self._interval, self._timer_flush)
        else:
            self._pending = True

    def set_text(self, text: str, output_format: OutputFormat | None = None) -> None:
        """Replaces everything (a finished execution, or a different format)."""
        if output_format is not None:
            self.output_format = output_format
        self._parts = [text] if text else []
        self._reset_rendering()
        if self.output_format == "markdown":
            self._blocks.feed(text)
        self._flush()

    def finish(self) -> None:
        """The stream ended: draw now, not at the next tick."""
        self._flush()

    def _reset_rendering(self) -> None:
        self._blocks = MarkdownBlocks()
        self._closed_lines = []
        self._rendered_blocks = 0
        self._tail_lines = []

    # ------------------------------------------------------------------ rendering

    def _timer_flush(self) -> None:
        self._flush_timer = None
        started = time.perf_counter()
        self._flush()
        # A costly redraw (a long JSON answer is highlighted whole) gets rarer, so drawing
        # never takes more than about a third of the time and keys stay responsive.
        self._interval = max(1 / self.FPS, 3 * (time.perf_counter() - started))
        if self._pending:  # more arrived since the timer was set: keep ticking
            self._pending = False
            self._flush_timer = self.set_timer(self._interval, self._timer_flush)

    def _flush(self) -> None:
        if self._flush_timer is not None and not self._pending:
            self._flush_timer.stop()
            self._flush_timer = None
        width = self._content_width()
        if width <= 0:
            return  # not laid out yet; on_resize draws
        if width != self._width:
            self._width = width
            self._closed_lines, self._rendered_blocks = [], 0
        if self.output_format == "markdown":
            for block in self._blocks.closed[self._rendered_blocks:]:
                if self._closed_lines:
                    self._closed_lines.append(Strip.blank(0))
                self._closed_lines.extend(self._markdown_strips(block))
            self._rendered_blocks = len(self._blocks.closed)
            tail = self._blocks.tail
            self._tail_lines = []
            if tail.strip():
                if self._closed_lines:
                    self._tail_lines.append(Strip.blank(0))
                self._tail_lines.extend(self._markdown_strips(tail))
        else:
            self._tail_lines = self._strips_for(self._whole())
        self.virtual_size = Size(width, len(self._closed_lines) + len(self._tail_lines))
        self.refresh()
        if self.following:
            # After the layout: on the flush that first overflows, the scrollbar does not
            # exist yet and an immediate scroll would be refused.
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    def _whole(self) -> RenderableType:
        text = self.text
        if self.output_format == "json":
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass  # still arriving, or not JSON after all: highlight it as it is
            return Syntax(text, "json", theme=self._code_theme, word_wrap=True,
                          background_color=self.app.theme_variables.get("background"))
        return Text(text)

    @property
    def _code_theme(self) -> str:
        return "monokai" if self.app.current_theme.dark else "friendly"

    def _markdown_styles(self) -> RichTheme:
        """Headings, inline code and links in the current theme's colours."""
        if self._styles is not None:
            return self._styles
        colours = self.app.theme_variables
        primary, accent = colours.get("primary", "blue"), colours.get("accent", "yellow")
        self._styles = RichTheme({
            "markdown.h1": f"bold underline {primary}", "markdown.h2": f"bold {primary}",
            "markdown.h3": f"bold {accent}", "markdown.h4": f"italic {accent}",
            "markdown.code": f"bold {accent}", "markdown.link": f"underline {primary}",
            "markdown.item.bullet": f"bold {primary}",
        })
        return self._styles

    def _markdown_strips(self, text: str) -> list[Strip]:
        return self._strips_for(_Markdown(text, code_theme=self._code_theme))

    def _strips_for(self, renderable: RenderableType) -> list[Strip]:
        console = self.app.console
        options = console.options.update(width=self._width, height=None, highlight=False)
        with console.use_theme(self._markdown_styles()):
            lines = console.render_lines(renderable, options, pad=False)
        strips = [Strip(line) for line in lines]
        if self.output_format == "markdown":  # blocks are spaced here, not by rich
            while strips and not strips[0].text.strip():
                strips.pop(0)
            while strips and not strips[-1].text.strip():
                strips.pop()
        return strips

    def _content_width(self) -> int:
        return max(0, self.scrollable_content_region.width - 1)  # keep a column for the bar

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value <= self.max_scroll_y:  # the user scrolled up (not a clamp)
            self.following = False
        elif new_value >= self.max_scroll_y - 1:  # back at the end: follow again
            self.following = True

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _: self.refresh_theme(), init=False)

    def on_resize(self) -> None:
        self._flush()

    def refresh_theme(self) -> None:
        """Code colours follow the theme: render everything again."""
        self._styles = None
        self._width = 0
        self._flush()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        closed = len(self._closed_lines)
        if index < closed:
            strip = self._closed_lines[index]
        elif index - closed < len(self._tail_lines):
            strip = self._tail_lines[index - closed]
        else:
            return Strip.blank(width, style)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
