"""Group commit for executions: rows stored in the same turn of the event loop share one
transaction, and each request still waits for its own row to be committed before answering.

A commit costs several times an insert, so under load this is most of the difference between
a request that writes and one that doesn't. When the server is idle a row is committed at
once; when commits follow each other closely, rows wait up to `window` seconds (or until
`max_batch` are waiting) to share one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .jsonfast import dumps
from .store import Store


class ExecutionWriter:
    def __init__(self, store: Store, window: float = 0.003, busy_after: float = 0.005,
                 max_batch: int = 32) -> None:
        self.store = store
        self.window = window
        self.busy_after = busy_after
        self.max_batch = max_batch
        self._pending: list[tuple[str, int, dict[str, Any], str, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._last_flush = float("-inf")
        self.batches = 0
        self.rows = 0

    async def insert(self, account_id: str, created_us: int, record: dict[str, Any],
                     body: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            if loop.time() - self._last_flush < self.busy_after:
                self._timer = loop.call_later(self.window, self._flush)
            else:
                self._timer = loop.call_soon(self._flush)
        if body is None:
            body = dumps(record)
        self._pending.append((account_id, created_us, record, body, done))
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
            self.store.insert_executions_of([item[:4] for item in batch])
        except Exception as exc:
            for *_, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for *_, done in batch:
            if not done.done():
                done.set_result(None)
