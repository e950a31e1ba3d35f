"""Helpers every area's routes share: context access, JSON bodies and responses, pagination."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from .auth import Principal
from .errors import ApiError, validation
from .jsonfast import dumps_bytes

if TYPE_CHECKING:
    from ..context import ServerContext

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def ctx_of(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def principal_of(request: Request, permission: str | None = None) -> Principal:
    principal: Principal = request.state.principal
    if permission is not None:
        principal.require(permission)
    return principal


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps_bytes(data),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def wait_for_disconnect(receive: Any) -> None:
    """Returns when the client has gone (the ASGI server says `http.disconnect`)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class Stopping:
    """The server's shutdown, as work under way sees it: streams wait on `event`, and calls
    in `unless_client_leaves` are cancelled through their callbacks."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.callbacks: set[Callable[[str], None]] = set()

    def begin(self) -> None:
        self.event.set()
        for cancel in list(self.callbacks):
            cancel("stopping")


# Work that ends sooner than this is never watched (most executes end within a millisecond,
# and watching costs a task); a client that leaves is noticed this much later at most.
WATCH_AFTER = 0.05


async def unless_client_leaves(request: Request, work: Awaitable[T], stopping: Stopping) -> T:
    """Awaits `work` in this task, cancelling it if the client disconnects (then
    ClientDisconnect, which the middleware logs in one line) or the server begins to stop (a
    503 to retry)."""
    task = asyncio.current_task()
    assert task is not None
    why: list[str] = []
    watcher: asyncio.Future[None] | None = None

    def cancel(reason: str) -> None:
        if not why:
            why.append(reason)
            task.cancel()

    async def watch_receive() -> None:
        await wait_for_disconnect(request.receive)
        cancel("disconnect")

    def start_watching() -> None:
        nonlocal watcher
        watcher = asyncio.ensure_future(watch_receive())

    timer = asyncio.get_running_loop().call_later(WATCH_AFTER, start_watching)
    stopping.callbacks.add(cancel)
    try:
        return await work
    except asyncio.CancelledError:
        if not why:
            raise
        task.uncancel()
        if why[0] == "disconnect":
            raise ClientDisconnect from None
        raise shutting_down() from None
    finally:
        timer.cancel()
        stopping.callbacks.discard(cancel)
        if watcher is not None:
            watcher.cancel()


def shutting_down(**details: Any) -> ApiError:
    return ApiError("service_unavailable", "SERVER_SHUTTING_DOWN",
                    "The server is shutting down; the execution was cancelled. Retry in a "
                    "moment", details=details or None, headers={"Retry-After": "1"})


def pagination(total: int, limit: int, offset: int, returned: int) -> dict[str, Any]:
    return {"total": total, "limit": limit, "offset": offset,
            "has_more": offset + returned < total}


def public_base(request: Request) -> str:
    """Where the API is reached, for URLs in bodies: `public_url` from server.toml, else the
    address this server is bound to. Never the request's Host header, which the client
    chooses (and a link built from it could point anywhere)."""
    configured = ctx_of(request).config.public_url
    if configured:
        return f"{configured}/v2"
    server = request.scope.get("server")
    if not server:
        return "/v2"
    host, port = server[0], server[1]
    shown = f"[{host}]" if ":" in str(host) else host
    scheme = request.scope.get("scheme", "http")
    return f"{scheme}://{shown}:{port}/v2" if port else f"{scheme}://{shown}/v2"


def _check_json_content_type(request: Request) -> None:
    """A body declared as something else than JSON is a 415 (none declared is read as JSON,
    as most clients' raw examples send it)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/")
                                        and media.endswith("+json")):
        return
    raise ApiError("validation_error", "UNSUPPORTED_MEDIA_TYPE",
                   f"The request body must be JSON (Content-Type: application/json), not "
                   f"'{declared[:100]}'", status=415,
                   details={"content_type": declared[:100], "expected": "application/json"})


async def parse_body(request: Request, model: type[M]) -> tuple[M, bytes]:
    _check_json_content_type(request)
    raw = await request.body()
    if not raw.strip():
        raise validation("INVALID_JSON", "The request body must be a JSON object")
    try:
        return model.model_validate_json(raw), raw
    except ValidationError as exc:
        raise validation_error_from(exc) from None


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _safe_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    if isinstance(value, dict | list):
        text = json.dumps(value)
        return value if len(text) <= 200 else text[:200] + "…"
    return value


def validation_error_from(exc: ValidationError) -> ApiError:
    """One clear message for the first problem, and every problem in `details.errors`."""
    errors = exc.errors(include_url=False)
    listed = [
        {"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]} for e in errors[:20]
    ]
    first = errors[0]
    name = _field(first["loc"])
    kind = first["type"]
    if kind == "json_invalid":
        return validation(
            "INVALID_JSON",
            f"The request body is not valid JSON: {first['ctx'].get('error', first['msg'])}"
            if first.get("ctx")
            else "The request body is not valid JSON",
        )
    if kind == "model_type" or (kind.endswith("_type") and not first["loc"]):
        return validation("INVALID_JSON", "The request body must be a JSON object")
    if kind == "missing":
        return validation(
            "MISSING_REQUIRED_FIELD",
            f"The '{name}' field is required",
            field=name,
            provided_value=None,
            errors=listed,
        )
    if kind == "extra_forbidden":
        return validation(
            "UNKNOWN_FIELD", f"Unknown field '{name}'", field=name, errors=listed
        )
    details: dict[str, Any] = {"field": name, "errors": listed}
    if "input" in first:
        details["provided_value"] = _safe_value(first["input"])
    code = "INVALID_FIELD_TYPE" if kind.endswith("_type") or "parsing" in kind else "INVALID_FIELD"
    return ApiError("validation_error", code, f"Field '{name}': {first['msg']}", details=details)


def parse_iso(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise validation(
            "INVALID_PARAMETER",
            f"'{name}' must be an ISO 8601 date or date-time, like 2024-01-15T09:15:30Z",
            parameter=name,
            provided_value=value[:100],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
