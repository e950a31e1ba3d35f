"""`POST /v2/execute` (one prompt, answered whole or streamed as server-sent events), and
history: `GET /v2/executions` (filtered, newest first, exact totals) and
`GET /v2/executions/{id}`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...models import ExecuteRequest, Execution
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


@router.get("/v2/executions", tags=["executions"], summary="List execution history")
async def list_executions(
    request: Request,
    limit: int = Query(20, ge=1, le=100, description="Results per page (1-100)"),
    offset: int = Query(0, ge=0, le=10_000_000),
    template_id: str | None = Query(None, max_length=200),
    status: Literal["processing", "completed", "failed", "cancelled"] | None = None,
    date_from: str | None = Query(None, max_length=64, description="ISO 8601, inclusive"),
    date_to: str | None = Query(None, max_length=64, description="ISO 8601, inclusive"),
    batch_id: str | None = Query(None, max_length=200, description="Only this batch's items"),
) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    start = parse_iso("date_from", date_from)
    end = parse_iso("date_to", date_to)
    if start and end and start > end:
        raise validation(
            "INVALID_PARAMETER",
            "'date_from' must not be after 'date_to'",
            parameter="date_from",
        )
    account_id = principal.account.id
    resolved_template = template_id
    if template_id is not None:  # an id, or a name (which may itself look like an id)
        row = ctx.templates.find_template_row(account_id, template_id)
        resolved_template = row["id"] if row else template_id
    filters = ExecutionFilter(
        account_id=account_id,
        template_id=resolved_template,
        status=status,
        from_us=to_micros(start) if start else None,
        to_us=to_micros(end) if end else None,
        batch_id=batch_id,
    )
    rows = ctx.execution_store.list_executions(filters, limit, offset)
    total = ctx.execution_store.count_executions(filters)
    return json_response(
        {
            "executions": [
                {
                    "execution_id": r["id"],
                    "template_id": r["template_id"],
                    "status": r["status"],
                    "model": r["model"],
                    "tokens_used": r["tokens_used"],
                    "cost": r["cost"],
                    "created_at": iso(from_micros(r["created_us"])),
                    "batch_id": r["batch_id"],
                }
                for r in rows
            ],
            "pagination": pagination(total, limit, offset, len(rows)),
        }
    )


@router.get("/v2/executions/{execution_id}", tags=["executions"], summary="Get one execution")
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
