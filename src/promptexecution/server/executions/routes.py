"""`POST /v2/execute` (one prompt, answered whole or streamed as server-sent events), and
history: `GET /v2/executions` (filtered, newest first, exact totals) and
`GET /v2/executions/{id}`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from ...models import ExecuteRequest, Execution, ExecutionList
from ..core.clock import from_micros, iso, to_micros
from ..core.errors import not_found, validation
from ..core.http import (
    ctx_of,
    json_response,
    pagination,
    parse_body,
    parse_iso,
    principal_of,
    shutting_down,
    unless_client_leaves,
)
from ..core.idempotency import Idempotency
from ..core.jsonfast import dumps
from ..core.openapi import body_schema, errors
from .history import (
    Cursor,
    HistoryFilter,
    capped_count,
    check_text,
    page_sql,
    summary,
    text_query,
)
from .service import sse
from .sse import EventStreamResponse
from .store import ExecutionFilter

router = APIRouter()
ENDPOINT = "POST /v2/execute"


@router.post(
    "/v2/execute",
    tags=["executions"],
    summary="Execute a prompt",
    response_model=Execution,
    responses={
        200: {"description": "The execution; with `\"stream\": true`, server-sent events: "
                             "`delta`s, then one `completed` (the execution) or one `error`",
              "content": {"text/event-stream": {"schema": {  # one event
                  "type": "object", "required": ["event", "data"],
                  "properties": {
                      "event": {"enum": ["delta", "completed", "error"]},
                      "data": {"type": "string", "contentMediaType": "application/json",
                               "description": '{"delta": "..."}, the execution, or the '
                                              "error object"}}}}}},
        **errors(403, 404, 409),
    },
    openapi_extra=body_schema(ExecuteRequest),
)
async def execute(request: Request) -> Any:
    ctx = ctx_of(request)
    principal = principal_of(request, "execute")
    body, raw = await parse_body(request, ExecuteRequest)
    account_id = principal.account.id

    idempotency = Idempotency(ctx, request, account_id, ENDPOINT, raw)
    previous = idempotency.previous()
    if previous is not None:
        return _replay(*previous, stream=body.stream)

    # Rendering is part of the execution's work, so it holds the concurrency slot too.
    ctx.limiter.acquire_slot(account_id, principal.plan)
    idempotency.hold()
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            ctx.limiter.release_slot(account_id)
            idempotency.release()

    try:
        prepared = await ctx.executions.prepare(account_id, principal.plan, body)
    except BaseException:
        release()
        raise
    prepared.extra["request_id"] = request.state.request_id  # History shows it, for support

    if body.stream:
        request_id = request.state.request_id

        async def events() -> AsyncIterator[bytes]:
            async for event in ctx.executions.stream(prepared, request_id):
                if event.startswith((b"event: completed", b"event: error")):
                    if event.startswith(b"event: completed"):
                        idempotency.remember(200, event.split(b"data: ", 1)[1].strip().decode())
                    # Free the slot before the client sees the end, so it can start the
                    # next execution at once without a spurious concurrency 429.
                    release()
                yield event

        stopped = shutting_down(execution_id=prepared.execution_id)
        return EventStreamResponse(
            # Sent before the first event, so a client that stops early (or is cut off)
            # still knows which stored execution its partial text belongs to.
            events(), headers=[(b"x-execution-id", prepared.execution_id.encode())],
            on_close=release, ping_interval=ctx.config.ping_interval,
            stopping=ctx.stopping.event,
            farewell=lambda: sse("error", stopped.body(request_id, ctx.timestamp())),
        )

    try:
        # A client that goes away stops the model call, as a stream's does; the execution
        # is stored cancelled and its slot is free at once.
        outcome = await unless_client_leaves(request, ctx.executions.run(prepared),
                                             ctx.stopping)
    finally:
        release()
    if outcome.error is not None:
        error = outcome.error
        idempotency.remember(
            error.status, dumps(error.body(request.state.request_id, ctx.timestamp()))
        )
        raise error
    idempotency.remember(200, outcome.body)
    return Response(outcome.body, media_type="application/json")


def _replay(status: int, payload: str, *, stream: bool) -> Any:
    headers = {"Idempotent-Replayed": "true"}
    if stream and status == 200:
        record = json.loads(payload)

        async def events() -> AsyncIterator[bytes]:
            if record.get("content"):
                yield sse("delta", {"delta": record["content"]})
            yield sse("completed", record)

        return EventStreamResponse(
            events(), headers=[(b"idempotent-replayed", b"true")]
        )
    return Response(payload, status_code=status, media_type="application/json", headers=headers)


class HistoryQuery:
    """The filter every history read takes (list and export), as query parameters."""

    def __init__(
        self,
        template_id: str | None = Query(None, max_length=200),
        status: Literal["processing", "completed", "failed", "cancelled"] | None = None,
        date_from: str | None = Query(None, max_length=64, description="ISO 8601, inclusive"),
        date_to: str | None = Query(None, max_length=64, description="ISO 8601, inclusive"),
        batch_id: str | None = Query(None, max_length=200, description="Only this batch's items"),
        model: str | None = Query(None, max_length=200),
        template_version: str | None = Query(None, max_length=20),
        q: str | None = Query(None, max_length=500, description=(
            "Words the rendered prompt or the output must hold (a \"quoted phrase\" as "
            "written, word* a prefix); results are newest stored first")),
        min_cost: float | None = Query(None, ge=0),
        max_cost: float | None = Query(None, ge=0),
        min_execution_time: float | None = Query(None, ge=0, description="Seconds"),
        max_execution_time: float | None = Query(None, ge=0, description="Seconds"),
    ) -> None:
        self.template_id, self.status, self.batch_id = template_id, status, batch_id
        self.date_from, self.date_to, self.model = date_from, date_to, model
        self.template_version, self.q = template_version, q
        self.min_cost, self.max_cost = min_cost, max_cost
        self.min_execution_time, self.max_execution_time = min_execution_time, max_execution_time

    def resolve(self, ctx: Any, account_id: str) -> HistoryFilter:
        start = parse_iso("date_from", self.date_from)
        end = parse_iso("date_to", self.date_to)
        if start and end and start > end:
            raise validation("INVALID_PARAMETER", "'date_from' must not be after 'date_to'",
                             parameter="date_from")
        template = self.template_id
        if template is not None:  # an id, or a name (which may itself look like an id)
            row = ctx.templates.find_template_row(account_id, template)
            template = row["id"] if row else template
        if self.template_version is not None and template is None:
            raise validation("INVALID_PARAMETER", "'template_version' needs a 'template_id'",
                             parameter="template_version")
        return HistoryFilter(
            account_id=account_id, template_id=template,
            template_version=self.template_version, status=self.status, model=self.model,
            batch_id=self.batch_id, from_us=to_micros(start) if start else None,
            to_us=to_micros(end) if end else None,
            text=text_query(check_text(self.q)) if self.q else None, min_cost=self.min_cost,
            max_cost=self.max_cost, min_seconds=self.min_execution_time,
            max_seconds=self.max_execution_time)


@router.get("/v2/executions", tags=["executions"], summary="List execution history",
            responses={200: {"model": ExecutionList, "description": "A page, newest first"}})
async def list_executions(
    request: Request,
    query: Annotated[HistoryQuery, Depends()],
    limit: int = Query(20, ge=1, le=100, description="Results per page (1-100)"),
    offset: int = Query(0, ge=0, le=10_000_000),
    before: str | None = Query(None, max_length=100, description=(
        "Keyset cursor: the page of rows older than this one (pagination.next_cursor)")),
    after: str | None = Query(None, max_length=100, description=(
        "Keyset cursor: the page of rows newer than this one (pagination.prev_cursor)")),
    order: Literal["newest", "oldest"] = Query("newest", description=(
        "newest first (the spec's order), or the oldest page first")),
) -> Response:
    ctx = ctx_of(request)
    account_id = principal_of(request).account.id
    f = query.resolve(ctx, account_id)
    if before is not None and after is not None:
        raise validation("CONFLICTING_FIELDS", "Give 'before' or 'after', not both",
                         parameter="after")
    if order == "oldest" and (before is not None or after is not None):
        raise validation("CONFLICTING_FIELDS", "'order=oldest' takes no cursor: page on "
                         "from its rows with 'after' or 'before' alone", parameter="order")
    older = Cursor.decode(before, "before") if before else None
    newer = Cursor.decode(after, "after") if after else None
    sql, args = page_sql(f, limit, before=older, after=newer, oldest_first=order == "oldest",
                         offset=offset)

    def read(conn: sqlite3.Connection) -> tuple[list[Any], tuple[int, bool] | None]:
        rows = conn.execute(sql, args).fetchall()
        return rows, (None if f.counted_hourly else capped_count(conn, f))

    rows, counted = await ctx.database.read(read)
    if newer is not None:
        rows.reverse()  # the page just above the cursor, shown newest first like any page
    if counted is None:
        total, lower_bound = ctx.execution_store.count_executions(ExecutionFilter(
            account_id=account_id, template_id=f.template_id, status=f.status,
            from_us=f.from_us, to_us=f.to_us, batch_id=f.batch_id)), False
    else:
        total, lower_bound = counted
    items = [summary(r, lambda us: iso(from_micros(us))) for r in rows]
    page = pagination(total, limit, offset, len(rows))
    if older is not None or newer is not None or lower_bound:
        page["has_more"] = len(rows) == limit  # keyset pages and capped counts know no more
    page["total_is_lower_bound"] = lower_bound
    page["next_cursor"] = items[-1]["cursor"] if items else None
    page["prev_cursor"] = items[0]["cursor"] if items else None
    return json_response({"executions": items, "pagination": page})


EXPORT_COLUMNS = ("execution_id", "created_at", "status", "template_id", "template_version",
                  "model", "tokens_used", "cost", "execution_time", "batch_id", "error_code",
                  "rendered_prompt", "content")
EXPORT_CHUNK = 2000


@router.get("/v2/executions/export", tags=["executions"], summary="Export execution history",
            response_class=StreamingResponse,
            responses={200: {"description": "Every matching execution, newest first: JSON "
                             "lines (each a whole execution) or CSV",
                             "content": {"application/x-ndjson": {}, "text/csv": {}}}})
async def export_executions(
    request: Request,
    query: Annotated[HistoryQuery, Depends()],
    format: Literal["jsonl", "csv"] = "jsonl",
    limit: int | None = Query(None, ge=1, description="At most this many (default: all)"),
) -> Response:
    """Streams every execution the filter matches (or the newest `limit`), read a page at a
    time on the database's reader thread: constant memory, and the server keeps answering."""
    ctx = ctx_of(request)
    f = query.resolve(ctx, principal_of(request).account.id)
    columns = "e.seq, e.created_us, e.body"

    def read(cursor: Cursor | None, size: int) -> Callable[[sqlite3.Connection], list[Any]]:
        sql, args = page_sql(f, size, before=cursor, columns=columns)
        return lambda conn: conn.execute(sql, args).fetchall()

    async def chunks() -> AsyncIterator[bytes]:
        cursor: Cursor | None = None
        left = limit
        if format == "csv":
            yield csv_line(EXPORT_COLUMNS).encode()
        while left is None or left > 0:
            size = EXPORT_CHUNK if left is None else min(left, EXPORT_CHUNK)
            rows = await ctx.database.read(read(cursor, size))
            if not rows:
                return
            if left is not None:
                left -= len(rows)
            cursor = Cursor(rows[-1][1], rows[-1][0])
            if format == "jsonl":
                yield ("\n".join(r[2] for r in rows) + "\n").encode()
            else:
                yield "".join(csv_line(csv_row(orjson.loads(r[2]))) for r in rows).encode()
            if len(rows) < size:
                return

    media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
    name = f"executions.{format}"
    return StreamingResponse(chunks(), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


def csv_row(record: dict[str, Any]) -> list[Any]:
    metadata = record.get("metadata") or {}
    error = record.get("error") or {}
    return [record.get("execution_id"), record.get("created_at"), record.get("status"),
            record.get("template_id"), record.get("template_version"), metadata.get("model"),
            metadata.get("tokens_used"), metadata.get("cost"), metadata.get("execution_time"),
            record.get("batch_id"), error.get("code"), record.get("rendered_prompt"),
            record.get("content")]


def csv_line(values: Sequence[Any]) -> str:
    """One CSV record as the csv module writes it (minimal quoting, CRLF), at a third of its
    cost: with outputs of a kilobyte or more, csv.writer held the export to 33,000 rows/s."""
    return ",".join([_csv_field(value) for value in values]) + "\r\n"


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if '"' in value or "," in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value
    return repr(value) if isinstance(value, float) else str(value)


@router.get("/v2/executions/{execution_id}", tags=["executions"], summary="Get one execution",
            responses={200: {"model": Execution, "description": "The execution"},
                       **errors(404)})
async def get_execution(
    request: Request,
    execution_id: str,
    include_content: bool = True,
    include_metadata: bool = True,
) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    record = ctx.execution_store.get_execution(principal.account.id, execution_id)
    if record is None:
        raise not_found(
            "EXECUTION_NOT_FOUND",
            f"Execution '{execution_id}' was not found",
            execution_id=execution_id,
        )
    if not include_content:
        record.pop("content", None)
        record.pop("rendered_prompt", None)
    if not include_metadata:
        record.pop("metadata", None)
    return json_response(record)
