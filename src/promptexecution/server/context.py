"""What every route needs, built once per app by the factory in app.py.

It names a type from every area, so it sits beside the factory, above the areas; the areas
import it only for type checking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .batches.store import BatchStore
from .core.accounts import AccountStore
from .core.auth import Authenticator
from .core.clock import Clock, IdSource, iso
from .core.config import ServerConfig
from .core.http import Stopping
from .core.idempotency import IdempotencyStore
from .core.plans import PlanLimits
from .core.ratelimit import RateLimiter
from .db.connection import Database
from .executions.service import ExecutionService
from .executions.store import ExecutionStore
from .executions.text_index import TextIndex
from .providers.catalog import ModelCatalog
from .templates.rendering import Renderer
from .templates.store import TemplateStore
from .webhooks.store import WebhookStore
from .webhooks.targets import TargetPolicy


@dataclass
class ServerContext:
    data_dir: Path
    database: Database
    accounts: AccountStore
    templates: TemplateStore
    execution_store: ExecutionStore
    batch_store: BatchStore
    idempotency: IdempotencyStore
    webhook_store: WebhookStore
    webhook_targets: TargetPolicy
    clock: Clock
    ids: IdSource
    monotonic: Callable[[], float]
    config: ServerConfig
    plans: dict[str, PlanLimits]
    limiter: RateLimiter
    auth: Authenticator
    catalog: ModelCatalog
    renderer: Renderer
    executions: ExecutionService
    text_index: TextIndex
    # Idempotency keys whose first request is still running: a duplicate gets a 409.
    inflight_keys: set[tuple[str, str, str]] = field(default_factory=set)
    # Render previews running per account (they spend no quota, so they are capped instead).
    previews: dict[str, int] = field(default_factory=dict)
    # Begun when the server shuts down: open streams and plain executes end at once.
    stopping: Stopping = field(default_factory=Stopping)
    loop: asyncio.AbstractEventLoop | None = None

    def timestamp(self) -> str:
        return iso(self.clock())

    def stop_soon(self) -> None:
        """Starts the shutdown of open streams; safe from a signal handler or a thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stopping.begin)
