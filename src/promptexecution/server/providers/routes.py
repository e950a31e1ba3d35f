"""`GET /v2/models`: the models this server can run, with their prices."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..core.http import ctx_of, json_response, principal_of

router = APIRouter()


@router.get("/v2/models", tags=["models"], summary="Models this server can run")
async def models(request: Request) -> Response:
    principal_of(request)
    return json_response(ctx_of(request).catalog.listing())
