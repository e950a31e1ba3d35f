"""Batches: submit, list, inspect, progress, results (input order), cancel, retry."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...models import BatchOptions, BatchRequest
from ..core.clock import from_micros, iso, to_micros
from ..core.errors import ApiError, conflict, not_found, permission, validation
from ..core.http import ctx_of, json_response, pagination, parse_body, principal_of, public_base
from ..core.idempotency import Idempotency
from ..core.jsonfast import dumps
from ..core.openapi import body_schema, errors
from ..executions.service import check_source, sse
from ..executions.sse import EventStreamResponse
from ..templates.rendering import resolve_variables
from ..webhooks.targets import TargetRefused
from .runner import DEFAULT_MAX_CONCURRENT, BatchRunner
from .store import BatchRow

if TYPE_CHECKING:
    from ..context import ServerContext

router = APIRouter()
ENDPOINT = "POST /v2/batch"
MAX_LISTED_ERRORS = 100
WATCH_EVERY = 0.25  # seconds between looks at a watched batch, in process: clients poll nothing
# A running batch whose counts stand still is sent again this often: its throughput falls
# and its ETA moves, and a watcher sees that rather than the last rate for ever.
RESEND_EVERY = 2.0
FINISHED = ("completed", "failed", "cancelled")
WATCH_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "description": "Server-sent events: `progress` (the body of `/progress`) whenever the "
                   "counts or the status change, then `finished` (the batch) when it ends",
    "content": {"text/event-stream": {}}}}
PRIORITY_NAMES = {0: "low", 1: "normal", 2: "high"}


def runner_of(request: Request) -> BatchRunner:
    runner: BatchRunner = request.app.state.batch_runner
    return runner


def _options(body: BatchRequest) -> BatchOptions:
    if body.processing_options is not None and body.options is not None:
        raise validation("CONFLICTING_FIELDS",
                         "Send 'processing_options' or 'options', not both",
                         fields=["processing_options", "options"])
    options = body.processing_options or body.options or BatchOptions.model_validate({})
    if body.callback_url is not None:
        if options.callback_url is not None and options.callback_url != body.callback_url:
            raise validation("CONFLICTING_FIELDS", "Two different callback URLs were given",
                             fields=["callback_url", "processing_options.callback_url"])
        options = options.model_copy(update={"callback_url": body.callback_url})
    return options


async def _check_callback(ctx: ServerContext, url: str | None) -> None:
    if url is None:
        return
    try:
        await ctx.webhook_targets.check_at_submit(url)
    except TargetRefused as exc:
        raise validation("INVALID_CALLBACK_URL", f"callback_url is refused: {exc}",
                         field="callback_url", provided_value=url[:200]) from None


async def _validate_inputs(ctx: ServerContext, account_id: str, plan: Any, body: BatchRequest
                           ) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    """Every input checked against the template before anything runs; all problems at once.
    Returns the items and the template version they were checked against: a label is read
    here, once, so a label moved while the inputs are checked cannot run another version."""
    check_source(body.template_id, body.prompt)
    version = None
    if body.template_id is not None:
        template = ctx.executions.find_template(account_id, body.template_id,
                                                body.template_version, body.template_label)
        declared, source, version = template.variables, template.prompt, template.version
    else:
        for pin in ("template_version", "template_label"):
            if getattr(body, pin) is not None:
                raise validation("INVALID_FIELD", f"'{pin}' needs a 'template_id'", field=pin)
        declared, source = [], body.prompt or ""
    settings = body.model_settings
    ctx.executions.model_for(settings.model if settings else None, plan)
    # A raw prompt with no variables is sent as written; with them, it is a template, which
    # may not compile: that is then every such input's problem.
    referenced: frozenset[str] | ApiError = frozenset()
    if body.template_id is not None or any(item.variables for item in body.inputs):
        try:
            referenced = await ctx.renderer.referenced(source, account_id)
        except ApiError as error:
            if error.type != "template_error":
                raise
            referenced = error

    items: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(body.inputs):
        item_id = item.id or f"item_{index + 1}"
        if item_id in seen:
            problems.append({"item_id": item_id, "code": "DUPLICATE_ITEM_ID",
                             "message": f"Item id '{item_id}' is used more than once"})
        seen[item_id] = index
        if body.template_id is not None or item.variables:
            try:
                if isinstance(referenced, ApiError):
                    raise referenced
                resolve_variables(declared, item.variables, referenced)
            except ApiError as error:
                problems.append({"item_id": item_id, "code": error.code,
                                 "message": error.message, "details": error.details})
        items.append((item_id, item.variables))
    if problems:
        bad = len({p["item_id"] for p in problems})
        raise validation(
            "INVALID_BATCH_INPUTS",
            f"{bad} of {len(items)} inputs are invalid; nothing was run. "
            "details.invalid_items lists the problems",
            invalid_count=bad,
            invalid_items=problems[:MAX_LISTED_ERRORS],
        )
    return items, version


def _summary(row: BatchRow, base: str, live: Any = None) -> dict[str, Any]:
    done = row.completed + row.failed
    return {
        "batch_id": row.id,
        "status": row.status,
        "total_items": row.total,
        "progress": {"completed": row.completed, "failed": row.failed,
                     "cancelled": row.cancelled, "pending": row.pending, "total": row.total},
        "priority": PRIORITY_NAMES.get(row.priority, "normal"),
        "max_concurrent": row.options.get("max_concurrent") or DEFAULT_MAX_CONCURRENT,
        "template_id": row.request.get("template_id"),
        "webhook_url": row.options.get("callback_url"),
        "summary": {"total_cost": round(row.total_cost, 8), "total_tokens": row.total_tokens,
                    "success_rate": round(100 * row.completed / done, 2) if done else None},
        "created_at": iso(from_micros(row.created_us)),
        "started_at": iso(from_micros(row.started_us)) if row.started_us else None,
        "finished_at": iso(from_micros(row.finished_us)) if row.finished_us else None,
        "progress_url": f"{base}/batch/{row.id}/progress",
        "results_url": f"{base}/batch/{row.id}/results",
    }


def find_batch(ctx: ServerContext, account_id: str, batch_id: str) -> BatchRow:
    row = ctx.batch_store.get(account_id, batch_id)
    if row is None:
        raise not_found("BATCH_NOT_FOUND", f"Batch '{batch_id}' was not found",
                        batch_id=batch_id)
    return row


@router.post("/v2/batch", tags=["batches"], summary="Submit a batch", status_code=202,
             openapi_extra=body_schema(BatchRequest), responses=errors(403, 404, 409))
async def submit(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request, "batch")
    if not principal.plan.batch:
        raise permission("BATCH_NOT_AVAILABLE",
                         f"Batch processing is not part of the {principal.plan.name} plan; "
                         "it needs professional or enterprise")
    account_id = principal.account.id
    body, raw = await parse_body(request, BatchRequest)
    idempotency = Idempotency(ctx, request, account_id, ENDPOINT, raw)
    previous = idempotency.previous()
    if previous is not None:
        return Response(previous[1], status_code=previous[0], media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    options = _options(body)
    await _check_callback(ctx, options.callback_url)
    items, version = await _validate_inputs(ctx, account_id, principal.plan, body)
    batch_id = ctx.ids.new("batch")
    now = ctx.clock()
    stored_request = {
        "template_id": body.template_id, "template_version": version,
        "template_label": body.template_label,
        "prompt": body.prompt, "response_format": body.response_format,
        "model_config": body.model_settings.model_dump(exclude_none=True)
        if body.model_settings else None,
    }
    store = ctx.batch_store
    store.create(batch_id, account_id, options.priority, stored_request,
                 options.model_dump(exclude_none=True), items, to_micros(now))
    row = store.get(account_id, batch_id)
    assert row is not None
    runner_of(request).track(row)
    concurrency = min(options.max_concurrent or DEFAULT_MAX_CONCURRENT,
                      principal.plan.concurrent)
    per_item = 0.05 if (body.model_settings is None or body.model_settings.model in
                        (None, "simulator")) else 2.0  # a first guess; /progress refines it
    eta = now + timedelta(seconds=math.ceil(len(items) / concurrency) * per_item)
    base = public_base(request)
    payload = {
        "batch_id": batch_id,
        "status": "queued",
        "total_items": len(items),
        "estimated_completion": iso(eta),
        "progress_url": f"{base}/batch/{batch_id}/progress",
        "results_url": f"{base}/batch/{batch_id}/results",
        "webhook_url": options.callback_url,
        "created_at": iso(now),
    }
    text = dumps(payload)
    idempotency.remember(202, text)
    return Response(text, status_code=202, media_type="application/json")


@router.get("/v2/batch", tags=["batches"], summary="List batches, newest first")
async def list_batches(
    request: Request,
    status: Literal["queued", "processing", "completed", "failed", "cancelling",
                    "cancelled"] | None = None,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    rows, total = ctx.batch_store.list_batches(principal.account.id, status, limit,
                                                     offset)
    base = public_base(request)
    return json_response({"batches": [_summary(r, base) for r in rows],
                          "pagination": pagination(total, limit, offset, len(rows))})


@router.get("/v2/batch/events", tags=["batches"], summary="Watch every running batch",
            responses=WATCH_RESPONSES)
async def watch_batches(request: Request) -> Response:
    """One stream for all the account's running batches (so watching twenty costs one
    connection): `progress` for each when it starts running or changes, `finished` when
    one ends. It stays open until the client leaves; a batch submitted later joins it."""
    ctx = ctx_of(request)
    account_id = principal_of(request).account.id
    runner, base = runner_of(request), public_base(request)

    async def events() -> AsyncIterator[bytes]:
        changes = _Changes()
        ended: dict[str, int | None] = {}  # id -> the end announced (its finished_us)
        since = to_micros(ctx.clock())
        while True:
            # Those that ended since the last look count too: a short batch may start and
            # end between two looks, and a watcher must still hear that it finished.
            looked_at = to_micros(ctx.clock())
            rows = ctx.batch_store.watched_of(account_id, since)
            # One that ended and ran again (a retry), however quickly, has another end.
            ended = {row.id: ended[row.id] for row in rows if row.id in ended}
            now = ctx.monotonic()
            for row in rows:
                if row.id in ended and ended[row.id] == row.finished_us:
                    continue
                if changes.due(row, now):
                    yield sse("progress", progress_of(ctx, runner, row))
                if row.status in FINISHED:
                    ended[row.id] = row.finished_us
                    changes.forget(row.id)
                    yield sse("finished", _summary(row, base))
            since = looked_at - 1_000_000  # a second's margin for a slow commit
            await asyncio.sleep(WATCH_EVERY)

    return _event_stream(request, events())


@router.get("/v2/batch/{batch_id}", tags=["batches"], summary="One batch")
async def get_batch(request: Request, batch_id: str) -> Response:
    ctx = ctx_of(request)
    row = find_batch(ctx, principal_of(request).account.id, batch_id)
    return json_response(_summary(row, public_base(request)))


@router.get("/v2/batch/{batch_id}/progress", tags=["batches"], summary="Batch progress")
async def progress(request: Request, batch_id: str) -> Response:
    ctx = ctx_of(request)
    row = find_batch(ctx, principal_of(request).account.id, batch_id)
    return json_response(progress_of(ctx, runner_of(request), row))


@router.get("/v2/batch/{batch_id}/throughput", tags=["batches"],
            summary="Items finished over the batch's life")
async def throughput(request: Request, batch_id: str,
                     buckets: int = Query(60, ge=1, le=1000)) -> Response:
    """Beyond the spec: how many items finished in each of `buckets` equal slices of time
    from the batch's start to its end (or now), for a throughput sparkline."""
    ctx = ctx_of(request)
    row = find_batch(ctx, principal_of(request).account.id, batch_id)
    payload: dict[str, Any] = {"batch_id": row.id, "started_at": None, "bucket_seconds": None,
                               "finished": []}
    if row.started_us:
        span_us = max((row.finished_us or to_micros(ctx.clock())) - row.started_us, 1)
        bucket_us = max(math.ceil(span_us / buckets), 1_000_000)
        counts = [0] * min(buckets, math.ceil(span_us / bucket_us))
        for bucket, count in ctx.batch_store.finished_times(row.id, row.started_us,
                                                            bucket_us):
            counts[min(bucket, len(counts) - 1)] += count
        payload.update(started_at=iso(from_micros(row.started_us)),
                       bucket_seconds=bucket_us / 1e6, finished=counts)
    return json_response(payload)


