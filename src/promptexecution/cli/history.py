"""`pe history [FILTER…]`: the console's History in a terminal or a script. The filter is the
History screen's (`status:failed template:blog_post since:7d "refund"`, or `@name` for one
saved in the config); a terminal gets a table of the newest matches, `--jsonl`, `--json` and
`--csv` get whole executions streamed from the export endpoint, in constant memory."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from .connect import ConnectError, api_error_line, connected

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..client import SyncPromptExecutionClient
    from ..models import ExecutionSummary, Pagination

FORMATS = ("jsonl", "json", "csv")
RIGHT = ("tokens", "cost", "latency")
HIDE_BELOW = {"model": 110, "tokens": 95}  # terminal widths, as in the console's table
STATUS_COLOURS = {"completed": "green", "failed": "red", "cancelled": "yellow",
                  "processing": "cyan"}


def add_parser(sub: Any) -> None:
    history = sub.add_parser(
        "history", help="list past executions with the History screen's filter",
        description="List past executions, newest first. FILTER is the History screen's "
                    "syntax, e.g. status:failed template:blog_post since:7d \"refund\"; "
                    "@NAME uses a filter saved in the config.")
    history.add_argument("filter", nargs="*", metavar="FILTER",
                         help="filter terms (quote phrases for the shell: '\"two words\"')")
    history.add_argument("-n", type=int, metavar="N",
                         help="how many, newest first (0: every match; default 20 in the "
                              "table, every match with --jsonl, --json or --csv)")
    shape = history.add_mutually_exclusive_group()
    for name in FORMATS:
        shape.add_argument(f"--{name}", dest="format", action="store_const", const=name,
                           help=f"whole executions as {name.upper()} (for scripts)")


def run(args: argparse.Namespace) -> int:
    from ..console.config import ConfigError
    from ..exceptions import APIError
    from ..history_filter import FilterError, parse

    if args.n is not None and args.n < 0:
        print("pe history: -n must be 0 (every match) or more", file=sys.stderr)
        return 2
    text = " ".join(args.filter)
    try:
        text = _expand(text)
        params = parse(text).params(datetime.now(UTC))
    except FilterError as error:
        print(f"pe history: {error.message}\n  {text}\n  "
              f"{' ' * error.start}{'^' * max(error.end - error.start, 1)}", file=sys.stderr)
        return 2
    except (LookupError, ConfigError) as error:
        print(f"pe history: {error.args[0]}", file=sys.stderr)
        return 2
    try:
        with connected(args.profile) as client:
            if args.format:
                _stream(client, args.format, args.n or None, params, sys.stdout.buffer)
            else:
                _table(client, 20 if args.n is None else args.n, params, text)
        return 0
    except ConnectError as exc:
        print(f"pe history: {exc}", file=sys.stderr)
    except APIError as exc:
        print(f"pe history: {api_error_line(exc)}", file=sys.stderr)
    except BrokenPipeError:  # `pe history --jsonl | head`: the reader has all it wants
        sys.stderr.close()
        return 0
    return 1


def _expand(text: str) -> str:
    """`@name` terms become the saved filter's text (from [history.filters] in the config);
    an `@` inside a quoted phrase is text."""
    if "@" not in text:
        return text
    from ..console.config import load

    saved = load().history_filters
    words = []
    quoted = False
    for word in text.split(" "):
        if not quoted and word.startswith("@") and len(word) > 1:
            if word[1:] not in saved:
                known = ", ".join(f"@{name}" for name in sorted(saved)) or "none saved yet"
                raise LookupError(f"no saved filter {word} ({known})")
            words.append(saved[word[1:]])
        else:
            words.append(word)
        quoted ^= word.count('"') % 2 == 1
    return " ".join(words)


def _stream(client: SyncPromptExecutionClient, format: str, limit: int | None,
            params: dict[str, Any], out: BinaryIO) -> None:
    """Export's bytes as they come; `--json` wraps its lines in one array, still streamed."""
    chunks = client.executions.export(format="csv" if format == "csv" else "jsonl",
                                      limit=limit, **params)
    if format != "json":
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return
    first, rest = True, b""
    out.write(b"[")
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line:
                out.write(b"\n" if first else b",\n")
                out.write(line)
                first = False
    if rest.strip():
        out.write(b"\n" if first else b",\n")
        out.write(rest)
    out.write(b"\n]\n")
    out.flush()


def _table(client: SyncPromptExecutionClient, n: int, params: dict[str, Any],
           text: str) -> None:
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..exceptions import APIError
    from ..history_cells import TITLES, cells
    from ..history_filter import parse

    rows, total, lower_bound = [], 0, False
    for page_row, page in _newest(client, n, params):
        if page is not None:
            total, lower_bound = page.total, page.total_is_lower_bound
        rows.append(page_row)
    console = Console(soft_wrap=False)
    if not rows:
        described = parse(text).describe() if text else ""
        print(f"No execution matches {described}." if text else "No executions yet.")
        return
    names: dict[str, str] = {}
    for template_id in {r.template_id for r in rows if r.template_id}:
        try:
            names[template_id] = client.templates.get(template_id).name
        except APIError:
            names[template_id] = template_id  # deleted: its id is all there is
    now = datetime.now(UTC)
    shown = [cells(row, names, now) for row in rows]
    # Widths worked out here: Rich crops an overlong no-wrap cell instead of ending it in "…".
    hidden = {title for title, below in HIDE_BELOW.items() if console.width < below}
    titles = [title for title in TITLES if title not in hidden]
    widths = {title: max(len(title), *(cell_len(cell[TITLES.index(title)]) for cell in shown))
              for title in titles}
    widths["template@version"] = min(widths["template@version"], 30)
    rest = console.width - sum(w for t, w in widths.items() if t != "output") - len(titles)
    widths["output"] = min(widths["output"], max(rest, 10))
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold", show_edge=False)
    for title in titles:
        table.add_column(title, justify="right" if title in RIGHT else "left", no_wrap=True,
                         width=widths[title])
    for row, texts in zip(rows, shown, strict=True):
        line = []
        for title, cell in zip(TITLES, texts, strict=True):
            if title in hidden:
                continue
            fitted = Text(cell)
            fitted.truncate(widths[title], overflow="ellipsis")
            if title == "status" or (title == "output" and row.status == "failed"):
                fitted.stylize(STATUS_COLOURS.get(row.status, ""))
            line.append(fitted)
        table.add_row(*line)
    console.print(table)
    more = f"{total:,}{'+' if lower_bound else ''}"
    hint = "; -n N shows more, -n 0 all" if len(rows) < total else ""
    console.print(Text(f"{len(rows):,} of {more} executions, newest first{hint}", style="dim"))


def _newest(client: SyncPromptExecutionClient, n: int,
            params: dict[str, Any]) -> Iterator[tuple[ExecutionSummary, Pagination | None]]:
    """(summary, pagination of its page or None): the newest n (every one when n is 0),
    by keyset pages."""
    cursor, left = None, n or None
    while left is None or left > 0:
        size = 100 if left is None else min(left, 100)
        page = client.executions.list(limit=size, before=cursor, **params)
        for index, item in enumerate(page.executions):
            yield item, page.pagination if index == 0 and cursor is None else None
        if left is not None:
            left -= len(page.executions)
        cursor = page.pagination.next_cursor
        if len(page.executions) < size or cursor is None:
            return
