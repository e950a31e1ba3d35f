"""Health, readiness, key verification and rate limits."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .http import ctx_of, json_response, principal_of

router = APIRouter()


@router.get("/health", tags=["meta"], summary="Liveness: 200 once the server serves")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get("/ready", tags=["meta"],
            summary="Readiness: 200 when the database can be read and written")
async def ready(request: Request) -> Response:
    ctx = ctx_of(request)
    reason = ctx.database.readiness(ctx.data_dir)
    if reason is None:
        return json_response({"status": "ready"})
    return json_response({"status": "unavailable", "reason": reason}, status=503)


@router.get("/v2/auth/verify", tags=["auth"], summary="Check an API key")
async def verify(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    rate = request.state.rate
    return json_response(
        {
            "valid": True,
            "account_id": principal.account.id,
            "plan": principal.plan.name,
            "permissions": principal.key.permissions,
            "rate_limit": {
                "requests_per_hour": principal.plan.requests_per_hour,
                "remaining": rate.hourly_remaining,
            },
            "key": {
                "id": principal.key.id,
                "name": principal.key.name,
                "prefix": principal.key.display_prefix,
                "mode": principal.key.mode,
            },
            "server_time": ctx.timestamp(),
        }
    )


@router.get("/v2/rate-limits", tags=["auth"], summary="Current usage against your plan")
async def rate_limits(request: Request) -> Response:
    principal_of(request)
    return json_response(request.state.rate.as_json())