def progress_of(ctx: ServerContext, runner: BatchRunner, row: BatchRow) -> dict[str, Any]:
    """What `/progress` answers and a watcher's `progress` event carries."""
    live = runner.live.get(row.id)
    done = row.completed + row.failed
    if live is not None:
        per_second = live.throughput(ctx.monotonic())
    elif row.started_us and row.finished_us and row.finished_us > row.started_us:
        per_second = done / ((row.finished_us - row.started_us) / 1e6)
    else:
        per_second = 0.0
    if row.status in FINISHED:
        eta = row.finished_us and iso(from_micros(row.finished_us))
    elif per_second > 0:
        eta = iso(ctx.clock() + timedelta(seconds=row.pending / per_second))
    else:
        eta = None
    errors = ctx.batch_store.errors(row.id, MAX_LISTED_ERRORS)
    return {
        "batch_id": row.id,
        "status": row.status,
        "progress": {"completed": row.completed, "failed": row.failed,
                     "pending": row.pending, "total": row.total, "cancelled": row.cancelled},
        "performance": {
            "average_execution_time": round(row.total_time / done, 4) if done else None,
            "throughput_per_minute": round(per_second * 60, 1),
            "estimated_completion": eta,
        },
        "errors": [{"item_id": e["item_id"], "error_code": e["error_code"],
                    "retry_eligible": bool(e["retry_eligible"])} for e in errors],
        # Beyond the spec: every failure counted by code (errors lists the first 100), and
        # what was spent so far, so a watcher needs no second request for either.
        "errors_by_code": [{"error_code": code, "count": count, "retry_eligible": eligible}
                           for code, count, eligible in ctx.batch_store.error_groups(row)],
        "summary": {"total_cost": round(row.total_cost, 8), "total_tokens": row.total_tokens},
        "created_at": iso(from_micros(row.created_us)),
        "started_at": iso(from_micros(row.started_us)) if row.started_us else None,
    }


