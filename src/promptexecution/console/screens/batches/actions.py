"""What the Batches screens do to a batch: cancel it, run its failed items again, export its
results. Each asks first where it spends money or stops work, says what it did, and shows
the batch's new state as soon as the server confirms it (cancel shows `cancelling` from the
moment it is asked)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
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

from ....batch import ResultWriter
from ....exceptions import APIError
from ....history_cells import cost as money
from ...errors import describe_error
from ...files import create_private, export_problem
from ..save_template import DialogBody
from ..templates.dialogs import ConfirmScreen
from .look import cost_per_completed

if TYPE_CHECKING:
    from ...app import PeApp
    from ..base import ModeScreen
    from .book import BatchState

PAGE_BYTES = 1 << 20  # written to the file a MiB at a time, in a thread


class BatchActions:
    """`c`, `r` and `x` of a screen that acts on one batch: the list (its highlighted one)
    and a batch's own screen. The screen says which batch (`acted_on`), None after telling
    the user why there is none."""

    def acted_on(self) -> BatchState | None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        state = self.acted_on()
        if state is not None:
            cancel(self, state)  # type: ignore[arg-type]

    def action_retry(self) -> None:
        state = self.acted_on()
        if state is not None:
            retry(self, state)  # type: ignore[arg-type]

    def action_export(self) -> None:
        state = self.acted_on()
        if state is not None:
            export(self, state)  # type: ignore[arg-type]


def cancel(screen: ModeScreen, state: BatchState) -> None:
    if state.finished:
        screen.notify(f"{state.batch_id} has already {state.status}.", severity="warning")
        return
    counts = state.counts
    body = (f"{counts.pending:,} items not yet run will not run. The "
            f"{counts.completed + counts.failed:,} that have finished keep their results, "
            "and items running now finish.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.pe.batch_book.ask_cancel(state.batch_id)
            # The app's worker: closing the screen must not drop a cancel once it is asked.
            screen.app.run_worker(_cancel(screen.pe, state.batch_id), group="batch-action",
                                  exit_on_error=False, name="cancelling")

    screen.app.push_screen(ConfirmScreen(f"Cancel batch {state.batch_id}?", body,
                                         "Cancel batch"), answered)


async def _cancel(app: PeApp, batch_id: str) -> None:
    book = app.batch_book
    client = app.client_or_none()
    try:
        if client is None:
            raise APIError(app.not_connected())
        book.put_summary(await client.batches.cancel(batch_id))
    except APIError as exc:
        book.ask_cancel(batch_id, False)
        app.notify(f"Not cancelled: {describe_error(exc)}", severity="error", timeout=10)


def retry_plan(state: BatchState) -> tuple[int, str, float | None]:
    """(items a retry runs again, which by code, estimated cost or None when unknown)."""
    groups = state.progress.errors_by_code if state.progress is not None else []
    eligible = sum(g.retry_eligible for g in groups)
    which = ", ".join(f"{g.error_code} {g.retry_eligible:,}" for g in groups if g.retry_eligible)
    each = cost_per_completed(state)
    return eligible, which, (each * eligible if each is not None else None)


def retry(screen: ModeScreen, state: BatchState) -> None:
    if state.status in ("cancelling", "cancelled"):
        screen.notify(f"{state.batch_id} was cancelled; its failed items cannot run again.",
                      severity="warning")
        return
    if state.progress is None:
        screen.notify("Reading this batch's failures; press it again in a moment.",
                      severity="warning")
        return
    eligible, which, estimate = retry_plan(state)
    if not eligible:
        failed = state.counts.failed
        screen.notify(("No failed item." if not failed else
                       f"None of the {failed:,} failed items is retry-eligible: they failed "
                       "in a way that would fail again (content policy, invalid input)."),
                      severity="warning")
        return
    price = (f"about {money(estimate)}, at what each completed item cost so far"
             if estimate is not None else "unknown (nothing has been spent on it yet)")
    body = (f"{eligible:,} failed items run again: {which}.\nEstimated cost: {price}.\n"
            "Each keeps its earlier failure in its attempt history.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.app.run_worker(_retry(screen.pe, state.batch_id), group="batch-action",
                                  exit_on_error=False, name="retrying")

    screen.app.push_screen(ConfirmScreen(f"Retry the failed items of {state.batch_id}?",
                                         body, f"Retry {eligible:,} items"), answered)


async def _retry(app: PeApp, batch_id: str) -> None:
    client = app.client_or_none()
    try:
        if client is None:
            raise APIError(app.not_connected())
        updated = await client.batches.retry(batch_id)
    except APIError as exc:
        app.notify(f"Not retried: {describe_error(exc)}", severity="error", timeout=10)
        return
    app.batch_book.put_summary(updated)
    retried = int((updated.model_extra or {}).get("retried_items") or 0)
    app.notify(f"{batch_id}: {retried:,} items run again." if retried else
                  f"{batch_id}: nothing to run again (no retry-eligible failure is left).")


def default_path(batch_id: str, fmt: str) -> str:
    return str(Path.cwd() / f"pe-{batch_id}.{fmt}")


class ExportResultsScreen(ModalScreen[tuple[str, str, str] | None]):
    """Which items, which format, which file; Escape exports nothing."""

    AUTO_FOCUS = "#export-path"
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, state: BatchState) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        counts = self.state.counts
        with DialogBody(classes="dialog"):
            yield Label(escape(f"Export the results of {self.state.batch_id}"),
                        classes="dialog-title")
            yield Static(escape(f"{counts.total:,} items in input order: output or error, "
                                "attempts, cost, tokens."))
            with RadioSet(id="export-status"):
                yield RadioButton("every item", value=True, name="")
                yield RadioButton(f"completed ({counts.completed:,})", name="completed")
                yield RadioButton(f"failed ({counts.failed:,})", name="failed")
            with RadioSet(id="export-format"):
                yield RadioButton("JSON lines (each item whole)", value=True, name="jsonl")
                yield RadioButton("CSV (one row per item)", name="csv")
            yield Input(default_path(self.state.batch_id, "jsonl"), id="export-path")
            yield Static("", id="export-problem", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-go")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-problem").display = False

    def _choice(self, radio_set: str) -> str:
        pressed = self.query_one(f"#{radio_set}", RadioSet).pressed_button
        return (pressed.name or "") if pressed is not None else ""

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self) -> None:
        fmt = self._choice("export-format")
        field = self.query_one("#export-path", Input)
        stem, dot, suffix = field.value.rpartition(".")
        if dot and suffix in ("jsonl", "csv"):
            field.value = f"{stem}.{fmt}"

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted, "#export-path")
    def _go(self) -> None:
        path, problem = export_problem(self.query_one("#export-path", Input).value.strip())
        box = self.query_one("#export-problem", Static)
        box.update(Text(problem))
        box.display = bool(problem)
        if path is not None:
            self.dismiss((str(path), self._choice("export-format"),
                          self._choice("export-status")))

    @on(Button.Pressed, "#export-cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)


def export(screen: ModeScreen, state: BatchState) -> None:
    def chosen(answer: tuple[str, str, str] | None) -> None:
        if answer is not None:
            screen.app.run_worker(write_export(screen.pe, state.batch_id, *answer),
                                  group="batch-export", exit_on_error=False, name="exporting")

    screen.app.push_screen(ExportResultsScreen(state), chosen)


async def write_export(app: PeApp, batch_id: str, path: str, fmt: str, status: str) -> None:
    """The results a page at a time into `path`.part (the owner's only), written in a thread
    and renamed when whole: a file with the chosen name is always a complete export."""
    client = app.client_or_none()
    if client is None:
        app.notify(f"Not exported: {app.not_connected()}", severity="warning")
        return
    target = Path(path)
    part = target.with_name(target.name + ".part")
    started = time.monotonic()
    done = created = False
    count = 0
    try:
        out = await asyncio.to_thread(create_private, part)
        created = True
        try:
            page = io.StringIO(newline="")
            writer = ResultWriter(page, fmt)
            async for item in client.batches.iterate_results(batch_id, status=status or None):
                writer.write(item)
                if page.tell() >= PAGE_BYTES:
                    await asyncio.to_thread(out.write, page.getvalue().encode())
                    page.seek(0)
                    page.truncate()
            await asyncio.to_thread(out.write, page.getvalue().encode())
            count = writer.count
        finally:
            await asyncio.to_thread(out.close)
        await asyncio.to_thread(os.replace, part, target)
        done = True
    except APIError as exc:
        app.notify(f"Export of {batch_id} failed: {describe_error(exc)}", severity="error",
                   timeout=10)
    except OSError as exc:
        app.notify(f"Export of {batch_id} failed writing {part}: {exc}", severity="error",
                   timeout=10)
    finally:
        if not done and created:  # a .part that was there before is not ours to remove
            with contextlib.suppress(OSError):
                part.unlink()
    if done:
        app.notify(f"Exported {count:,} items of {batch_id} to {target} "
                   f"({time.monotonic() - started:.1f}s).")
