"""The one loop behind every `iterate`: walk an offset-paginated list page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

P = TypeVar("P")
T = TypeVar("T")


def _more(page: Any, items: Sequence[Any]) -> bool:
    pagination = getattr(page, "pagination", None)
    return bool(items) and pagination is not None and bool(pagination.has_more)


def iterate_pages(fetch: Callable[[int], P], items: Callable[[P], list[T]]) -> Iterator[T]:
    """`fetch(offset)` gives a page, `items(page)` its items; pages are fetched as you go."""
    offset = 0
    while True:
        page = fetch(offset)
        batch = items(page)
        yield from batch
        offset += len(batch)
        if not _more(page, batch):
            return


async def aiterate_pages(fetch: Callable[[int], Awaitable[P]],
                         items: Callable[[P], list[T]]) -> AsyncIterator[T]:
    offset = 0
    while True:
        page = await fetch(offset)
        batch = items(page)
        for item in batch:
            yield item
        offset += len(batch)
        if not _more(page, batch):
            return
