"""Export everything the filter matches (not just the page) to JSONL or CSV: a dialog for the
format and the file, then the server's streaming export written as it comes, with the rows
written so far shown on the History screen and Escape to stop (the partial file goes).

The file is written beside its final name (`.part`) and renamed when complete, so a file
with the chosen name is always a whole export."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from ....exceptions import APIError
from ...errors import describe_error
from ...files import create_private, export_problem
from ..save_template import DialogBody

if TYPE_CHECKING:
    from .screen import HistoryScreen

SHOW_EVERY = 0.1  # seconds between progress updates on screen


def default_path(fmt: str, now: datetime) -> str:
    return str(Path.cwd() / f"pe-history-{now.strftime('%Y%m%d-%H%M%S')}.{fmt}")


class RowCounter:
    """Rows in a stream of JSONL or CSV bytes, across chunk boundaries: a line per row, except
    newlines inside a CSV field's quotes (a prompt over several lines is one row)."""

    def __init__(self, fmt: str) -> None:
        self.csv, self.rows, self._quoted, self._header = fmt == "csv", 0, False, fmt == "csv"

    def add(self, chunk: bytes) -> None:
        if not self.csv:
            self.rows += chunk.count(b"\n")
            return
        quoted = self._quoted
        for piece in chunk.split(b'"'):  # every quote toggles; "" inside a field toggles twice
            if not quoted:
                ends = piece.count(b"\n")
                if ends and self._header:
                    ends, self._header = ends - 1, False
                self.rows += ends
            quoted = not quoted
        self._quoted = not quoted  # the split made one toggle too many


class ExportScreen(ModalScreen[tuple[str, str] | None]):
    """Which format and which file; Escape exports nothing."""

    AUTO_FOCUS = "#export-path"
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, what: str, total: int, lower_bound: bool) -> None:
        super().__init__()
        self.what, self.total, self.lower_bound = what, total, lower_bound

    def compose(self) -> ComposeResult:
        count = f"{self.total:,}{'+' if self.lower_bound else ''}"
        with DialogBody(classes="dialog"):
            yield Label("Export history", classes="dialog-title")
            which = ("Every execution" if self.what == "no filter"
                     else f"Every execution matching {self.what}")
            yield Static(escape(f"{which}: {count}, newest first, whole (prompt, output, "
                                "variables, settings)."))
            with RadioSet(id="export-format"):
                yield RadioButton("JSON lines (one execution per line)", value=True,
                                  id="format-jsonl")
                yield RadioButton("CSV (one row per execution)", id="format-csv")
            yield Input(default_path("jsonl", datetime.now(UTC)), id="export-path")
            yield Static("", id="export-problem", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-go")
                yield Button("Cancel", id="export-cancel")

    @property
    def format(self) -> str:
        return "csv" if self.query_one("#format-csv", RadioButton).value else "jsonl"

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self) -> None:
        path = self.query_one("#export-path", Input)
        stem, dot, ext = path.value.rpartition(".")
        if dot and ext in ("jsonl", "csv"):
            path.value = f"{stem}.{self.format}"

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-go")
    def _go(self) -> None:
        path, problem = export_problem(self.query_one("#export-path", Input).value.strip())
        box = self.query_one("#export-problem", Static)
        box.update(Text(problem))
        box.display = bool(problem)
        if not problem and path is not None:
            self.dismiss((self.format, str(path)))

    @on(Button.Pressed, "#export-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


async def run_export(screen: HistoryScreen, fmt: str, target: str) -> None:
    """Streams the export into `target`, showing progress on `screen`; stopped by
    cancelling its worker (Escape on the History screen)."""
    client = screen.pe.client_or_none()
    if client is None:
        screen.notify(f"Not exported: {screen.pe.not_connected()}", severity="error")
        return
    path = Path(target)
    part = path.with_name(path.name + ".part")
    counter = RowCounter(fmt)
    total = 0 if screen.rows.lower_bound else screen.rows.total  # 10,000+ is not a 100%
    shown_at = 0.0
    done = stopped = created = False
    try:
        # Writes go to a thread: a full or slow disk must not stall the screen.
        out = await asyncio.to_thread(create_private, part)
        created = True
        stream = client.executions.export(format=fmt, **screen.rows.filters)
        try:
            async for chunk in stream:
                await asyncio.to_thread(out.write, chunk)
                counter.add(chunk)
                now = time.monotonic()
                if now - shown_at >= SHOW_EVERY:
                    shown_at = now
                    _progress(screen, counter.rows, total)
        finally:
            await stream.aclose()  # stopped or failed: the connection goes back at once
            await asyncio.to_thread(out.close)
        await asyncio.to_thread(part.rename, path)
        done = True
        screen.notify(f"Exported {counter.rows:,} executions to {path}.")
    except asyncio.CancelledError:
        stopped = True
        raise
    except APIError as exc:
        screen.notify(f"Export failed: {describe_error(exc)}", severity="error", timeout=10)
    except OSError as exc:
        screen.notify(f"Export failed writing {part}: {exc}", severity="error", timeout=10)
    finally:
        if not done and created:  # a .part that was there before is not ours to remove
            with contextlib.suppress(OSError):
                part.unlink()
            if stopped:
                screen.notify(f"Export stopped after {counter.rows:,} rows; the partial file "
                              "was removed.", severity="warning")
        screen.exporting = None
        screen.show_count()


def _progress(screen: HistoryScreen, rows: int, total: int) -> None:
    share = f" of {total:,} ({rows / total:.0%})" if total else ""
    stop = screen.pe.hint_key("history.back")
    screen.exporting = f"exporting {rows:,}{share} · {stop} stops"
    screen.show_count()