@router.get("/v2/batch/{batch_id}/events", tags=["batches"], summary="Watch a batch",
            responses=WATCH_RESPONSES)
async def watch_batch(request: Request, batch_id: str) -> Response:
    """One stream per batch: a `progress` event at once and on every change, a `finished`
    event when it ends (at once for a finished batch), then the stream closes."""
    ctx = ctx_of(request)
    find_batch(ctx, principal_of(request).account.id, batch_id)  # a 404 before the stream
    runner, base = runner_of(request), public_base(request)

    async def events() -> AsyncIterator[bytes]:
        changes = _Changes()
        while True:
            row = ctx.batch_store.get_any(batch_id)
            if row is None:
                return
            if changes.due(row, ctx.monotonic()):
                yield sse("progress", progress_of(ctx, runner, row))
            if row.status in FINISHED:
                yield sse("finished", _summary(row, base))
                return
            await asyncio.sleep(WATCH_EVERY)

    return _event_stream(request, events())


class _Changes:
    """When a watched batch is due a `progress` event: its status or counts changed, or it
    has stood still for `RESEND_EVERY` (both streams decide it here)."""

    def __init__(self) -> None:
        self._sent: dict[str, tuple[tuple[Any, ...], float]] = {}  # id -> (what, when)

    def due(self, row: BatchRow, now: float) -> bool:
        seen = (row.status, row.completed, row.failed, row.pending, row.cancelled)
        before = self._sent.get(row.id)
        if before is not None and before[0] == seen and now - before[1] < RESEND_EVERY:
            return False
        self._sent[row.id] = (seen, now)
        return True

    def forget(self, batch_id: str) -> None:
        self._sent.pop(batch_id, None)


