"""The History screen (F4): every execution, newest first, in a virtual table that fetches
only what is in view; a filter bar with GitHub-style syntax, chips and completion; the
highlighted execution's detail beside the list (or full screen), j/k through the filtered
set; run it again in the Playground, copy any part, compare two, export all that match."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import Suggester
from textual.widgets import Button, Input, Static

from ....exceptions import APIError
from ....history_filter import STATUSES, FilterError, HistoryQuery, complete, parse
from ...errors import describe_error
from ...widgets.filter_input import FilterInput
from ...widgets.virtual_table import VirtualTable
from ..base import ModeScreen
from . import detail
from .rows import HistoryRows

if TYPE_CHECKING:
    from ....client import AsyncPromptExecutionClient
    from ....client.types import ExecutionResult
    from ....models import ExecutionList, ExecutionSummary

FILTER_AFTER = 0.15  # seconds typing pauses before the filter applies (then one query)
DETAIL_AFTER = 0.08  # seconds the cursor rests before the detail follows
SIDE_BY_SIDE_MIN = 100  # columns for the list and the detail side by side
LIVE_EVERY = 2.0  # seconds between looks for new executions and for runs that finished
KEEP_DETAILS = 64  # executions fetched whole, kept for j/k and back


class FilterSuggester(Suggester):
    """Completes filter keys, statuses, template names and models inline (→ accepts)."""

    def __init__(self, screen: HistoryScreen) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.screen = screen

    async def get_suggestion(self, value: str) -> str | None:
        found = complete(value, len(value), self.screen.completion_values())
        return found[0] if found else None


class HistoryScreen(ModeScreen):
    AUTO_FOCUS = "#history-table"
    BINDINGS = [
        Binding("enter", "toggle_detail", "Detail", id="history.detail"),
        Binding("slash", "focus_filter", "Filter", id="history.filter"),
        Binding("p", "rerun", "Run again", id="history.rerun"),
        Binding("c", "copy", "Copy…", id="history.copy"),
        Binding("m", "mark", "Mark", id="history.mark"),
        Binding("C", "compare", "Compare", id="history.compare"),
        Binding("x", "export", "Export", id="history.export"),
        Binding("f", "full_detail", "Full screen", id="history.full"),
        Binding("s", "save_filter", "Save filter", id="history.save_filter"),
        Binding("j", "step(1)", "Next", id="history.next", show=False),
        Binding("k", "step(-1)", "Previous", id="history.previous", show=False),
        Binding("ctrl+l", "reload", "Reload", id="history.reload", priority=True),
        Binding("escape", "back", "Back / stop export", id="history.back",
                show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="history")
        self.rows = HistoryRows(self._fetch, self._cells, self._rows_changed, self._failed)
        self.query_text = ""
        self.filtered: HistoryQuery = parse("")
        self.names: dict[str, str] = {}  # template id -> name, as they are learnt
        self.models: list[str] = []
        self.marked: str | None = None  # an execution id, for compare
        self.new_above = 0  # executions that arrived while the view was scrolled away
        self._details: OrderedDict[str, ExecutionResult] = OrderedDict()
        self._detail_timer: asyncio.TimerHandle | None = None
        self._filter_timer: asyncio.TimerHandle | None = None
        self._asking_names: set[str] = set()
        self._connected_to: tuple[str, str | None] | None = None
        self.exporting: Any = None  # the export worker, while one runs

    def compose_body(self) -> ComposeResult:
        with Vertical(id="history-main"):
            yield FilterInput(
                lambda _: self._filter_soon(), id="history-filter", compact=True,
                placeholder=(f"{self.pe.hint_key('history.filter')} filter: status:failed "
                             'template:NAME model:M since:7d cost:>0.01 "words"'),
                suggester=FilterSuggester(self))
            with Horizontal(id="history-bar"):
                yield Horizontal(id="history-chips")
                yield Static("", id="history-count")
            yield Static("", id="history-problem", classes="error")
            with Horizontal(id="history-body"):
                yield VirtualTable(detail.COLUMNS, self.rows, id="history-table")
                with VerticalScroll(id="history-detail", can_focus=False):
                    yield Static("", id="history-detail-body")

    def on_mount(self) -> None:
        self.query_one("#history-detail").display = False
        self.watch(self.app, "status", self._status_changed, init=True)
        self.set_interval(LIVE_EVERY, self._look_for_new)

    # ------------------------------------------------------------------ connection

    def _client(self) -> AsyncPromptExecutionClient | None:
        return self.pe.client_or_none()

    def _status_changed(self, status: Any) -> None:
        where = (status.profile, status.base_url)
        connected = where if status.state == "connected" else None
        if connected != self._connected_to:
            if self._connected_to is not None and connected is not None:
                self.names.clear()
                self._details.clear()
            self._connected_to = connected
            if connected is not None:
                self._apply()
                self._load_models()

    @work(group="history-models", exit_on_error=False, name="loading models")
    async def _load_models(self) -> None:
        client = self._client()
        if client is None:
            return
        try:
            self.models = [m.id for m in (await client.models.list()).models]
        except APIError:
            self.models = []

    async def _fetch(self, **params: Any) -> ExecutionList:
        client = self._client()
        if client is None:
            raise APIError(self.pe.not_connected())
        return await client.executions.list(**params)

    def _failed(self, error: APIError) -> None:
        self._problem(f"✗ History: {describe_error(error)}")

    # ------------------------------------------------------------------ the filter

    def _filter_soon(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.cancel()
        self._filter_timer = asyncio.get_running_loop().call_later(FILTER_AFTER, self._apply)

    @on(Input.Submitted, "#history-filter")
    def _filter_entered(self) -> None:
        self._apply()
        self.query_one("#history-table").focus()

    def action_back(self) -> None:
        """Escape, one step back: from the filter bar to the list; from the detail over the
        list to the list; else, when an export runs, it stops it."""
        if self.focused is self.query_one("#history-filter"):
            self.query_one("#history-table").focus()
        elif self.has_class("-full"):
            self._leave_full()
        elif self.exporting is not None:
            self.workers.cancel_group(self, "history-export")

    def _leave_full(self) -> None:
        self.remove_class("-full")
        pane = self.query_one("#history-detail", VerticalScroll)
        pane.can_focus = False
        if self.size.width < SIDE_BY_SIDE_MIN:
            pane.display = False
        self.query_one("#history-table").focus()

    def _enter_full(self) -> None:
        """The detail over the list: it takes the focus, so the arrows and PageDown scroll
        it (j and k still step through the list)."""
        self.add_class("-full")
        pane = self.query_one("#history-detail", VerticalScroll)
        pane.display = pane.can_focus = True
        pane.focus()

    def key_down(self) -> None:
        if self.focused is self.query_one("#history-filter"):
            self.query_one("#history-table").focus()

    def action_focus_filter(self) -> None:
        self.query_one("#history-filter", Input).focus()

    def _apply(self) -> None:
        """Parses the filter bar; a problem is shown under it, with where it is, and the
        list stays as it was. A good filter reloads the list from its first page."""
        if self._filter_timer is not None:  # Enter before typing paused: apply once, now
            self._filter_timer.cancel()
            self._filter_timer = None
        if not self.is_attached:
            return
        text = self.query_one("#history-filter", Input).value
        try:
            query = parse(text)
            params = query.params(datetime.now(UTC))
        except FilterError as error:
            marker = " " * error.start + "^" * max(error.end - error.start, 1)
            self._problem(f"✗ {error.message}\n  {text}\n  {marker}")
            return
        self._problem("")
        self.query_text, self.filtered = text, query
        self._show_chips()
        if self._client() is None:
            self._problem(f"✗ {self.pe.not_connected()}")
            return
        self.new_above = 0
        self.rows.reset(params)
        self.query_one(VirtualTable).move_to(0)
        self._rows_changed()

    def _problem(self, text: str) -> None:
        box = self.query_one("#history-problem", Static)
        box.update(Text(text))
        box.display = bool(text)

    def _show_chips(self) -> None:
        chips = self.query_one("#history-chips", Horizontal)
        chips.remove_children()
        chips.mount_all([Button(Text(f"{term.text} ✕"), compact=True, classes="chip",
                                name=str(index))
                         for index, term in enumerate(self.filtered.terms)])

    @on(Button.Pressed, ".chip")
    def _chip_removed(self, event: Button.Pressed) -> None:
        index = int(event.button.name or 0)
        remaining = self.filtered.without(index)
        self.query_one("#history-filter", Input).value = remaining.text()
        self._apply()

    def completion_values(self) -> dict[str, list[str]]:
        return {"status": list(STATUSES), "template": sorted(set(self.names.values())),
                "model": self.models}

    # ------------------------------------------------------------------ rows

    def _cells(self, row: ExecutionSummary) -> list[Any]:
        if row.template_id and row.template_id not in self.names:
            self._learn_name(row.template_id)
        return detail.row_cells(row, self.names, self.app.theme_variables, self.pe.now())

    def _learn_name(self, template_id: str) -> None:
        if template_id in self._asking_names:
            return
        self._asking_names.add(template_id)
        self.run_worker(self._ask_name(template_id), group="history-names",
                        exit_on_error=False, name="naming templates")

    async def _ask_name(self, template_id: str) -> None:
        client = self._client()
        if client is None:
            return
        try:
            self.names[template_id] = (await client.templates.get(template_id)).name
        except APIError:
            self.names[template_id] = template_id  # gone: its id is all there is
        self.rows.forget_cells()
        self.query_one(VirtualTable).refresh()

    def _rows_changed(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one(VirtualTable)
        table.empty_text = self._empty_text()
        table.refresh_rows()
        self.show_count()
        # No gc.freeze() (settle_after_load) here: pages come all the time, and each freeze
        # would keep the cyclic garbage of that moment for good (281 MiB over 100,000 rows).
        # History holds about 2,000 rows, which a full collection walks in a moment.
        self._detail_soon()

    def _empty_text(self) -> str:
        if not self.rows.loaded:
            return "loading…"
        if self.filtered.is_empty:
            playground = self.pe.hint_key("mode.playground")
            return f"No executions yet: run something in the Playground ({playground})."
        return f"No execution matches {self.filtered.describe()}."

    def show_count(self) -> None:
        rows = self.rows
        text = Text()
        if rows.loaded:
            text.append(f"{rows.total:,}{'+' if rows.lower_bound else ''}", style="bold")
            text.append(" executions" if rows.total != 1 else " execution", style="dim")
            if rows.lower_bound:
                text.append(" (at least; counting all would cost a scan)", style="dim")
        if self.new_above:
            text.append(f" · ↑ {self.new_above:,} new", style="bold")
        if self.marked:
            text.append(f" · marked {self.marked}", style="dim")
        if self.exporting is not None:
            text.append(f" · {self.exporting}", style="bold")
        self.query_one("#history-count", Static).update(text)

    @on(VirtualTable.CursorMoved, "#history-table")
    def _moved(self, event: VirtualTable.CursorMoved) -> None:
        if event.index == 0 and self.new_above:
            self.new_above = 0
            self.show_count()
        self._detail_soon()

    @on(VirtualTable.Chosen, "#history-table")
    def _chosen(self) -> None:
        self.action_toggle_detail()

    def action_step(self, by: int) -> None:
        self.query_one(VirtualTable).action_move(by)

    def action_reload(self) -> None:
        self._details.clear()
        self._apply()

    @property
    def current(self) -> ExecutionSummary | None:
        return self.rows.execution(self.query_one(VirtualTable).cursor)

    # ------------------------------------------------------------------ live arrivals

    def _look_for_new(self) -> None:
        if self.is_current and self.rows.loaded and self._client() is not None:
            self.run_worker(self._newer(), group="history-live", exclusive=True,
                            exit_on_error=False, name="looking for new executions")

    async def _newer(self) -> None:
        table = self.query_one(VirtualTable)
        at_top = table.top == 0 and table.cursor == 0
        try:
            arrived = await self.rows.newer()
            finished = await self.rows.refresh_running(self._fresh_execution)
        except APIError:
            return  # the heartbeat tells about a server that went away
        if finished:
            table.refresh_rows()
            self._detail_soon()
        if not arrived:
            return
        if at_top:
            table.refresh_rows()  # the top shows the newest: they appear there
            self._detail_soon()  # the cursor's row is now the newest one
        else:
            table.shift(arrived)  # the rows in view stay in view
            self.new_above += arrived
        self.show_count()

    async def _fresh_execution(self, execution_id: str) -> ExecutionResult:
        """One execution as the server has it now (not the detail's copy, which may be of
        a run still going); the copy is replaced once it has finished."""
        self._details.pop(execution_id, None)
        return await self.execution(execution_id)

    # ------------------------------------------------------------------ detail

    def action_toggle_detail(self) -> None:
        """Enter: the detail beside the list, or, on a terminal too narrow for both, over it."""
        pane = self.query_one("#history-detail", VerticalScroll)
        if self.has_class("-full") or pane.display:
            self.remove_class("-full")
            pane.display = pane.can_focus = False
            self.query_one("#history-table").focus()
        elif self.size.width < SIDE_BY_SIDE_MIN:
            self._enter_full()
        else:
            pane.display = True
        self._detail_soon()

    def action_full_detail(self) -> None:
        if self.has_class("-full"):
            self._leave_full()
        else:
            self._enter_full()
        self._detail_soon()

    def _detail_soon(self) -> None:
        if not self.query_one("#history-detail").display:
            return
        if self._detail_timer is not None:
            self._detail_timer.cancel()
        self._detail_timer = asyncio.get_running_loop().call_later(DETAIL_AFTER,
                                                                   self._show_detail)

    def _show_detail(self) -> None:
        self._detail_timer = None
        if not self.is_attached:
            return
        row = self.current
        body = self.query_one("#history-detail-body", Static)
        if row is None:
            body.update(Text(self._empty_text() if self.rows.loaded else "", style="dim"))
            return
        found = self._details.get(row.execution_id)
        if found is None:
            body.update(Text(f"{row.execution_id}\nloading…", style="dim"))
            self._load_detail(row.execution_id)
            return
        self._details.move_to_end(row.execution_id)
        body.update(detail.whole(found, self.names.get(found.template_id or ""),
                                 self.app.theme_variables))

    @work(group="history-detail", exclusive=True, exit_on_error=False, name="opening")
    async def _load_detail(self, execution_id: str) -> None:
        try:
            self._details[execution_id] = await self.execution(execution_id)
        except APIError as exc:
            self.query_one("#history-detail-body", Static).update(
                Text(f"✗ {execution_id}: {describe_error(exc)}"))
            return
        while len(self._details) > KEEP_DETAILS:
            self._details.popitem(last=False)
        current = self.current
        if current is not None and current.execution_id == execution_id:
            self._show_detail()

    async def execution(self, execution_id: str) -> ExecutionResult:
        found = self._details.get(execution_id)
        if found is not None:
            return found
        client = self._client()
        if client is None:
            raise APIError(self.pe.not_connected())
        found = await client.executions.get(execution_id)
        self._details[execution_id] = found
        return found

    # ------------------------------------------------------------------ actions

    def _need_current(self) -> ExecutionSummary | None:
        row = self.current
        if row is None:
            self.notify("Pick an execution first.", severity="warning")
        return row

    async def _whole(self, *execution_ids: str, doing: str) -> list[ExecutionResult] | None:
        """The executions whole, or None with the reason shown under the filter bar."""
        try:
            return [await self.execution(execution_id) for execution_id in execution_ids]
        except APIError as exc:
            self._problem(f"✗ {doing}: {describe_error(exc)}")
            return None

    @work(group="history-action", exit_on_error=False, name="opening in the Playground")
    async def action_rerun(self) -> None:
        row = self._need_current()
        found = row and await self._whole(row.execution_id, doing="Run again")
        if found:
            await self.pe.open_execution(found[0])

    @work(group="history-action", exit_on_error=False, name="copying")
    async def action_copy(self) -> None:
        from .dialogs import PickScreen

        row = self._need_current()
        found = row and await self._whole(row.execution_id, doing="Copy")
        if not found:
            return
        execution = found[0]
        parts = detail.copyable(execution)
        choice = await self.app.push_screen_wait(PickScreen(
            f"Copy from {execution.execution_id}", [what for what, _ in parts]))
        if choice is not None:
            self.pe.copy_output(dict(parts)[choice])

    def action_mark(self) -> None:
        row = self._need_current()
        if row is None:
            return
        self.marked = None if self.marked == row.execution_id else row.execution_id
        if self.marked:
            self.notify(f"Marked {row.execution_id}; highlight another and press "
                        f"{self.pe.hint_key('history.compare')} to compare them.")
        self.show_count()

    @work(group="history-action", exit_on_error=False, name="comparing")
    async def action_compare(self) -> None:
        from .compare import CompareScreen

        row = self._need_current()
        if row is None:
            return
        if self.marked is None or self.marked == row.execution_id:
            self.notify(f"Mark one execution ({self.pe.hint_key('history.mark')}), then "
                        "highlight another to compare with it.", severity="warning")
            return
        found = await self._whole(self.marked, row.execution_id, doing="Compare")
        if found:
            left, right = found
            self.app.push_screen(CompareScreen(left, right, self.names))

    def action_export(self) -> None:
        from .export import ExportScreen, run_export

        if self.exporting is not None:
            self.notify(f"An export is running; {self.pe.hint_key('history.back')} on the list "
                        "stops it.",
                        severity="warning")
            return

        def chosen(answer: tuple[str, str] | None) -> None:
            if answer is not None:
                self.exporting = "exporting…"  # from now on: Escape stops it, x waits
                self.show_count()
                self.run_worker(run_export(self, *answer), group="history-export",
                                exclusive=True, exit_on_error=False, name="exporting")

        self.app.push_screen(ExportScreen(self.filtered.describe(), self.rows.total,
                                          self.rows.lower_bound), chosen)

    def action_save_filter(self) -> None:
        from ..templates.dialogs import AskScreen

        if self.filtered.is_empty:
            self.notify("Type a filter first; then it can be kept under a name.",
                        severity="warning")
            return

        def named(name: str | None) -> None:
            if name:
                self.pe.save_history_filter(name, self.query_text)

        self.app.push_screen(AskScreen(
            "Keep this filter", f"{self.query_text}\nkept in the config under a name; the "
            "palette applies it again, and so does pe history @NAME.", placeholder="failures",
            button="Keep", allow_empty=False), named)

    def use_filter(self, text: str) -> None:
        """Shows `text` in the filter bar and applies it (the palette's saved filters)."""
        self.query_one("#history-filter", Input).value = text
        self._apply()
