"""The outer ASGI layer every request passes: request ids, body size limits, authentication,
rate limits with their headers, and a last-resort 500 that still has the spec's shape.

Written as plain ASGI (not BaseHTTPMiddleware) because it runs on every request and must
also wrap streamed responses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect

from ...models import MAX_BATCH_BODY_BYTES
from ..db.connection import is_storage_failure
from .errors import ApiError
from .jsonfast import dumps_bytes

if TYPE_CHECKING:
    from ..context import ServerContext

log = logging.getLogger("promptexecution.server")

PUBLIC_PATHS = frozenset({"/health", "/ready", "/v2/openapi.json", "/v2/docs"})
DEFAULT_BODY_LIMIT = 1 * 1024 * 1024
BATCH_BODY_LIMIT = MAX_BATCH_BODY_BYTES


def body_limit(path: str) -> int:
    return BATCH_BODY_LIMIT if path.rstrip("/") == "/v2/batch" else DEFAULT_BODY_LIMIT


def counts_as_work(method: str, path: str) -> bool:
    """Requests that create work count against the hourly and burst limits; reads don't, nor
    does a render preview (an editor sends one per pause in typing, and it runs no model)."""
    return (method in ("POST", "PUT", "PATCH", "DELETE") and not path.endswith("/cancel")
            and path != "/v2/preview")


class _BodyTooLarge(Exception):
    pass


def error_response_parts(
    error: ApiError, request_id: str, timestamp: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = dumps_bytes(error.body(request_id, timestamp))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    return error.status, headers, body


class ApiMiddleware:
    def __init__(self, app: Any, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = self.ctx
        request_id = ctx.ids.new("req")
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extra_headers: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        started = False

        async def send_with_headers(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _refund_undone_work(ctx, state, message["status"])
                rate = state.get("rate")
                headers = list(message.get("headers", [])) + extra_headers
                if rate is not None:
                    headers += rate.headers()
                message = {**message, "headers": headers}
            await send(message)

        async def fail(error: ApiError) -> None:
            status, headers, body = error_response_parts(
                error, request_id, ctx.timestamp()
            )
            await send_with_headers(
                {"type": "http.response.start", "status": status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})

        path: str = scope["path"]
        method: str = scope["method"]
        limit = body_limit(path)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await fail(_too_large(limit))
            return

        if path.startswith("/v2/") and path not in PUBLIC_PATHS:
            try:
                principal = ctx.auth.authenticate(_header(scope, b"authorization"))
                state["principal"] = principal
                account_id = principal.account.id
                if counts_as_work(method, path):
                    state["rate"] = state["consumed"] = ctx.limiter.consume(account_id,
                                                                           principal.plan)
                else:
                    state["rate"] = ctx.limiter.snapshot(account_id, principal.plan)
            except ApiError as error:
                if error.rate is not None:
                    state["rate"] = error.rate
                await fail(error)
                return

        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        # With a Content-Length (checked above) the server already stops the body there;
        # only chunked bodies need counting as they arrive.
        body_receive = receive if declared is not None else limited_receive
        try:
            await self.app(scope, body_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await fail(_too_large(limit))
        except ClientDisconnect:
            # Nobody is left to answer; not the server's error either.
            log.info("%s %s (request_id=%s): the client disconnected before its request "
                     "body arrived", method, path, request_id)
        except Exception as exc:
            if is_storage_failure(exc):
                # The disk, not the request: say so, and that it is worth retrying later.
                ctx.database.note_write_failure(exc)
                log.error("%s %s (request_id=%s): storage failed: %s", method, path,
                          request_id, exc)
                failure = ApiError("service_unavailable", "STORAGE_UNAVAILABLE",
                                   f"The server cannot store data right now ({exc}); retry "
                                   "later", headers={"Retry-After": "30"})
            else:
                log.exception("unhandled error in %s %s (request_id=%s)", method, path,
                              request_id)
                failure = ApiError("server_error", "INTERNAL_ERROR",
                                   "An unexpected error occurred; it has been logged. Quote "
                                   "the request_id if you report it")
            if not started:
                await fail(failure)


def _refund_undone_work(ctx: ServerContext, state: dict[str, Any], status: int) -> None:
    """A request refused (429) or failed by the server (5xx), or answered without new work
    (an idempotent replay, a key still in use), gives back the quota it took, so neither
    those nor the SDK's retries of them use any."""
    consumed = state.get("consumed")
    if consumed is None or not (status == 429 or status >= 500 or state.get("uncounted")):
        return
    principal = state["principal"]
    ctx.limiter.refund(principal.account.id, consumed)
    state["rate"] = ctx.limiter.snapshot(principal.account.id, principal.plan)
    state["consumed"] = None


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _too_large(limit: int) -> ApiError:
    return ApiError(
        "validation_error",
        "PAYLOAD_TOO_LARGE",
        f"The request body exceeds this endpoint's limit of {limit // (1024 * 1024)} MiB",
        details={"limit_bytes": limit},
        status=413,
    )
