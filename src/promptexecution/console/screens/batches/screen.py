"""The Batches screen (F5): every batch of the account, live, newest first, with the
highlighted one's panel beside the list (below it on a narrow terminal). Single keys act on
the highlighted batch, as k9s has them: Enter opens it (its errors and items), n submits a
new one from a file, c cancels, r retries the failed items, x exports the results, and /
filters by status or words of the id or template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from ....exceptions import APIError
from ...widgets.virtual_table import Cell, VirtualTable
from ..base import ModeScreen
from . import look
from .actions import BatchActions
from .book import STATUSES, BatchState
from .live import LiveScreen
from .panel import BatchPanel

if TYPE_CHECKING:
    from ....models import BatchThroughput

THROUGHPUT_EVERY = 5.0  # seconds between readings of the shown batch's sparkline
SIDE_BY_SIDE_MIN = 150  # columns for the list and the panel side by side
FILTER_WORDS = (*STATUSES, "running")


def still_reading(screen: ModeScreen, group: str) -> bool:
    """A worker of `group` still runs: one more would only queue behind it."""
    return any(w.group == group and not w.is_finished for w in screen.workers)


class BatchRowSource:
    """The filtered batches as rows of the virtual table."""

    def __init__(self, screen: BatchesScreen) -> None:
        self.screen = screen
        self.shown: list[BatchState] = []

    def row_count(self) -> int:
        return len(self.shown)

    def row(self, index: int) -> Sequence[Cell] | None:
        if index >= len(self.shown):
            return None
        state = self.shown[index]
        return look.row_cells(state, self.screen.pe.batch_book.template_name(state),
                              self.screen.app.theme_variables, self.screen.pe.now())

    def wanted(self, first: int, last: int) -> None:
        return None  # every batch is in the book already


def matches(state: BatchState, template: str | None, words: list[str]) -> bool:
    """Every word: a status (or `running`), else part of the id or the template (its name
    as the list shows it, or its id)."""
    for word in words:
        if word in FILTER_WORDS:
            if word == "running" and state.finished:
                return False
            if word != "running" and state.status != word:
                return False
        elif not any(word in text.lower() for text in (
                state.batch_id, template or "", state.summary.template_id or "")):
            return False
    return True


class BatchesScreen(BatchActions, LiveScreen):
    AUTO_FOCUS = "#batches-table"
    BINDINGS = [
        Binding("enter", "open", "Open", id="batches.open"),
        Binding("n", "submit", "New batch", id="batches.submit"),
        Binding("c", "cancel", "Cancel", id="batches.cancel"),
        Binding("r", "retry", "Retry failed", id="batches.retry"),
        Binding("x", "export", "Export", id="batches.export"),
        Binding("slash", "focus_filter", "Filter", id="batches.filter"),
        Binding("ctrl+l", "reload", "Reload", id="batches.reload", priority=True),
        Binding("escape", "back", "Back", id="batches.back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="batches")
        self.source = BatchRowSource(self)
        self.words: list[str] = []
        # Each batch's sparkline, and whether it was read after the batch finished (then it
        # will not change and is not read again).
        self.throughput: dict[str, tuple[BatchThroughput, bool]] = {}
        self._asked_progress: set[tuple[str, str]] = set()
        self._asked_names: set[str] = set()

    def compose_body(self) -> ComposeResult:
        with Vertical(id="batches-main"):
            with Horizontal(id="batches-bar"):
                yield Input(placeholder=(
                    f"{self.pe.hint_key('batches.filter')} filter: running, failed, "
                    "completed, cancelled… or words of the id or template"),
                    id="batches-filter", compact=True)
                yield Static("", id="batches-count")
            with Horizontal(id="batches-body"):
                yield VirtualTable(look.COLUMNS, self.source, id="batches-table")
                yield BatchPanel(id="batches-panel")

    def on_mount(self) -> None:
        self.set_interval(THROUGHPUT_EVERY, self._read_throughput)
        self.start_live()

    def on_resize(self) -> None:
        wide = self.size.width >= SIDE_BY_SIDE_MIN
        self.query_one("#batches-body").styles.layout = "horizontal" if wide else "vertical"
        self.set_class(not wide, "-narrow")

    # ------------------------------------------------------------------ live

    def draw(self) -> None:
        table = self.query_one(VirtualTable)
        current = self.current
        book = self.pe.batch_book
        self.source.shown = [s for s in book.ordered()
                             if matches(s, book.template_name(s), self.words)]
        if current is not None:  # the cursor stays on its batch when others arrive above
            at = next((i for i, s in enumerate(self.source.shown)
                       if s.batch_id == current.batch_id), None)
            if at is not None and at != table.cursor:
                table.move_to(at)
        table.empty_text = self._empty_text()
        table.refresh_rows()
        self._show_count()
        self._show_panel()
        self._learn_names()

    def _learn_names(self) -> None:
        """Template names for the ids the list shows, each asked once."""
        book = self.pe.batch_book
        wanted = {s.summary.template_id for s in self.source.shown if s.summary.template_id}
        wanted -= set(book.names) | self._asked_names
        if wanted and self.pe.client_or_none() is not None:
            self._asked_names |= wanted
            self.run_worker(self._names_of(sorted(wanted)), group="batches-names",
                            exit_on_error=False, name="naming templates")

    async def _names_of(self, template_ids: list[str]) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        book = self.pe.batch_book
        for template_id in template_ids:
            try:
                book.names[template_id] = (await client.templates.get(template_id)).name
            except APIError:
                book.names[template_id] = template_id  # gone: its id is all there is
        self._dirty = True

    def _empty_text(self) -> str:
        if not self.pe.batch_book.loaded:
            return "loading…" if self.pe.client_or_none() else self.pe.not_connected()
        if self.words:
            return f"No batch matches {' '.join(self.words)}."
        return (f"No batches yet: {self.pe.hint_key('batches.submit')} sends one from a "
                "JSONL or CSV file (or pe batch submit FILE --template T).")

    def _show_count(self) -> None:
        book = self.pe.batch_book
        states = list(book.states.values())
        running = sum(not s.finished for s in states)
        text = Text()
        text.append(f"{len(states):,}", style="bold")
        text.append(" batch" if len(states) == 1 else " batches", style="dim")
        if running:
            text.append(f" · {running:,} running", style="bold")
        if self.words:
            text.append(f" · {len(self.source.shown):,} shown", style="dim")
        self.query_one("#batches-count", Static).update(text)

    @property
    def current(self) -> BatchState | None:
        table = self.query_one(VirtualTable)
        shown = self.source.shown
        return shown[table.cursor] if 0 <= table.cursor < len(shown) else None

    def _show_panel(self) -> None:
        state = self.current
        panel = self.query_one(BatchPanel)
        if state is None:
            panel.show(None, None, None, 0, self.pe.now())
            return
        asked = (state.batch_id, state.status)  # a batch that finished is read again
        if state.progress is None and asked not in self._asked_progress:
            self._asked_progress.add(asked)
            self._read_progress(state.batch_id)
        seen = self.throughput.get(state.batch_id)
        if seen is None:
            self._read_throughput()
        panel.show(state, self.pe.batch_book.template_name(state), seen[0] if seen else None,
                   self.pe.clock() - state.updated, self.pe.now())

    @on(VirtualTable.CursorMoved, "#batches-table")
    def _moved(self) -> None:
        self._show_panel()

    @work(group="batches-progress", exit_on_error=False, name="reading a batch")
    async def _read_progress(self, batch_id: str) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            self.pe.batch_book.put_progress(await client.batches.progress(batch_id))
        except APIError:
            self._asked_progress = {a for a in self._asked_progress if a[0] != batch_id}

    def _read_throughput(self) -> None:
        state = self.current
        if state is None or not self.is_current or self.pe.client_or_none() is None:
            return
        seen = self.throughput.get(state.batch_id)
        final = seen is not None and seen[1] and state.finished  # a retry runs it again
        if final or still_reading(self, "batches-throughput"):
            return
        self.run_worker(self._throughput_of(state.batch_id, state.finished),
                        group="batches-throughput", exit_on_error=False,
                        name="reading throughput")

    async def _throughput_of(self, batch_id: str, final: bool) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            found = await client.batches.throughput(batch_id, 60)
        except APIError:
            return
        self.throughput[batch_id] = (found, final)
        self._dirty = True

    # ------------------------------------------------------------------ filter

    def action_focus_filter(self) -> None:
        self.query_one("#batches-filter", Input).focus()

    @on(Input.Changed, "#batches-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.words = event.value.lower().split()
        self.query_one(VirtualTable).move_to(0)
        self._dirty = True
        self._redraw()

    @on(Input.Submitted, "#batches-filter")
    def _filter_entered(self) -> None:
        self.query_one(VirtualTable).focus()

    def action_back(self) -> None:
        if self.focused is self.query_one("#batches-filter"):
            self.query_one(VirtualTable).focus()

    def action_reload(self) -> None:
        self.pe.restart_batch_watch()

    # ------------------------------------------------------------------ actions

    def acted_on(self) -> BatchState | None:
        state = self.current
        if state is None:
            self.notify("No batch highlighted.", severity="warning")
        return state

    @on(VirtualTable.Chosen, "#batches-table")
    def action_open(self) -> None:
        state = self.acted_on()
        if state is not None:
            from .batch_screen import BatchScreen

            self.app.push_screen(BatchScreen(state.batch_id))

    def action_submit(self) -> None:
        from .submit import SubmitScreen

        self.app.push_screen(SubmitScreen())
