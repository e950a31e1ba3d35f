"""Jinja highlighting for prompts: `JinjaTextArea` (an editable TextArea) and `jinja_text`
(read-only, as Rich Text), both by pygments' Jinja lexer, in the theme's colours.

Textual's TextArea highlights through tree-sitter grammars, and none ships for Jinja; this
one fills the TextArea's highlight map from pygments' tokens instead, a moment after typing
pauses (a keystroke re-lexes nothing), and leaves prompts over `MAX_HIGHLIGHT` plain.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Keyword, Name, Number, Operator, String
from rich.style import Style
from rich.text import Text
from textual.timer import Timer
from textual.widgets import TextArea
from textual.widgets.text_area import TextAreaTheme

from ..theming import theme_colour

MAX_HIGHLIGHT = 100_000  # characters; beyond this the prompt is shown plain
HIGHLIGHT_AFTER = 0.15  # seconds after typing pauses
_LEXER = get_lexer_by_name("jinja")
# pygments token -> (highlight name, the theme variable that colours it)
_KINDS: list[tuple[Any, str, str]] = [
    (Comment.Preproc, "tag", "accent"),  # {{ }} {% %}
    (Comment, "comment", "text-muted"),
    (Keyword, "keyword", "primary"),
    (Name.Function, "function", "secondary"),
    (Name.Variable, "variable", "warning"),
    (Name, "variable", "warning"),
    (String, "string", "success"),
    (Number, "number", "success"),
    (Operator, "operator", "accent"),
]


def _kind(token: Any) -> str | None:
    for parent, name, _ in _KINDS:
        if token in parent:
            return name
    return None


def _styles(variables: dict[str, str]) -> dict[str, Style]:
    styles = {}
    for _, name, variable in _KINDS:
        colour = theme_colour(variables, variable, "")
        if colour and name not in styles:
            styles[name] = Style.parse(colour) + (Style(bold=True) if name == "tag" else Style())
    return styles


def jinja_text(source: str, variables: dict[str, str]) -> Text:
    """The prompt as Rich Text with Jinja's parts coloured (plain when very long)."""
    text = Text(source)
    if len(source) > MAX_HIGHLIGHT:
        return text
    styles = _styles(variables)
    for start, token, value in _LEXER.get_tokens_unprocessed(source):
        name = _kind(token)
        if name is not None and name in styles:
            text.stylize(styles[name], start, start + len(value))
    return text


class JinjaTextArea(TextArea):
    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(text, soft_wrap=True, show_line_numbers=True, tab_behavior="indent",
                         **kwargs)
        self._highlight_timer: Timer | None = None

    def on_mount(self) -> None:
        theme = TextAreaTheme(name="pe-jinja", syntax_styles=_styles(self.app.theme_variables))
        self.register_theme(theme)
        self.theme = "pe-jinja"
        self._lex()

    def _build_highlight_map(self) -> None:
        """Called by TextArea after each edit: re-lex once typing pauses."""
        self._line_cache.clear()
        if not self.is_mounted:
            return
        if self._highlight_timer is not None:
            self._highlight_timer.stop()
        self._highlight_timer = self.set_timer(HIGHLIGHT_AFTER, self._lex)

    def _lex(self) -> None:
        self._highlight_timer = None
        highlights: defaultdict[int, list[tuple[int, int | None, str]]] = defaultdict(list)
        source = self.text
        if len(source) <= MAX_HIGHLIGHT:
            row, column = 0, 0  # column in UTF-8 bytes, as TextArea's highlights count
            # unprocessed: get_tokens strips leading newlines, which put every highlight of
            # a prompt that starts with blank lines that many rows too high
            for _, token, value in _LEXER.get_tokens_unprocessed(source):
                name = _kind(token)
                for number, piece in enumerate(value.split("\n")):
                    if number:
                        row, column = row + 1, 0
                    size = len(piece.encode("utf-8"))
                    if name is not None and size:
                        highlights[row].append((column, column + size, name))
                    column += size
        self._highlights = highlights
        self._line_cache.clear()
        self.refresh()
