"""`POST /v2/execute`: one prompt, answered whole or streamed as server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...models import ExecuteRequest, Execution
from ..execution import sse
from ..jsonfast import dumps
from ..sse import EventStreamResponse
from .common import ctx_of, parse_body, principal_of
from .idempotency import Idempotency

router = APIRouter()
ENDPOINT = "POST /v2/execute"


@router.post(
    "/v2/execute",
    tags=["executions"],
    summary="Execute a prompt",
    response_model=Execution,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ExecuteRequest.model_json_schema()}},
        }
    },
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

    prepared = ctx.executions.prepare(account_id, principal.plan, body)
    ctx.limiter.acquire_slot(account_id, principal.plan)
    idempotency.hold()
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            ctx.limiter.release_slot(account_id)
            idempotency.release()

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

        return EventStreamResponse(
            events(), on_close=release, ping_interval=ctx.config.ping_interval
        )

    try:
        outcome = await ctx.executions.run(prepared)
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


