"""One batch, opened from the list: its panel, its failures grouped by code (Enter on a group
shows its items), and a results browser over every item in input order with a status filter.
Enter on an item opens its execution as History shows it, with its earlier attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ....exceptions import APIError
from ....history_cells import one_line
from ...errors import describe_error
from ...widgets.virtual_table import VirtualTable
from ..history import detail
from .actions import BatchActions
from .live import LiveScreen
from .panel import BatchPanel
from .result_rows import COLUMNS, ResultRows
from .screen import still_reading

if TYPE_CHECKING:
    from ....client.types import ExecutionResult
    from ....models import BatchItemResult, BatchThroughput
    from .book import BatchState

ITEMS_EVERY = 2.0  # seconds between readings of the items in view while the batch runs
THROUGHPUT_EVERY = 5.0
NARROW_WIDTH, NARROW_HEIGHT = 110, 36  # below either, the panel packs tighter
STATUS_KEYS = {"": "every item", "completed": "completed", "failed": "failed",
               "pending": "pending", "cancelled": "cancelled"}


class BatchScreen(BatchActions, LiveScreen):
    AUTO_FOCUS = "#batch-results"
    BINDINGS = [
        Binding("escape", "close", "Back", id="batch.back"),
        Binding("a", "only('')", "All", id="batch.all"),
        Binding("d", "only('completed')", "Completed", id="batch.completed"),
        Binding("f", "only('failed')", "Failed", id="batch.failed"),
        Binding("p", "only('pending')", "Pending", id="batch.pending"),
        Binding("e", "focus_errors", "Errors", id="batch.errors"),
        Binding("c", "cancel", "Cancel", id="batch.cancel"),
        Binding("r", "retry", "Retry failed", id="batch.retry"),
        Binding("x", "export", "Export", id="batch.export"),
    ]

    def __init__(self, batch_id: str) -> None:
        super().__init__()
        self.batch_id = batch_id
        self.rows = ResultRows(self._fetch, lambda: self.app.theme_variables,
                               self._rows_changed, self._failed)
        self.status = ""
        self.error_code = ""
        self.throughput: BatchThroughput | None = None
        self._throughput_final = False  # read after the batch finished: it will not change
        self._groups_shown: list[tuple[str, int, int]] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="batch-main"):
            with Horizontal(id="batch-top"):
                yield BatchPanel(errors=False, id="batch-panel")
                with Vertical(id="batch-errors"):
                    yield Label("failures by code (Enter: its items)", classes="section-title")
                    yield OptionList(id="batch-error-list")
            yield Static("", id="batch-results-bar")
            yield VirtualTable(COLUMNS, self.rows, id="batch-results")

    @property
    def state(self) -> BatchState | None:
        return self.pe.batch_book.states.get(self.batch_id)

    def on_mount(self) -> None:
        self.set_interval(ITEMS_EVERY, self._read_items)
        self.set_interval(THROUGHPUT_EVERY, self._read_throughput)
        self.rows.reset()
        self._read_throughput()
        self._read_progress()
        self.start_live()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_WIDTH or self.size.height < NARROW_HEIGHT,
                       "-narrow")

    # ------------------------------------------------------------------ live

    def shows(self, ids: set[str]) -> bool:
        return not ids or self.batch_id in ids

    def draw(self) -> None:
        state = self.state
        name = self.pe.batch_book.template_name(state) if state else None
        self.query_one(BatchPanel).show(state, name, self.throughput,
                                        self.pe.clock() - state.updated if state else 0,
                                        self.pe.now())
        self._show_groups(state)
        self._show_results_bar()

    def _show_groups(self, state: BatchState | None) -> None:
        found = state.progress.errors_by_code if state and state.progress else []
        groups = [(g.error_code, g.count, g.retry_eligible) for g in found]
        if groups == self._groups_shown:
            return
        self._groups_shown = groups
        options = self.query_one("#batch-error-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        if not groups:
            options.add_option(Option(Text("no failures", style="dim"), id="", disabled=True))
            return
        for code, count, eligible in groups:
            options.add_option(Option(Text.assemble(
                (one_line(code), "bold"), f" {count:,}", (f" ({eligible:,} can retry)", "dim")),
                id=code))
        if highlighted is not None:
            options.highlighted = min(highlighted, len(groups) - 1)

    def _show_results_bar(self) -> None:
        text = Text()
        text.append("items: ", style="dim")
        text.append(STATUS_KEYS.get(self.status, self.status), style="bold")
        if self.error_code:
            text.append(f" with {one_line(self.error_code)}", style="bold")
        if self.rows.loaded:
            text.append(f" ({self.rows.total:,})", style="dim")
        keys = self.pe.hint_key
        text.append(f"  ·  {keys('batch.all')} all  {keys('batch.completed')} completed  "
                    f"{keys('batch.failed')} failed  {keys('batch.pending')} pending  "
                    f"{keys('batch.errors')} errors  Enter opens", style="dim")
        self.query_one("#batch-results-bar", Static).update(text)

    def _read_items(self) -> None:
        state = self.state
        if state is not None and not state.finished and self.is_current:
            self.rows.refresh()

    def _read_throughput(self) -> None:
        state = self.state
        if state is None or not self.is_current:
            return
        if (self._throughput_final and state.finished) or \
                still_reading(self, "batch-throughput"):
            return
        self.run_worker(self._throughput_of(state.finished), group="batch-throughput",
                        exit_on_error=False, name="reading throughput")

    async def _throughput_of(self, final: bool) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            self.throughput = await client.batches.throughput(self.batch_id, 60)
        except APIError:
            return
        self._throughput_final = final
        self._dirty = True

    @work(group="batch-progress", exit_on_error=False, name="reading a batch")
    async def _read_progress(self) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            progress = await client.batches.progress(self.batch_id)
        except APIError as exc:
            self.notify(f"{self.batch_id}: {describe_error(exc)}", severity="error")
            return
        book = self.pe.batch_book
        if not book.knows(self.batch_id):
            book.put_summary(await client.batches.get(self.batch_id))
        book.put_progress(progress)

    # ------------------------------------------------------------------ results

    async def _fetch(self, **params: Any) -> Any:
        client = self.pe.client_or_none()
        if client is None:
            raise APIError(self.pe.not_connected())
        return await client.batches.results(self.batch_id, **params)

    def _failed(self, error: APIError) -> None:
        self.notify(f"Items of {self.batch_id}: {describe_error(error)}", severity="error")

    def _rows_changed(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one(VirtualTable)
        table.empty_text = ("loading…" if not self.rows.loaded
                            else f"No {STATUS_KEYS.get(self.status, self.status)} item.")
        table.refresh_rows()
        self._show_results_bar()

    def action_only(self, status: str) -> None:
        self.status, self.error_code = status, ""
        self.rows.reset(status=status)
        self.query_one(VirtualTable).move_to(0)
        self.query_one(VirtualTable).focus()
        self._show_results_bar()

    @on(OptionList.OptionSelected, "#batch-error-list")
    def _group_chosen(self, event: OptionList.OptionSelected) -> None:
        code = event.option.id or ""
        if not code:
            return
        self.status, self.error_code = "failed", code
        self.rows.reset(status="failed", error_code=code)
        self.query_one(VirtualTable).move_to(0)
        self.query_one(VirtualTable).focus()
        self._show_results_bar()

    def action_focus_errors(self) -> None:
        options = self.query_one("#batch-error-list", OptionList)
        options.focus()
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    @on(VirtualTable.Chosen, "#batch-results")
    def _item_chosen(self, event: VirtualTable.Chosen) -> None:
        item = self.rows.item(event.index)
        if item is not None:
            self.app.push_screen(ItemScreen(self.batch_id, item))

    # ------------------------------------------------------------------ actions

    def action_close(self) -> None:
        self.dismiss()

    def acted_on(self) -> BatchState | None:
        state = self.state
        if state is None:
            self.notify("Still reading this batch.", severity="warning")
        return state


def attempts_text(item: BatchItemResult) -> Text:
    """An item's runs, earliest first: what each earlier one said, then the latest."""
    text = Text()
    runs = [*item.earlier_attempts, {"status": item.status,
                                     "error_code": (item.error or {}).get("code"),
                                     "attempts": item.attempts, "retried_at": None}]
    for number, run in enumerate(runs, start=1):
        text.append(f"run {number}: ", style="dim")
        text.append(str(run.get("status") or ""), style="bold")
        if run.get("error_code"):
            text.append(f" {one_line(str(run['error_code']))}")
        if run.get("attempts"):
            text.append(f" after {run['attempts']} attempt(s)", style="dim")
        if run.get("retried_at"):
            text.append(f", retried {run['retried_at']}", style="dim")
        text.append("\n")
    text.rstrip()
    return text


