"""Streamed executions: server-sent events (parsed by httpx-sse) turned into typed events.

`delta` events become `TextDelta`, the final `completed` an `ExecutionCompleted`, an `error`
an `ExecutionFailed`. A stream that breaks or goes silent for longer than the chunk timeout
raises `StreamInterruptedError`, which still carries the text received so far.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from ..exceptions import APIError, StreamInterruptedError, error_from_body
from ..models import BatchProgress, BatchSummary
from .types import (
    BatchEvent,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionResult,
    StreamEvent,
    TextDelta,
)

if TYPE_CHECKING:
    from ._async import AsyncPromptExecutionClient
    from ._core import RequestSpec
    from ._sync import SyncPromptExecutionClient


class _StreamState:
    """Parsing and bookkeeping shared by the sync and async streams."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.final: ExecutionResult | None = None
        self.error: APIError | None = None
        self.request_id: str | None = None
        self.execution_id: str | None = None  # from X-Execution-Id, before any event
        self.opened = time.monotonic()

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def finished(self) -> bool:
        return self.final is not None or self.error is not None

    def handle(self, sse: ServerSentEvent) -> StreamEvent | None:
        try:
            data: Any = json.loads(sse.data) if sse.data else None
        except ValueError:
            return None
        if sse.event == "delta" and isinstance(data, dict):
            text = str(data.get("delta", ""))
            self.parts.append(text)
            return TextDelta(text)
        if sse.event == "completed" and isinstance(data, dict):
            self.final = ExecutionResult.model_validate(data)
            return ExecutionCompleted(self.final)
        if sse.event == "error":
            status = _status_for(data)
            self.error = error_from_body(status, data, {"x-request-id": self.request_id or ""})
            return ExecutionFailed(self.error)
        return None  # unknown events from a newer server are skipped

    def interrupted(self, cause: BaseException | None) -> StreamInterruptedError:
        why = f": {type(cause).__name__}" if cause else " before its final event"
        return StreamInterruptedError(
            f"The stream was cut off{why}; {len(self.text)} characters had arrived",
            partial_text=self.text,
            request_id=self.request_id,
        )

    def result(self) -> ExecutionResult:
        if self.error is not None:
            raise self.error
        if self.final is None:
            raise self.interrupted(None)
        return self.final


def _report_completed(core: Any, spec: RequestSpec, state: _StreamState) -> None:
    """Observers learn a stream's cost from its final event (see RequestEvent)."""
    meta = state.final.metadata if state.final is not None else None
    core.observe_stream_completed(spec, state.request_id, time.monotonic() - state.opened,
                                  meta.cost if meta is not None else None)


def _status_for(data: Any) -> int:
    """An error event has no HTTP status of its own: the one the same error gets without
    streaming, so error classes and `status_code` match the non-streamed call."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return 500
    if error.get("code") == "CONTENT_POLICY_VIOLATION":
        return 400
    return {"service_unavailable": 503, "rate_limit_error": 429}.get(str(error.get("type")), 500)


class AsyncExecutionStream:
    """`async with client.stream(...) as stream: async for event in stream: ...`"""

    def __init__(self, client: AsyncPromptExecutionClient, spec: RequestSpec) -> None:
        self._client = client
        self._spec = spec
        self._state = _StreamState()
        self._response: httpx.Response | None = None
        self._iterator: AsyncIterator[ServerSentEvent] | None = None

    async def __aenter__(self) -> AsyncExecutionStream:
        self._state.opened = time.monotonic()
        self._response = await self._client._open_stream(self._spec)
        self._state.request_id = self._response.headers.get("x-request-id")
        self._state.execution_id = self._response.headers.get("x-execution-id")
        self._iterator = EventSource(self._response).aiter_sse()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.aclose()

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text

    @property
    def execution_id(self) -> str | None:
        """The stored execution this stream is (our server's X-Execution-Id), known from the
        start: a stream stopped or cut off early can still be found in history."""
        return self._state.execution_id

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            raise RuntimeError("use the stream inside 'async with client.stream(...)'")
        try:
            async for sse in self._iterator:
                event = self._state.handle(sse)
                if isinstance(event, ExecutionCompleted):
                    _report_completed(self._client._core, self._spec, self._state)
                if event is not None:
                    yield event
                if self._state.finished:
                    return
        except httpx.HTTPError as exc:
            raise self._state.interrupted(exc) from exc
        raise self._state.interrupted(None)

    async def final_execution(self) -> ExecutionResult:
        """Reads the rest of the stream; the finished execution, or its error raised."""
        if not self._state.finished:
            async for _ in self:
                pass
        return self._state.result()

    async def get_text(self) -> str:
        """Reads the rest of the stream and returns all of its text."""
        return (await self.final_execution()).content or ""


class ExecutionStream:
    """`with client.stream(...) as stream: for event in stream: ...`"""

    def __init__(self, client: SyncPromptExecutionClient, spec: RequestSpec) -> None:
        self._client = client
        self._spec = spec
        self._state = _StreamState()
        self._response: httpx.Response | None = None
        self._iterator: Iterator[ServerSentEvent] | None = None

    def __enter__(self) -> ExecutionStream:
        self._state.opened = time.monotonic()
        self._response = self._client._open_stream(self._spec)
        self._state.request_id = self._response.headers.get("x-request-id")
        self._state.execution_id = self._response.headers.get("x-execution-id")
        self._iterator = EventSource(self._response).iter_sse()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()

    @property
    def text(self) -> str:
        return self._state.text

    @property
    def execution_id(self) -> str | None:
        """As AsyncExecutionStream.execution_id."""
        return self._state.execution_id

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iterator is None:
            raise RuntimeError("use the stream inside 'with client.stream(...)'")
        try:
            for sse in self._iterator:
                event = self._state.handle(sse)
                if isinstance(event, ExecutionCompleted):
                    _report_completed(self._client._core, self._spec, self._state)
                if event is not None:
                    yield event
                if self._state.finished:
                    return
        except httpx.HTTPError as exc:
            raise self._state.interrupted(exc) from exc
        raise self._state.interrupted(None)

    def final_execution(self) -> ExecutionResult:
        if not self._state.finished:
            for _ in self:
                pass
        return self._state.result()

    def get_text(self) -> str:
        return self.final_execution().content or ""


def batch_event(event: ServerSentEvent) -> BatchEvent | None:
    """A watched batch's server-sent event as a BatchEvent; the server's `error` event (it is
    shutting down) raises it; anything else is skipped."""
    if event.event == "progress":
        progress = BatchProgress.model_validate_json(event.data)
        return BatchEvent("progress", progress.batch_id, progress=progress)
    if event.event == "finished":
        batch = BatchSummary.model_validate_json(event.data)
        return BatchEvent("finished", batch.batch_id, batch=batch)
    if event.event == "error":
        raise error_from_body(503, json.loads(event.data), {})
    return None
