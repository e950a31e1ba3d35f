"""The durable batch runner: one task in the server that works through every unfinished batch.

Items are read from the database in input order and run through the same path as
`POST /v2/execute`. Each result is committed together with the batch's counters (group
commit). Nothing about in-flight work is stored, so a server killed mid-batch simply finds
those items still pending when it starts again, and runs them: every item ends with exactly
one result.

Concurrency: per batch up to `max_concurrent` (default 10), and per account the plan's
concurrent limit, shared with interactive executions. Higher-priority batches are served
first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...models import ExecuteRequest, ModelSettings
from ..core.clock import to_micros
from ..core.errors import ApiError
from ..db.group_commit import GroupCommit
from .store import BatchRow, ItemResult

if TYPE_CHECKING:
    from ..context import ServerContext

log = logging.getLogger("promptexecution.server")

DEFAULT_MAX_CONCURRENT = 10
FETCH = 500  # pending items read from the database at a time
RETRIES = 2  # extra attempts for transient failures when retry_failed is on
THROUGHPUT_WINDOW = 60.0  # seconds of completions behind the reported throughput


@dataclass
class LiveBatch:
    row: BatchRow
    settings: ModelSettings | None
    buffer: deque[tuple[int, str, dict[str, Any], int]] = field(default_factory=deque)
    cursor: int = -1
    exhausted: bool = False
    in_flight: int = 0
    running: set[int] = field(default_factory=set)  # seqs being executed right now
    cancel: bool = False
    started: float = field(default_factory=time.monotonic)
    recent: deque[float] = field(default_factory=deque)
    reported: float = 0.0  # time.monotonic() of the last progress webhook

    @property
    def max_concurrent(self) -> int:
        return int(self.row.options.get("max_concurrent") or DEFAULT_MAX_CONCURRENT)

    def throughput(self, now: float) -> float:
        """Items per second over the last minute (or since this server took the batch up)."""
        while self.recent and self.recent[0] < now - THROUGHPUT_WINDOW:
            self.recent.popleft()
        # At least a second: a batch a few milliseconds old would claim thousands a second.
        span = min(THROUGHPUT_WINDOW, max(now - self.started, 1.0))
        return len(self.recent) / span


class BatchRunner:
    def __init__(self, ctx: ServerContext,
                 on_finish: Callable[[BatchRow], None] | None = None,
                 on_progress: Callable[[BatchRow], None] | None = None,
                 progress_every: float = 2.0) -> None:
        self.ctx = ctx
        self.store = ctx.batch_store
        self.live: dict[str, LiveBatch] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._items: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._results: GroupCommit[ItemResult] = GroupCommit(self._write_results)
        self._on_finish = on_finish
        self._on_progress = on_progress
        self.progress_every = progress_every

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        for row in self.store.unfinished():
            self.track(row)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="batch-runner")

    async def stop(self) -> None:
        self._stopping = True  # no item starts from now on, whatever the loop is doing
        tasks = [t for t in (self._task, *self._items) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def track(self, row: BatchRow) -> None:
        settings = row.request.get("model_config")
        live = LiveBatch(row, ModelSettings.model_validate(settings) if settings else None,
                         started=self.ctx.monotonic())
        live.cancel = row.status == "cancelling"
        self.live[row.id] = live
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -------------------------------------------------------------- scheduling

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                self._schedule()
            except Exception:  # the runner must outlive any one bad batch
                log.exception("batch scheduling failed; retrying")
            self._wake.clear()
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that arrives as the
            # event is set (every cancelled item sets it), and the server never stopped
            # while a batch ran (SIGTERM ignored). asyncio.timeout keeps the cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wake.wait()

    def _schedule(self) -> None:
        if self._stopping:
            return
        ordered = sorted(self.live.values(), key=lambda b: (-b.row.priority, b.row.created_us))
        for live in ordered:
            if live.cancel:
                if live.in_flight == 0:
                    self._finish(live, cancelled=True)
                continue
            plan = self.ctx.plans[self._plan_name(live.row.account_id)]
            while live.in_flight < min(live.max_concurrent, plan.concurrent):
                item = self._next_item(live)
                if item is None:
                    break
                if live.row.status == "queued":  # stored first: a failed write takes no slot
                    self.store.set_status(live.row.id, "processing", self._now_us())
                    live.row.status = "processing"
                if not self.ctx.limiter.try_acquire_slot(live.row.account_id, plan):
                    live.buffer.appendleft(item)
                    break
                live.in_flight += 1
                live.running.add(item[0])
                task = asyncio.get_running_loop().create_task(self._run_item(live, *item))
                self._items.add(task)
                task.add_done_callback(self._items.discard)
            if live.in_flight == 0 and live.exhausted and not live.buffer:
                self._finish(live, cancelled=False)
            else:
                self._report_progress(live)

    def _report_progress(self, live: LiveBatch) -> None:
        if self._on_progress is None or not live.row.options.get("progress_updates"):
            return
        now = time.monotonic()
        if now - live.reported < self.progress_every or not live.recent:
            return
        live.reported = now
        row = self.store.get_any(live.row.id)
        if row is not None:
            self._on_progress(row)

    def _next_item(self, live: LiveBatch) -> tuple[int, str, dict[str, Any], int] | None:
        if not live.buffer and not live.exhausted:
            fetched = self.store.pending_items(live.row.id, live.cursor, FETCH)
            live.buffer.extend(fetched)
            if fetched:
                live.cursor = fetched[-1][0]
            if len(fetched) < FETCH:
                live.exhausted = True
        while live.buffer:
            item = live.buffer.popleft()
            if item[0] not in live.running:  # a re-read after a retry may include them
                return item
        return None

    def _plan_name(self, account_id: str) -> str:
        account = self.ctx.accounts.get_account(account_id)
        return account.plan if account else "basic"

    def _now_us(self) -> int:
        return to_micros(self.ctx.clock())

    def _finish(self, live: LiveBatch, cancelled: bool) -> None:
        """Ends a batch, which is final only when none of its items is pending."""
        now = self._now_us()
        if cancelled:
            self.store.cancel_pending(live.row.id, now)
            status = "cancelled"
        else:
            row = self.store.get_any(live.row.id)
            assert row is not None
            if row.pending:  # results that could not be stored: read the items again
                live.cursor, live.exhausted = -1, False
                return
            status = "failed" if row.completed == 0 and row.failed > 0 else "completed"
        # The final status and its webhook (in the outbox) are one transaction: a crash
        # leaves either both or neither, and the batch is forgotten here only once they hold.
        with self.ctx.database.transaction():
            self.store.set_status(live.row.id, status, now)
            final = self.store.get_any(live.row.id)
            if final is not None and self._on_finish is not None:
                self._on_finish(final)
        del self.live[live.row.id]

    # -------------------------------------------------------------- items

    async def _run_item(self, live: LiveBatch, seq: int, item_id: str,
                        variables: dict[str, Any], attempts: int) -> None:
        row = live.row
        account_id = row.account_id
        plan = self.ctx.plans[self._plan_name(account_id)]
        try:
            request = ExecuteRequest.model_construct(
                template_id=row.request.get("template_id"),
                template_version=row.request.get("template_version"),
                prompt=row.request.get("prompt"),
                variables=variables,
                model_settings=live.settings,
                response_format=row.request.get("response_format"),
                stream=False,
            )
            retries = RETRIES if row.options.get("retry_failed") else 0
            executions: list[tuple[str, int, dict[str, Any], str]] = []
            while True:
                attempts += 1
                try:
                    result = await self._attempt(request, row, seq, item_id, plan, attempts)
                except asyncio.CancelledError:
                    raise  # server stopping: the item stays pending and runs after a restart
                except Exception:  # a bug of ours is still this item's failure, not a hang
                    log.exception("batch %s item %s failed unexpectedly", row.id, item_id)
                    result = _failed(row.id, seq, attempts, _internal_error(), True)
                executions += result.executions
                if result.status == "completed" or not result.retry_eligible or retries <= 0:
                    break
                retries -= 1
                await asyncio.sleep(0.5 * 2 ** (attempts - 1))
            result.executions = executions
            await self._results.write(result)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The result could not be stored (a full disk, say): the item stays pending, and
            # the batch unfinished, until it can be; wait a little before it is tried again.
            log.exception("batch %s item %s: its result could not be stored; it stays pending",
                          row.id, item_id)
            await asyncio.sleep(1.0)
        finally:
            self.ctx.limiter.release_slot(account_id)
            live.in_flight -= 1
            live.running.discard(seq)
            live.recent.append(self.ctx.monotonic())  # the server's clock: scenes fix it
            self._wake.set()

    async def _attempt(self, request: ExecuteRequest, row: BatchRow, seq: int, item_id: str,
                       plan: Any, attempts: int) -> ItemResult:
        executions = self.ctx.executions
        try:
            prepared = await executions.prepare(row.account_id, plan, request)
        except ApiError as error:
            eligible = error.type == "service_unavailable"  # the renderer was busy
            return _failed(row.id, seq, attempts, error, retry_eligible=eligible)
        prepared.extra = {"batch_id": row.id, "batch_item_id": item_id}
        outcome = await executions.run(prepared, store=False)
        record = outcome.record
        metadata = record.get("metadata") or {}
        stored = [(row.account_id, prepared.created_us, record, outcome.body)]
        if outcome.error is not None:
            eligible = bool((outcome.error.details or {}).get("retry_eligible"))
            failed = _failed(row.id, seq, attempts, outcome.error, eligible, metadata)
            failed.result = {"execution_id": record["execution_id"], **failed.result}
            failed.executions = stored
            return failed
        return ItemResult(
            batch_id=row.id,
            seq=seq,
            status="completed",
            result={"execution_id": record["execution_id"], "content": record["content"],
                    "metadata": _item_metadata(metadata)},
            cost=float(metadata.get("cost", 0.0)),
            tokens=int(metadata.get("tokens_used", 0)),
            seconds=float(metadata.get("execution_time", 0.0)),
            error_code=None,
            retry_eligible=None,
            attempts=attempts,
            executions=stored,
        )

    def _write_results(self, results: Any) -> None:
        self.store.record_results(results, self._now_us())


def _item_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    keys = ("tokens_used", "input_tokens", "output_tokens", "execution_time", "model", "cost",
            "finish_reason")
    return {k: metadata[k] for k in keys if k in metadata}


def _internal_error() -> ApiError:
    return ApiError("server_error", "INTERNAL_ERROR",
                    "The server failed to run this item; it has been logged",
                    details={"retry_eligible": True})


def _failed(batch_id: str, seq: int, attempts: int, error: ApiError, retry_eligible: bool,
            metadata: dict[str, Any] | None = None) -> ItemResult:
    meta = _item_metadata(metadata or {})
    return ItemResult(
        batch_id=batch_id,
        seq=seq,
        status="failed",
        result={"error": {"type": error.type, "code": error.code, "message": error.message,
                          "details": error.details}, "metadata": meta},
        cost=float(meta.get("cost", 0.0)),
        tokens=int(meta.get("tokens_used", 0)),
        seconds=float(meta.get("execution_time", 0.0)),
        error_code=error.code,
        retry_eligible=retry_eligible,
        attempts=attempts,
    )