def _event_stream(request: Request, events: AsyncIterator[bytes]) -> Response:
    ctx = ctx_of(request)
    stopped = ApiError("service_unavailable", "SERVER_SHUTTING_DOWN",
                       "The server is shutting down; the batch goes on when it is back. "
                       "Watch again in a moment", headers={"Retry-After": "1"})
    request_id = request.state.request_id
    return EventStreamResponse(
        events, ping_interval=ctx.config.ping_interval, stopping=ctx.stopping.event,
        farewell=lambda: sse("error", stopped.body(request_id, ctx.timestamp())))


@router.get("/v2/batch/{batch_id}/results", tags=["batches"], summary="Results, input order")
async def results(
    request: Request,
    batch_id: str,
    status: Literal["pending", "completed", "failed", "cancelled"] | None = None,
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=10_000_000),
    error_code: str | None = Query(None, max_length=100,
                                   description="Only failed items with this error code"),
) -> Response:
    ctx = ctx_of(request)
    row = find_batch(ctx, principal_of(request).account.id, batch_id)
    rows, total = ctx.batch_store.results(batch_id, status, limit, offset, error_code)
    items = []
    for r in rows:
        item: dict[str, Any] = {"item_id": r["item_id"], "status": r["status"]}
        if r["result"]:
            stored = _loads(r["result"])
            item.update(stored)
        if r["status"] == "failed":
            item["retry_eligible"] = bool(r["retry_eligible"])
        item["attempts"] = r["attempts"]
        if r["earlier"]:  # runs before a retry, oldest first: what each one said
            item["earlier_attempts"] = json.loads(r["earlier"])
        items.append(item)
    done = row.completed + row.failed
    return json_response({
        "batch_id": row.id,
        "status": row.status,
        "results": items,
        "summary": {
            "total_items": row.total,
            "completed": row.completed,
            "failed": row.failed,
            "total_cost": round(row.total_cost, 8),
            "total_tokens": row.total_tokens,
            "average_execution_time": round(row.total_time / done, 4) if done else None,
            "success_rate": round(100 * row.completed / done, 2) if done else None,
        },
        "pagination": pagination(total, limit, offset, len(items)),
    })


