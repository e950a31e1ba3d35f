"""Typed results the SDK returns, built on the shared wire models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from ..exceptions import APIError
from ..models import BatchProgress, BatchSummary, Execution


class ExecutionResult(Execution):
    """One execution: `.content`, `.metadata`, ... and, for JSON output, item access.

    `result["category"]` reads a field of the response, else a key of the JSON content, so
    the spec's `classification["category"]` works on a `json`/`structured` execution.
    """

    def parsed_content(self) -> Any:
        """The content parsed as JSON; raises ValueError when it is not JSON."""
        if self.content is None:
            raise ValueError("this execution has no content")
        return json.loads(self.content)

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.model_extra or {}
        if key in extra:
            return extra[key]
        try:
            parsed = self.parsed_content()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and key in parsed:
            return parsed[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


@dataclass(frozen=True)
class TextDelta:
    """A piece of streamed text."""

    text: str


@dataclass(frozen=True)
class ExecutionCompleted:
    """The final event of a successful stream: the same object a non-streamed call returns."""

    execution: ExecutionResult


@dataclass(frozen=True)
class ExecutionFailed:
    """The final event of a failed stream."""

    error: APIError


StreamEvent = TextDelta | ExecutionCompleted | ExecutionFailed


@dataclass(frozen=True)
class BatchEvent:
    """One event of a watched batch: `progress` (its counts, throughput, ETA and errors, as
    `batches.progress` gives them) whenever they change, then `finished` (the batch)."""

    kind: str  # "progress" or "finished"
    batch_id: str
    progress: BatchProgress | None = None
    batch: BatchSummary | None = None


class HistoryFilters(TypedDict, total=False):
    """What `executions.list`, `iterate` and `export` filter on (all optional)."""

    template_id: str  # an id or a name
    template_version: str  # needs template_id
    status: str  # processing, completed, failed, cancelled
    model: str
    batch_id: str
    date_from: str | datetime  # inclusive
    date_to: str | datetime  # inclusive
    q: str  # words in the rendered prompt or the output; "a phrase"; prefix*
    min_cost: float
    max_cost: float
    min_execution_time: float  # seconds
    max_execution_time: float
