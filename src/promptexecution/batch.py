"""`BatchProcessor`, as the spec's use case 3 shows it, and helpers to move batch inputs and
results in and out of JSONL and CSV files.

    processor = BatchProcessor(client)            # PromptExecutionClient or the async one
    submitted = await processor.execute_batch(template_id=..., inputs=..., options=...)
    async for progress in processor.track_progress(submitted.batch_id):
        print(progress.completed, "/", progress.total)
    results = await processor.get_results(submitted.batch_id)
    results.successful, results.failed, results.summary
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import AsyncPromptExecutionClient, PromptExecutionClient
from .models import BatchItemResult, BatchProgress, BatchSubmitted


@dataclass
class BatchOutcome:
    """Every result of a batch, split by outcome, in input order."""

    batch_id: str
    status: str
    successful: list[BatchItemResult] = field(default_factory=list)
    failed: list[BatchItemResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def results(self) -> list[BatchItemResult]:
        return self.successful + self.failed


class BatchProcessor:
    def __init__(self, client: PromptExecutionClient | AsyncPromptExecutionClient, *,
                 min_interval: float = 0.25, max_interval: float = 5.0) -> None:
        self._client = client
        self.min_interval = min_interval
        self.max_interval = max_interval

    def _async(self) -> AsyncPromptExecutionClient:
        if isinstance(self._client, AsyncPromptExecutionClient):
            return self._client
        return self._client.async_client

    async def execute_batch(
        self,
        *,
        inputs: Sequence[Mapping[str, Any]],
        template_id: str | None = None,
        prompt: str | None = None,
        model_config: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> BatchSubmitted:
        """Submits the batch; returns `batch_id` and `estimated_completion` at once."""
        return await self._async().batches.submit(
            inputs, template_id=template_id, prompt=prompt, model_config=model_config,
            options=options, **fields,
        )

    async def track_progress(self, batch_id: str) -> AsyncIterator[BatchProgress]:
        """Yields the progress whenever it changes, and ends after the final status.

        Polls adaptively: quickly while items finish, backing off (to `max_interval`) while
        nothing moves.
        """
        batches = self._async().batches
        interval = self.min_interval
        last: tuple[Any, ...] | None = None
        while True:
            progress = await batches.progress(batch_id)
            state = (progress.status, progress.completed, progress.failed, progress.pending)
            if state != last:
                last = state
                interval = self.min_interval
                yield progress
            else:
                interval = min(interval * 2, self.max_interval)
            if progress.finished:
                return
            await asyncio.sleep(interval)

    async def get_results(self, batch_id: str) -> BatchOutcome:
        batches = self._async().batches
        summary = await batches.results(batch_id, limit=1)
        outcome = BatchOutcome(batch_id, summary.status, summary=summary.summary)
        async for item in batches.iterate_results(batch_id):
            if item.status == "completed":
                outcome.successful.append(item)
            elif item.status == "failed":
                outcome.failed.append(item)
        return outcome


# ----------------------------------------------------------------------------- files


def read_inputs(path: str | Path, *, id_column: str = "id") -> list[dict[str, Any]]:
    """Batch inputs from JSONL (one `{"id", "variables"}` or flat object per line) or CSV
    (a header row; `id_column` is the item id, every other column a variable)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return [_input(row, id_column) for row in csv.DictReader(handle)]
    inputs = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            inputs.append(data if "variables" in data else _input(data, id_column))
    return inputs


def _input(row: Mapping[str, Any], id_column: str) -> dict[str, Any]:
    item: dict[str, Any] = {"variables": {k: v for k, v in row.items() if k != id_column}}
    if row.get(id_column):
        item["id"] = str(row[id_column])
    return item


RESULT_FIELDS = ("item_id", "status", "execution_id", "content", "error_code", "attempts",
                 "retries", "cost", "tokens_used", "execution_time")


class ResultWriter:
    """Batch results as JSON lines (each result whole) or CSV (`RESULT_FIELDS`, a retried
    item's earlier runs counted in `retries`): one shape for `write_results`, `pe batch
    results` and the console's export."""

    def __init__(self, handle: Any, fmt: str) -> None:
        self.handle, self.count = handle, 0
        self.csv = csv.writer(handle) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(RESULT_FIELDS)

    def write(self, item: BatchItemResult) -> None:
        self.count += 1
        if self.csv is None:
            self.handle.write(json.dumps(item.model_dump(exclude_none=True),
                                         ensure_ascii=False) + "\n")
            return
        metadata = item.metadata or {}
        self.csv.writerow([item.item_id, item.status, item.execution_id, item.content,
                           (item.error or {}).get("code"), item.attempts,
                           len(item.earlier_attempts), metadata.get("cost"),
                           metadata.get("tokens_used"), metadata.get("execution_time")])


def write_results(path: str | Path, results: Iterable[BatchItemResult]) -> int:
    """Writes results as JSONL or CSV (by the file's suffix); returns how many."""
    path = Path(path)
    fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    with path.open("w", newline="" if fmt == "csv" else None, encoding="utf-8") as handle:
        writer = ResultWriter(handle, fmt)
        for item in results:
            writer.write(item)
    return writer.count


__all__ = ["RESULT_FIELDS", "BatchOutcome", "BatchProcessor", "ResultWriter", "read_inputs",
           "write_results"]
