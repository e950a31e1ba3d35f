"""The app factory: one FastAPI app over one data directory.

Tests and snapshots pass a fixed clock, a seeded id source and a fake monotonic timer; the
CLI passes nothing and gets the real ones.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .batches import routes as batch_routes
from .batches.runner import BatchRunner
from .batches.store import BatchRow, BatchStore
from .bootstrap import ensure_local_account
from .context import ServerContext
from .core import routes as core_routes
from .core.accounts import AccountStore
from .core.auth import Authenticator
from .core.clock import Clock, IdSource, system_clock, to_micros
from .core.config import ServerConfig, load_config
from .core.errors import ApiError
from .core.idempotency import RETENTION_US, IdempotencyStore
from .core.middleware import ApiMiddleware, error_response_parts
from .core.plans import plans_with_overrides
from .core.ratelimit import RateLimiter, UsageStore
from .db.connection import Database, make_data_dir
from .executions import routes as execution_routes
from .executions.service import ExecutionService
from .executions.store import ExecutionStore
from .providers import routes as provider_routes
from .providers.catalog import ModelCatalog
from .providers.pricing import PriceTable
from .templates import routes as template_routes
from .templates.limits import RenderLimits
from .templates.pool import RenderPool
from .templates.rendering import Renderer
from .templates.store import TemplateStore
from .webhooks.sender import WebhookSender
from .webhooks.store import WebhookStore
from .webhooks.targets import TargetPolicy

log = logging.getLogger("promptexecution.server")
DB_NAME = "pe.sqlite3"


def build_context(
    data_dir: Path,
    *,
    bind_host: str = "127.0.0.1",
    config: ServerConfig | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    monotonic: Callable[[], float] | None = None,
) -> ServerContext:
    make_data_dir(data_dir)
    config = config if config is not None else load_config(data_dir / "server.toml")
    clock = clock or system_clock
    ids = ids or IdSource()
    monotonic = monotonic or time.perf_counter
    database = Database(data_dir / DB_NAME)
    database.start_background_checkpoints()
    accounts = AccountStore(database, ids)
    templates = TemplateStore(database)
    execution_store = ExecutionStore(database)
    plans = plans_with_overrides(config.plans)
    catalog = ModelCatalog(config, PriceTable(config.pricing))
    renderer = Renderer(RenderPool(RenderLimits(
        timeout=config.render_timeout, memory_mib=config.render_memory_mib,
        workers=config.render_workers)))
    return ServerContext(
        data_dir=data_dir,
        database=database,
        accounts=accounts,
        templates=templates,
        execution_store=execution_store,
        batch_store=BatchStore(database, execution_store),
        idempotency=IdempotencyStore(database),
        webhook_store=WebhookStore(database, clock),
        webhook_targets=TargetPolicy.build(bind_host, config.webhook_allow),
        clock=clock,
        ids=ids,
        monotonic=monotonic,
        config=config,
        plans=plans,
        limiter=RateLimiter(clock, UsageStore(database)),
        auth=Authenticator(database, accounts, plans),
        catalog=catalog,
        renderer=renderer,
        executions=ExecutionService(database, templates, execution_store, catalog, renderer,
                                    clock, ids, monotonic),
    )


def _recover(ctx: ServerContext) -> None:
    """Executions a killed server left `processing` can never finish: mark them failed."""
    for account_id, record in ctx.execution_store.stale_processing():
        record["status"] = "failed"
        record["completed_at"] = ctx.timestamp()
        record["error"] = {
            "type": "server_error",
            "code": "SERVER_RESTARTED",
            "message": "The server stopped while this execution was running",
        }
        ctx.execution_store.update_execution(account_id, record)
    ctx.idempotency.prune(to_micros(ctx.clock()) - RETENTION_US)


def create_app(
    data_dir: Path | str,
    *,
    config: ServerConfig | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    monotonic: Callable[[], float] | None = None,
    bind_host: str = "127.0.0.1",
) -> FastAPI:
    ctx = build_context(Path(data_dir), bind_host=bind_host, config=config, clock=clock, ids=ids,
                        monotonic=monotonic)
    _recover(ctx)
    ensure_local_account(ctx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything allocated at start-up lives as long as the server: keep it out of the
        # collector's way, which shortens the full collections that show up as p99 spikes.
        gc.freeze()
        runner.start()
        sender.start()
        ctx.renderer.pool.warm_up()
        yield
        await runner.stop()
        await sender.aclose()
        await ctx.renderer.pool.close()
        await ctx.catalog.aclose()
        ctx.limiter.flush()

    app = FastAPI(
        title="Prompt Execution API",
        version="2.1",
        summary=f"Self-hosted implementation (promptexecution {__version__})",
        description=(
            "Request bodies are limited to 1 MiB (32 MiB for `POST /v2/batch`); larger ones "
            "get 413. Errors always have the shape `{\"error\": {type, code, message, "
            "details?, request_id, timestamp}}`."
        ),
        openapi_url="/v2/openapi.json",
        docs_url="/v2/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    sender = WebhookSender(ctx)
    def notify(row: BatchRow, event: str) -> None:
        payload = {"event": event, "batch_id": row.id, "status": row.status,
                   "summary": row.summary(), "timestamp": ctx.timestamp()}
        sender.send(row.account_id, row.id, row.options.get("callback_url"), event, payload)

    runner = BatchRunner(
        ctx,
        on_finish=lambda row: notify(row, f"batch.{row.status}"),
        on_progress=lambda row: notify(row, "batch.progress"),
    )
    app.state.batch_runner = runner
    # Routes go straight onto the app: FastAPI's include_router wraps each router in lazily
    # matched layers that cost every request a few percent (our routers add no prefix).
    for router in (execution_routes.router, template_routes.router, batch_routes.router,
                   provider_routes.router, core_routes.router):
        app.router.routes.extend(router.routes)
    _install_error_handlers(app, ctx)
    app.add_middleware(ApiMiddleware, ctx=ctx)
    return app


def _install_error_handlers(app: FastAPI, ctx: ServerContext) -> None:
    def render(request: Request, error: ApiError) -> Response:
        if error.rate is not None:
            request.state.rate = error.rate
        status, headers, body = error_response_parts(
            error, request.state.request_id, ctx.timestamp()
        )
        response = Response(body, status_code=status)
        response.raw_headers = headers
        return response

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return render(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        details: dict[str, Any] = {"parameter": name, "location": where}
        if "input" in first:
            details["provided_value"] = first["input"]
        return render(
            request,
            ApiError(
                "validation_error",
                "INVALID_PARAMETER",
                f"Invalid {where} parameter '{name}': {first.get('msg', 'invalid value')}",
                details=details,
            ),
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error = ApiError(
                "not_found_error",
                "ROUTE_NOT_FOUND",
                f"No endpoint at {request.method} {request.url.path}; see /v2/openapi.json",
            )
        elif exc.status_code == 405:
            error = ApiError(
                "validation_error",
                "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed on {request.url.path}",
                status=405,
                headers={"Allow": (exc.headers or {}).get("Allow", "")},
            )
        else:
            error = ApiError("server_error", "HTTP_ERROR", str(exc.detail), status=exc.status_code)
        return render(request, error)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
