"""`GET /v2/executions` (filtered, newest first, exact totals) and `GET /v2/executions/{id}`."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..clock import from_micros, iso, to_micros
from ..errors import not_found, validation
from ..store import ExecutionFilter
from .common import ctx_of, json_response, pagination, parse_iso, principal_of

router = APIRouter()


@router.get("/v2/executions", tags=["executions"], summary="List execution history")
async def list_executions(
    request: Request,
    limit: int = Query(20, ge=1, le=100, description="Results per page (1-100)"),
    offset: int = Query(0, ge=0, le=10_000_000),
    template_id: str | None = Query(None, max_length=200),
    status: Literal["processing", "completed", "failed", "cancelled"] | None = None,
    date_from: str | None = Query(None, max_length=64, description="ISO 8601, inclusive"),
    date_to: str | None = Query(None, max_length=64, description="ISO 8601, inclusive"),
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
        row = ctx.store.find_template_row(account_id, template_id)
        resolved_template = row["id"] if row else template_id
    filters = ExecutionFilter(
        account_id=account_id,
        template_id=resolved_template,
        status=status,
        from_us=to_micros(start) if start else None,
        to_us=to_micros(end) if end else None,
    )
    rows = ctx.store.list_executions(filters, limit, offset)
    total = ctx.store.count_executions(filters)
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
    record = ctx.store.get_execution(principal.account.id, execution_id)
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
