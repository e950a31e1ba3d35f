"""`GET /v2/batch/{id}/webhooks`: every delivery attempt for one batch."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..batches.routes import find_batch
from ..core.http import ctx_of, json_response, principal_of

router = APIRouter()


@router.get("/v2/batch/{batch_id}/webhooks", tags=["batches"],
            summary="Every webhook delivery attempt for a batch")
async def webhook_log(request: Request, batch_id: str) -> Response:
    ctx = ctx_of(request)
    row = find_batch(ctx, principal_of(request).account.id, batch_id)
    return json_response({"batch_id": row.id, "webhook_url": row.options.get("callback_url"),
                          "deliveries": ctx.webhook_log.deliveries(row.id)})
