"""`ResultRows`: a batch's items (in input order, maybe only one status or one error code) as a
`RowSource` for the virtual table. Pages of `PAGE` items are fetched by offset as the view
reaches them, and only those near the view are kept, so 50,000 items cost what 500 do."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ....exceptions import APIError
from ....history_cells import cost, one_line, seconds
from ...widgets.virtual_table import Cell, Column
from ..history.detail import status_style

if TYPE_CHECKING:
    from ....models import BatchItemResult, BatchResults

PAGE = 200
KEEP_PAGES = 12  # pages kept around the view
IN_FLIGHT = 2

COLUMNS = (
    Column("#", 7, align="right"),
    Column("item", 0, max_width=24),
    Column("status", 10),
    Column("tries", 5, align="right", hide_below=90),
    Column("cost", 9, align="right", hide_below=80),
    Column("latency", 7, align="right", hide_below=100),
    Column("output or error", 0),
)

Fetch = Callable[..., Awaitable["BatchResults"]]


def item_cells(index: int, item: BatchItemResult, variables: dict[str, str]) -> list[Cell]:
    metadata = item.metadata or {}
    colour = status_style(item.status, variables)
    if item.error:
        said = Text(one_line(f"{item.error.get('code', '')}: {item.error.get('message', '')}"),
                    style=colour)
    else:
        said = Text(one_line((item.content or "").strip()[:300]))
    tries = (item.attempts or 0) + sum(int(e.get("attempts") or 1)
                                       for e in item.earlier_attempts)
    return [f"{index + 1:,}", one_line(item.item_id), Text(item.status, style=colour),
            str(tries) if tries else "", cost(metadata.get("cost")),
            seconds(metadata.get("execution_time")), said]


class ResultRows:
    def __init__(self, fetch: Fetch, variables: Callable[[], dict[str, str]],
                 on_change: Callable[[], None], on_error: Callable[[APIError], None]) -> None:
        self._fetch, self._variables = fetch, variables
        self._on_change, self._on_error = on_change, on_error
        self.filters: dict[str, Any] = {}
        self.total = 0
        self.loaded = False
        self._pages: dict[int, list[BatchItemResult]] = {}
        self._cells: dict[int, Sequence[Cell]] = {}
        self._loading: set[int] = set()
        self._generation = 0
        self._view = (0, 0)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ RowSource

    def row_count(self) -> int:
        return self.total

    def row(self, index: int) -> Sequence[Cell] | None:
        found = self._cells.get(index)
        if found is None:
            item = self.item(index)
            if item is None:
                return None
            found = self._cells[index] = item_cells(index, item, self._variables())
        return found

    def item(self, index: int) -> BatchItemResult | None:
        page = self._pages.get(index // PAGE)
        offset = index % PAGE
        return page[offset] if page is not None and offset < len(page) else None

    def wanted(self, first: int, last: int) -> None:
        self._view = (first, last)
        if not self.loaded:
            return
        for page in range(first // PAGE, last // PAGE + 1):
            if page * PAGE >= self.total or page in self._pages or page in self._loading:
                continue
            if len(self._loading) >= IN_FLIGHT:
                break
            self._loading.add(page)
            self._spawn(self._load(self._generation, page))

    # ------------------------------------------------------------------ loading

    def reset(self, **filters: Any) -> None:
        """Another filter (status, error code), or the same again: from the first page."""
        self._generation += 1
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.filters = {k: v for k, v in filters.items() if v}
        self._pages.clear()
        self._cells.clear()
        self._loading.clear()
        self.total, self.loaded = 0, False
        self._loading.add(0)
        self._spawn(self._load(self._generation, 0))

    def refresh(self) -> None:
        """Items change while a batch runs: the pages in view are read again, in place."""
        if not self.loaded:
            return
        first, last = self._view
        for page in range(first // PAGE, last // PAGE + 1):
            if page not in self._loading and page * PAGE < max(self.total, 1):
                self._loading.add(page)
                self._spawn(self._load(self._generation, page))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, generation: int, page: int) -> None:
        try:
            found = await self._fetch(limit=PAGE, offset=page * PAGE, **self.filters)
        except APIError as exc:
            if generation == self._generation:
                self._loading.discard(page)
                first = not self.loaded
                self.loaded = True
                self._on_error(exc)
                if first:  # the empty text says so; a later page is asked again on a move,
                    self._on_change()  # not by this redraw (that looped, 1,600 times a second)
            return
        if generation != self._generation:
            return
        self._loading.discard(page)
        self._pages[page] = found.results
        for index in range(page * PAGE, page * PAGE + PAGE):
            self._cells.pop(index, None)
        if found.pagination is not None:
            self.total = found.pagination.total
        self.loaded = True
        self._forget_far_pages()
        self._on_change()
        self.wanted(*self._view)

    def _forget_far_pages(self) -> None:
        middle = self._view[0] // PAGE
        for page in [p for p in self._pages if abs(p - middle) > KEEP_PAGES // 2]:
            del self._pages[page]
            for index in range(page * PAGE, page * PAGE + PAGE):
                self._cells.pop(index, None)

    def forget_cells(self) -> None:
        self._cells.clear()
