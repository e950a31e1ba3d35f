"""`HistoryRows`: the executions a filter matches, as a `RowSource` for the virtual table.

It holds only the rows near the view (`KEEP` either side), so memory after scrolling a
million rows is what it was after ten. Rows missing from the view are fetched a page at a
time, choosing the cheapest request the server has:
- below a loaded row: the keyset page after it (`before=` its cursor);
- above a loaded row: the keyset page before it (`after=`);
- at the end of an exactly counted list: the oldest page (`order=oldest`);
- anywhere else (a jump): by offset.

New executions are asked for above the newest row; they are put on top and every index
moves down by their number, so a view scrolled away keeps showing the same rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ....exceptions import APIError
from ....models import Execution, ExecutionList, ExecutionSummary
from ...widgets.virtual_table import Cell

PAGE = 100  # the API's largest page
KEEP = 1000  # rows kept either side of the view
IN_FLIGHT = 3
RUNNING_LOOKS = 10  # rows still running read again per look for new executions

Fetch = Callable[..., Awaitable[ExecutionList]]


class HistoryRows:
    def __init__(self, fetch: Fetch, cells: Callable[[ExecutionSummary], Sequence[Cell]],
                 on_change: Callable[[], None], on_error: Callable[[APIError], None]) -> None:
        self._fetch, self._cells = fetch, cells
        self._on_change, self._on_error = on_change, on_error
        self._shown: dict[str, Sequence[Cell]] = {}  # cells per execution id, for the view
        self.filters: dict[str, Any] = {}
        self.total = 0
        self.lower_bound = False
        self.loaded = False  # the first page of this filter has come
        self._rows: dict[int, ExecutionSummary] = {}
        self._loading: set[int] = set()  # page numbers being fetched
        self._generation = 0
        self._view = (0, 0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._shifted = 0  # rows put on top so far: a page in flight lands this much lower

    # ------------------------------------------------------------------ RowSource

    def row_count(self) -> int:
        return self.total

    def row(self, index: int) -> Sequence[Cell] | None:
        found = self._rows.get(index)
        if found is None:
            return None
        cells = self._shown.get(found.execution_id)
        if cells is None:
            cells = self._shown[found.execution_id] = self._cells(found)
        return cells

    def execution(self, index: int) -> ExecutionSummary | None:
        return self._rows.get(index)

    def forget_cells(self) -> None:
        """Rows are drawn anew (a template's name was learnt, the theme changed)."""
        self._shown.clear()

    def wanted(self, first: int, last: int) -> None:
        self._view = (first, last)
        if not self.loaded:
            return
        for page in range(max(first - PAGE // 2, 0) // PAGE, (last + PAGE // 2) // PAGE + 1):
            if len(self._loading) >= IN_FLIGHT:
                break
            start = page * PAGE
            if start >= self.total or page in self._loading:
                continue
            end = min(start + PAGE, self.total)
            if all(i in self._rows for i in range(max(start, first - PAGE // 2),
                                                  min(end, last + PAGE // 2 + 1))):
                continue
            self._start(page)

    # ------------------------------------------------------------------ loading

    def reset(self, filters: dict[str, Any]) -> None:
        """A new filter: everything is asked for again, starting with the first page."""
        self._generation += 1
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.filters = dict(filters)
        self._rows.clear()
        self._shown.clear()
        self._loading.clear()
        self.total, self.lower_bound, self.loaded = 0, False, False
        self._spawn(self._first_page(self._generation))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _first_page(self, generation: int) -> None:
        try:
            page = await self._fetch(limit=PAGE, **self.filters)
        except APIError as exc:
            if generation == self._generation:
                self.loaded = True
                self._on_error(exc)
                self._on_change()
            return
        if generation != self._generation:
            return
        self._count(page, 0)
        self._place(0, page.executions)
        self.loaded = True
        self._on_change()
        self.wanted(*self._view)

    def _count(self, page: ExecutionList, start: int) -> None:
        self.total = max(page.pagination.total, start + len(page.executions))
        self.lower_bound = page.pagination.total_is_lower_bound
        if self.lower_bound and page.pagination.has_more:
            self.total = max(self.total, start + len(page.executions) + 1)

    def _start(self, page: int) -> None:
        start = page * PAGE
        above, below = self._rows.get(start - 1), self._rows.get(start + PAGE)
        request: dict[str, Any]
        if above is not None and above.cursor:
            request, placed = {"before": above.cursor}, ("down", start)
        elif below is not None and below.cursor:
            request, placed = {"after": below.cursor}, ("up", start + PAGE - 1)
        elif not self.lower_bound and start + PAGE >= self.total:
            request, placed = {"order": "oldest"}, ("oldest", self.total - 1)
        else:
            request, placed = {"offset": start}, ("down", start)
        self._loading.add(page)
        self._spawn(self._load(self._generation, page, request, placed, self._shifted))

    async def _load(self, generation: int, page: int, request: dict[str, Any],
                    placed: tuple[str, int], shifted: int) -> None:
        try:
            found = await self._fetch(limit=PAGE, **request, **self.filters)
        except APIError as exc:
            if generation == self._generation:
                self._loading.discard(page)
                self._on_error(exc)
            return
        if generation != self._generation:
            return
        self._loading.discard(page)
        rows = found.executions
        how, at = placed[0], placed[1] + self._shifted - shifted
        if how == "oldest":
            self._place(at - len(rows) + 1, list(reversed(rows)))
        elif how == "up":
            self._place(at - len(rows) + 1, rows)
        else:
            self._place(at, rows)
            if self.lower_bound and found.pagination.has_more:
                self.total = max(self.total, at + len(rows) + 1)  # one more to ask for
            elif self.lower_bound:
                self.total = at + len(rows)  # the real end, found at last
                self.lower_bound = False
        self._forget_far_rows()
        self._on_change()
        self.wanted(*self._view)

    def _place(self, start: int, rows: list[ExecutionSummary]) -> None:
        for offset, row in enumerate(rows):
            if start + offset >= 0:
                self._rows[start + offset] = row

    def _forget_far_rows(self) -> None:
        first, last = self._view
        far = [i for i in self._rows if i < first - KEEP or i > last + KEEP]
        for index in far:
            self._shown.pop(self._rows.pop(index).execution_id, None)

    # ------------------------------------------------------------------ arrivals

    async def newer(self) -> int:
        """New executions above the newest row: put on top, every index moved down by
        their number, which is returned (0 when none, or when the top is not loaded). An
        empty list asks for its first page again."""
        newest = self._rows.get(0)
        if not self.loaded:
            return 0
        generation = self._generation
        if self.total == 0:  # nothing matched yet: the first page, again
            page = await self._fetch(limit=PAGE, **self.filters)
            if generation != self._generation or not page.executions:
                return 0
            self._count(page, 0)
            self._place(0, page.executions)
            return len(page.executions)
        if newest is None or not newest.cursor:
            return 0
        arrived: list[ExecutionSummary] = []
        cursor: str | None = newest.cursor
        while cursor is not None:
            page = await self._fetch(limit=PAGE, after=cursor, **self.filters)
            if generation != self._generation:
                return 0
            arrived = page.executions + arrived  # each page is newest first
            if len(page.executions) < PAGE:
                break
            cursor = page.executions[0].cursor
        if not arrived:
            return 0
        shift = len(arrived)
        self._rows = {i + shift: row for i, row in self._rows.items()}
        self._place(0, arrived)
        self._shifted += shift
        self.total += shift
        return shift

    async def refresh_running(self, get: Callable[[str], Awaitable[Execution]]) -> bool:
        """Rows still `processing` when they were fetched, read again: one that has
        finished since shows its status, tokens, cost and output. True if any changed."""
        generation = self._generation
        running = [r for r in self._rows.values() if r.status == "processing"]
        changed = False
        for row in running[:RUNNING_LOOKS]:
            found = await get(row.execution_id)
            if generation != self._generation or found.status == "processing":
                continue
            at = self.index_of(row.execution_id)  # rows may have moved down meanwhile
            if at is not None:
                self._rows[at] = summary_of(found, row.cursor)
                self._shown.pop(row.execution_id, None)
                changed = True
        return changed

    def index_of(self, execution_id: str) -> int | None:
        return next((i for i, r in self._rows.items() if r.execution_id == execution_id),
                    None)

    def rows_held(self) -> int:
        return len(self._rows)


def summary_of(execution: Execution, cursor: str | None) -> ExecutionSummary:
    """A list row from a whole execution (the list's own shape, its cursor kept)."""
    meta = execution.metadata
    content = (execution.content or "").strip()
    return ExecutionSummary(
        execution_id=execution.execution_id, template_id=execution.template_id,
        template_version=execution.template_version, status=execution.status,
        model=meta.model if meta else None, tokens_used=meta.tokens_used if meta else 0,
        cost=meta.cost if meta else 0.0, created_at=execution.created_at,
        batch_id=execution.batch_id, execution_time=meta.execution_time if meta else None,
        output_preview=content.split("\n", 1)[0][:200],
        error_code=execution.error.code if execution.error else None, cursor=cursor)
