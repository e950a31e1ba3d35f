"""Plain substitution, done without Jinja: the spec's single-brace `{name}` placeholders, and
templates that only substitute names (`Hi {{ name }}!`), read and filled exactly as Jinja
would. Both the server (its in-process fast path) and the render workers use these."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .limits import MAX_OUTPUT_CHARS, too_large

_SINGLE_BRACE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_PLAIN_NAME = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Where Jinja would see more than text (a block, a comment or a richer expression).
_JINJA_OPENERS = ("{{", "{%", "{#")
# Names Jinja reads as literals, operators or its own objects (`self` is the template), not
# as the caller's variables.
_JINJA_WORDS = frozenset(
    "true false none True False None and or not in is if else for recursive self".split()
)
_NEWLINES = re.compile(r"\r\n|\r")

Parts = tuple[tuple[bool, str], ...]


def with_single_braces(source: str, provided: Iterable[str]) -> str:
    """The spec writes `{content}`: fill it like `{{content}}` when `content` was provided."""
    names = set(provided)
    if "{" not in source or not names:
        return source
    return _SINGLE_BRACE.sub(
        lambda m: "{{ " + m.group(1) + " }}" if m.group(1) in names else m.group(0), source
    )


def plain_parts(source: str) -> Parts | None:
    """`Hi {{ name }}!` as (is_name, text) parts, exactly as Jinja would read it (text with
    its newlines normalised, as Jinja's lexer does), or None when Jinja would see more."""
    pieces = _PLAIN_NAME.split(source)
    parts: list[tuple[bool, str]] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            # `{{{ x }}`: Jinja opens at the first `{{`, which is not this one.
            if piece in _JINJA_WORDS or pieces[index - 1].endswith("{"):
                return None
            parts.append((True, piece))
        elif piece:
            if any(opener in piece for opener in _JINJA_OPENERS):
                return None
            parts.append((False, _NEWLINES.sub("\n", piece)))
    return tuple(parts)


def fill(parts: Parts, variables: dict[str, Any]) -> str:
    """Joins the parts with the variables' text, stopping as soon as the output would pass
    the size limit (so `{{a}}` repeated never builds the oversized string first)."""
    shown: dict[str, str] = {}
    out: list[str] = []
    size = 0
    for is_name, text in parts:
        if is_name:
            piece = shown.get(text)
            if piece is None:
                piece = shown[text] = str(variables[text])
        else:
            piece = text
        size += len(piece)
        if size > MAX_OUTPUT_CHARS:
            raise too_large()
        out.append(piece)
    return "".join(out)
