"""`POST /v2/execute`: one prompt, answered whole or streamed as server-sent events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...models import ExecuteRequest, Execution
from ..clock import to_micros
from ..errors import conflict, validation
from ..execution import sse
from ..jsonfast import dumps
from ..sse import EventStreamResponse
from .common import ctx_of, parse_body, principal_of

router = APIRouter()
ENDPOINT = "POST /v2/execute"
IDEMPOTENCY_WINDOW = timedelta(hours=24)


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

    key = request.headers.get("idempotency-key")
    body_hash = hashlib.sha256(raw).hexdigest() if key is not None else ""
    if key is not None:
        if not 1 <= len(key) <= 255:
            raise validation(
                "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be 1 to 255 characters"
            )
        since = to_micros(ctx.clock() - IDEMPOTENCY_WINDOW)
        previous = ctx.store.get_idempotent(account_id, ENDPOINT, key, since)
        if previous is not None:
            if previous["body_hash"] != body_hash:
                raise validation(
                    "IDEMPOTENCY_KEY_REUSED",
                    "This Idempotency-Key was used with a different request body; "
                    "use a new key for a new request",
                )
            return _replay(previous["status_code"], previous["response"], body.stream)
        marker = (account_id, ENDPOINT, key)
        if marker in ctx.inflight_keys:
            raise conflict(
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still running; retry shortly",
            )

    prepared = ctx.executions.prepare(principal, body)
    ctx.limiter.acquire_slot(account_id, principal.plan)

    def remember(status: int, payload: str) -> None:
        if key is not None:
            ctx.store.put_idempotent(
                account_id, ENDPOINT, key, body_hash, status, payload, to_micros(ctx.clock())
            )

    if key is not None:
        ctx.inflight_keys.add((account_id, ENDPOINT, key))

    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            ctx.limiter.release_slot(account_id)
            if key is not None:
                ctx.inflight_keys.discard((account_id, ENDPOINT, key))

    if body.stream:
        request_id = request.state.request_id

        async def events() -> AsyncIterator[bytes]:
            async for event in ctx.executions.stream(prepared, request_id):
                final = event.startswith((b"event: completed", b"event: error"))
                if final:
                    if key is not None and event.startswith(b"event: completed"):
                        remember(200, event.split(b"data: ", 1)[1].strip().decode())
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
        if outcome.error.status < 500:
            error = outcome.error
            remember(
                error.status,
                dumps(error.body(request.state.request_id, ctx.timestamp())),
            )
        raise outcome.error
    remember(200, outcome.body)
    return Response(outcome.body, media_type="application/json")


def _replay(status: int, payload: str, stream: bool) -> Any:
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


