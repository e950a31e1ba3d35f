"""`follow`: keeps a `BatchBook` live for as long as the console is connected. It lists the
account's batches, then follows the one event stream of every running batch (no polling,
however many run). A dropped stream is opened again after a pause and the list read again
(what changed meanwhile); a server without the stream (404: another implementation of the
spec) is polled instead, one listing every `POLL_EVERY` seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ....exceptions import APIError, NotFoundError
from .book import BatchBook, BatchState

if TYPE_CHECKING:
    from ....client import AsyncPromptExecutionClient
    from ....client.types import BatchEvent

LIST_PAGES = 5  # 500 batches, newest first: older ones are finished and stay as they were
POLL_EVERY = 2.0
RETRY_AFTER = 2.0


async def list_into(client: AsyncPromptExecutionClient, book: BatchBook) -> list[BatchState]:
    """The newest batches into the book; returns those that finished since the book last
    saw them running."""
    found = []
    for page in range(LIST_PAGES):
        listed = await client.batches.list(limit=100, offset=page * 100)
        found += listed.batches
        if not listed.pagination.has_more:
            break
    return book.load(found)


async def follow(client: AsyncPromptExecutionClient, book: BatchBook,
                 finished: Callable[[BatchState], None]) -> None:
    """Runs until cancelled (the console disconnects or quits)."""
    while True:
        try:
            for state in await list_into(client, book):
                finished(state)
            events = client.batches.watch()
            try:
                first = await anext(events)
            except NotFoundError:  # no stream on this server: listings it is
                await _poll(client, book, finished)
                continue
            await _follow(client, book, finished, first, events)
        except (APIError, ValueError):
            pass  # the heartbeat reports a server that went away; a malformed event (a
            # ValueError from its model) is not worth a stopped watch: both try again
        await asyncio.sleep(RETRY_AFTER)


async def _follow(client: AsyncPromptExecutionClient, book: BatchBook,
                  finished: Callable[[BatchState], None], first: BatchEvent,
                  events: AsyncIterator[BatchEvent]) -> None:
    event: BatchEvent | None = first
    while event is not None:
        if not book.knows(event.batch_id):  # submitted elsewhere: learn what it is
            with contextlib.suppress(NotFoundError):
                book.put_summary(await client.batches.get(event.batch_id))
        done = book.apply(event)
        if done is not None:
            finished(done)
        event = await anext(events, None)


async def _poll(client: AsyncPromptExecutionClient, book: BatchBook,
                finished: Callable[[BatchState], None]) -> None:
    while True:
        await asyncio.sleep(POLL_EVERY)
        for state in await list_into(client, book):
            finished(state)
