"""The app factory: one FastAPI app over one data directory.

Tests and snapshots pass a fixed clock, a seeded id source and a fake monotonic timer; the
CLI passes nothing and gets the real ones.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import request_response

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
from .core.handlers import install_error_handlers
from .core.idempotency import RETENTION_US, IdempotencyStore
from .core.middleware import ApiMiddleware
from .core.openapi import install_openapi
from .core.plans import plans_with_overrides
from .core.ratelimit import RateLimiter, UsageStore
from .db.connection import Database, make_data_dir, unavailable
from .executions import routes as execution_routes
from .executions import stats as execution_stats
from .executions.service import ExecutionService
from .executions.store import ExecutionStore
from .executions.text_index import TextIndex
from .providers import routes as provider_routes
from .providers.catalog import ModelCatalog
from .providers.pricing import PriceTable
from .templates import labels as template_labels
from .templates import preview as template_preview
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
TEXT_DB_NAME = "pe-text.sqlite3"  # the full-text index (executions/text_index.py)


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
    text_index = TextIndex(data_dir / DB_NAME, data_dir / TEXT_DB_NAME)
    database.attach_to_reads("text", data_dir / TEXT_DB_NAME)
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
        text_index=text_index,
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


def _skip_parameter_solving(app: FastAPI) -> None:
    """Routes that take nothing but the request (they read their own bodies) are served as
    plain Starlette endpoints: FastAPI's parameter solving costs `POST /v2/execute` a tenth
    of its time and has nothing to do there. FastAPI still documents them."""
    for route in app.router.routes:
        if not isinstance(route, APIRoute):
            continue
        d = route.dependant
        if d.request_param_name and not (d.path_params or d.query_params or d.header_params
                                         or d.cookie_params or d.body_params or d.dependencies):
            route.app = request_response(route.endpoint)


def create_app(
    data_dir: Path | str,
    *,
    config: ServerConfig | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    monotonic: Callable[[], float] | None = None,
    bind_host: str = "127.0.0.1",
) -> FastAPI:
    data_dir = Path(data_dir)
    try:
        ctx = build_context(data_dir, bind_host=bind_host, config=config, clock=clock, ids=ids,
                            monotonic=monotonic)
        _recover(ctx)
        ensure_local_account(ctx)
    except sqlite3.DatabaseError as exc:  # damaged past what opening it reads
        raise unavailable(data_dir / DB_NAME, exc) from None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything allocated at start-up lives as long as the server: keep it out of the
        # collector's way, which shortens the full collections that show up as p99 spikes.
        gc.freeze()
        ctx.loop = asyncio.get_running_loop()
        runner.start()
        sender.start()
        ctx.text_index.start()
        # The render workers start a moment later, not competing with the server's own
        # start (a render before then starts them itself).
        warm = ctx.loop.call_later(1.0, ctx.renderer.pool.warm_up)
        yield
        warm.cancel()
        ctx.stopping.begin()
        await runner.stop()
        await sender.aclose()
        await ctx.renderer.pool.close()
        await ctx.catalog.aclose()
        ctx.text_index.stop()
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
    for router in (execution_routes.router, template_preview.router, template_routes.router,
                   template_labels.router, execution_stats.router, batch_routes.router,
                   provider_routes.router, core_routes.router):
        app.router.routes.extend(router.routes)
    # A trailing slash is a 404 in the error shape, not a redirect: Starlette's redirect
    # builds its Location from the request's Host header, which a server must never trust.
    app.router.redirect_slashes = False
    _skip_parameter_solving(app)
    install_error_handlers(app, ctx.timestamp)
    install_openapi(app)
    app.add_middleware(ApiMiddleware, ctx=ctx)
    return app