class ItemScreen(ModalScreen[None]):
    """One item: its attempts, then its execution as History's detail shows it."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="dialog.close")]

    def __init__(self, batch_id: str, item: BatchItemResult) -> None:
        super().__init__()
        self.batch_id, self.item = batch_id, item
        self.execution: ExecutionResult | None = None  # once read

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help", id="batch-item"):
            yield Label(escape(one_line(f"{self.item.item_id} of {self.batch_id}")),
                        classes="dialog-title")
            yield Static(attempts_text(self.item), id="batch-item-attempts")
            yield Static(Text("reading its execution…", style="dim"), id="batch-item-body")

    def on_mount(self) -> None:
        self._load()

    @work(exit_on_error=False, name="reading an execution")
    async def _load(self) -> None:
        body = self.query_one("#batch-item-body", Static)
        execution_id = self.item.execution_id
        if not execution_id:
            body.update(Text(f"{self.item.status}: this item has no execution yet.",
                             style="dim"))
            return
        client = self.app.client_or_none()  # type: ignore[attr-defined]
        if client is None:
            body.update(Text(self.app.not_connected()))  # type: ignore[attr-defined]
            return
        try:
            execution = await client.executions.get(execution_id)
        except APIError as exc:
            body.update(Text(f"✗ {execution_id}: {describe_error(exc)}"))
            return
        self.execution = execution
        body.update(detail.whole(execution, None, self.app.theme_variables))
