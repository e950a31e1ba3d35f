"""What every route needs, built once per app by the factory in app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .auth import Authenticator
from .catalog import ModelCatalog
from .clock import Clock, IdSource, iso
from .config import ServerConfig
from .execution import ExecutionService
from .plans import PlanLimits
from .ratelimit import RateLimiter
from .store import Store


@dataclass
class ServerContext:
    data_dir: Path
    store: Store
    clock: Clock
    ids: IdSource
    monotonic: Callable[[], float]
    config: ServerConfig
    plans: dict[str, PlanLimits]
    limiter: RateLimiter
    auth: Authenticator
    catalog: ModelCatalog
    executions: ExecutionService
    # Idempotency keys whose first request is still running: a duplicate gets a 409.
    inflight_keys: set[tuple[str, str, str]] = field(default_factory=set)

    def timestamp(self) -> str:
        return iso(self.clock())
