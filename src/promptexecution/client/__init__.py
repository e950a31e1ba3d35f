"""The SDK's clients: async-first, with a sync twin sharing one core."""

from __future__ import annotations

from ._async import AsyncPromptExecutionClient
from ._core import RateLimitState, RequestEvent
from ._sync import PromptExecutionClient, SyncPromptExecutionClient
from .streaming import AsyncExecutionStream, ExecutionStream
from .types import (
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionResult,
    StreamEvent,
    TextDelta,
)

__all__ = [
    "AsyncExecutionStream",
    "AsyncPromptExecutionClient",
    "ExecutionCompleted",
    "ExecutionFailed",
    "ExecutionResult",
    "ExecutionStream",
    "PromptExecutionClient",
    "RateLimitState",
    "RequestEvent",
    "StreamEvent",
    "SyncPromptExecutionClient",
    "TextDelta",
]