@router.post("/v2/batch/{batch_id}/cancel", tags=["batches"], summary="Cancel a batch",
             responses=errors(403, 409))
async def cancel(request: Request, batch_id: str) -> Response:
    ctx = ctx_of(request)
    account_id = principal_of(request, "batch").account.id
    row = find_batch(ctx, account_id, batch_id)
    if row.status in ("completed", "failed", "cancelled"):
        raise conflict("BATCH_FINISHED", f"Batch '{batch_id}' has already {row.status}",
                       status=row.status)
    store = ctx.batch_store
    if row.status != "cancelling":
        store.set_status(batch_id, "cancelling", to_micros(ctx.clock()))
    runner = runner_of(request)
    live = runner.live.get(batch_id)
    if live is not None:
        live.cancel = True
        live.row.status = "cancelling"
    runner.wake()
    updated = store.get(account_id, batch_id)
    assert updated is not None
    return json_response(_summary(updated, public_base(request)))


@router.post("/v2/batch/{batch_id}/retry", tags=["batches"],
             summary="Re-run the failed, retry-eligible items", responses=errors(403, 409))
async def retry(request: Request, batch_id: str) -> Response:
    ctx = ctx_of(request)
    account_id = principal_of(request, "batch").account.id
    row = find_batch(ctx, account_id, batch_id)
    if row.status in ("cancelling", "cancelled"):
        raise conflict("BATCH_CANCELLED", f"Batch '{batch_id}' was cancelled")
    store = ctx.batch_store
    runner = runner_of(request)
    retried = store.requeue_failed(batch_id, to_micros(ctx.clock()))
    updated = store.get(account_id, batch_id)
    assert updated is not None
    if retried:
        live = runner.live.get(batch_id)
        if live is None:
            runner.track(updated)
        else:
            live.cursor, live.exhausted = -1, False  # read the requeued items again
            live.buffer.clear()
            live.row.status = "queued"
        runner.wake()
    return json_response({**_summary(updated, public_base(request)), "retried_items": retried})



@router.get("/v2/batch/{batch_id}/webhooks", tags=["batches"],
            summary="Every webhook delivery attempt for a batch")
async def webhook_log(request: Request, batch_id: str) -> Response:
    ctx = ctx_of(request)
    row = find_batch(ctx, principal_of(request).account.id, batch_id)
    return json_response({"batch_id": row.id, "webhook_url": row.options.get("callback_url"),
                          "deliveries": ctx.webhook_store.deliveries(row.id)})


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
