"""promptexecution: SDK, server and console for the Prompt Execution API v2.1.

    from promptexecution import PromptExecutionClient, AsyncPromptExecutionClient

The clients load on first use, so `import promptexecution` (and `pe --help`) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "PromptExecutionClient": "promptexecution.client",
    "AsyncPromptExecutionClient": "promptexecution.client",
    "SyncPromptExecutionClient": "promptexecution.client",
    "ExecutionResult": "promptexecution.client",
    "RateLimitState": "promptexecution.client",
    "RequestEvent": "promptexecution.client",
    "APIError": "promptexecution.exceptions",
}

if TYPE_CHECKING:
    from .client import (
        AsyncPromptExecutionClient,
        ExecutionResult,
        PromptExecutionClient,
        RateLimitState,
        RequestEvent,
        SyncPromptExecutionClient,
    )
    from .exceptions import APIError


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'promptexecution' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "APIError",
    "AsyncPromptExecutionClient",
    "ExecutionResult",
    "PromptExecutionClient",
    "RateLimitState",
    "RequestEvent",
    "SyncPromptExecutionClient",
    "__version__",
]
