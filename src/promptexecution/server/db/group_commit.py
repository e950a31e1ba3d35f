"""Group commit: rows stored in the same turn of the event loop share one transaction, and
each caller still waits for its own row to be committed before it answers anyone.

A commit costs several times an insert, so under load this is most of the difference between
a request that writes and one that doesn't. When the server is idle a row is committed at
once; when commits follow each other closely, rows wait up to `window` seconds (or until
`max_batch` are waiting) to share one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, flush: Callable[[Sequence[T]], None], window: float = 0.003,
                 busy_after: float = 0.005, max_batch: int = 32) -> None:
        self._write = flush
        self.window = window
        self.busy_after = busy_after
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last_flush = float("-inf")
        self.batches = 0
        self.rows = 0

    async def write(self, row: T) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            if loop.time() - self._last_flush < self.busy_after:
                self._timer = loop.call_later(self.window, self._flush)
            else:
                self._timer = loop.call_soon(self._flush)
        self._pending.append((row, done))
        if len(self._pending) == self.max_batch and self._timer is not None:
            self._timer.cancel()  # a full batch need not wait out the window
            self._timer = loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        self._timer = None
        batch, self._pending = self._pending, []
        self._last_flush = asyncio.get_running_loop().time()
        self.batches += 1
        self.rows += len(batch)
        try:
            self._write([row for row, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)
