"""How an execution reads in one row: the cells the console's History table and `pe history`
both show. Stdlib only, so the CLI does not load the console to print a table."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import ExecutionSummary

TITLES = ("time", "status", "template@version", "model", "tokens", "cost", "latency", "output")
# Control characters a stored prompt or output may hold: drawn as they are, ESC sequences
# would reach the terminal (clear the screen, set the clipboard by OSC 52).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f]")
_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")  # **bold**, not 2**10
_MARKDOWN_LEAD = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+|`{3}\w*\s+)+")


def readable(text: str) -> str:
    """Text from the server for a multi-line view: lines and tabs kept, other control
    characters shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", text) if _CONTROL.search(text) else text


def one_line(text: str) -> str:
    """Text for one table cell: every control character (a newline too) as a space."""
    return _LINE_BREAKING.sub(" ", text) if _LINE_BREAKING.search(text) else text


def when(stamp: str, now: datetime) -> str:
    """`created_at` in 12 cells of local time: the time today, else the day and time."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return stamp[:12]
    if moment.date() == now.astimezone().date():
        return moment.strftime("%H:%M:%S")
    if moment.year == now.year:
        return moment.strftime("%b %d %H:%M")
    return moment.strftime("%Y-%m-%d")


def output_line(preview: str) -> str:
    """A preview as a table cell: without the Markdown that starts it (`## `, `> `, `- `, a
    fence) or marks it bold (`**`), which cost cells and say nothing in one line."""
    line = _STRONG.sub(r"\1", _MARKDOWN_LEAD.sub("", preview))
    return line or preview


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"


def cost(value: float | None) -> str:
    return "–" if value is None else f"${value:.5f}" if value < 1 else f"${value:,.2f}"


def source(template_id: str | None, version: str | None, names: dict[str, str]) -> str:
    """`name@version`, the id while the name is unknown, or `(raw prompt)`."""
    if not template_id:
        return "(raw prompt)"
    name = names.get(template_id, template_id)
    return f"{name}@{version}" if version else name


def cells(row: ExecutionSummary, names: dict[str, str], now: datetime) -> list[str]:
    """The row's cells in TITLES order; a failure's output cell is its error code."""
    output = (row.error_code or "failed") if row.status == "failed" else output_line(
        row.output_preview or "")
    return [when(row.created_at, now), row.status,
            one_line(source(row.template_id, row.template_version, names)),
            one_line(row.model or "–"), f"{row.tokens_used:,}", cost(row.cost),
            seconds(row.execution_time), one_line(output)]
