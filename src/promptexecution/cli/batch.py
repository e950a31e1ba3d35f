"""`pe batch list|watch|cancel|retry|results`: batches at a prompt. `watch` follows the
server's event stream (no polling): a progress bar on a terminal, a plain line per change
when not on one; it exits 1 when any item failed, so scripts can tell. (`pe batch submit`,
with local validation, is still to come.)"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .connect import ConnectError, connected

if TYPE_CHECKING:
    from ..client import SyncPromptExecutionClient
    from ..models import BatchProgress

STATUSES = ("queued", "processing", "completed", "failed", "cancelling", "cancelled")
EXPORT_FIELDS = ("item_id", "status", "execution_id", "content", "error_code", "attempts",
                 "retries", "cost", "tokens_used")


def add_parser(sub: Any) -> None:
    batch = sub.add_parser("batch", help="list, watch, cancel and retry batches; their results")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    listing = batch_sub.add_parser("list", help="batches, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("-n", type=int, default=20, metavar="N", help="how many (default 20)")
    watch = batch_sub.add_parser("watch", help="follow a batch until it ends (exit 1 if any "
                                               "item failed)")
    watch.add_argument("batch_id")
    for name, what in (("cancel", "stop a batch (finished items keep their results)"),
                       ("retry", "run a batch's failed, retry-eligible items again")):
        action = batch_sub.add_parser(name, help=what)
        action.add_argument("batch_id")
    results = batch_sub.add_parser("results", help="a batch's results, input order")
    results.add_argument("batch_id")
    results.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    results.add_argument("--status", choices=("pending", "completed", "failed", "cancelled"))


def run(args: argparse.Namespace) -> int:
    from ..exceptions import APIError

    try:
        with connected(args.profile) as client:
            command = args.batch_command
            if command == "list":
                return _list(client, args.status, args.n)
            if command == "watch":
                return _watch(client, args.batch_id)
            if command == "results":
                return _results(client, args.batch_id, args.format, args.status)
            done = (client.batches.cancel if command == "cancel" else client.batches.retry)(
                args.batch_id)
            print(f"{done.batch_id}: {done.status}")
            return 0
    except ConnectError as exc:
        print(f"pe batch: {exc}", file=sys.stderr)
    except APIError as exc:
        said = f"{exc.code}: {exc.message}" if exc.code else exc.message
        where = f" (request {exc.request_id})" if exc.request_id else ""
        print(f"pe batch: {said}{where}", file=sys.stderr)
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return 1


def _list(client: SyncPromptExecutionClient, status: str | None, n: int) -> int:
    page = client.batches.list(status=status, limit=max(1, min(n, 100)))
    if not page.batches:
        print("No batches" + (f" {status}." if status else " yet."))
        return 0
    for batch in page.batches:
        counts = batch.progress
        print(f"{batch.batch_id}  {batch.status:<10}  {counts.completed:,} done  "
              f"{counts.failed:,} failed  {counts.pending:,} pending  of {batch.total_items:,}"
              f"  {batch.created_at or ''}")
    return 0


def _line(progress: BatchProgress) -> str:
    per_minute = progress.performance.get("throughput_per_minute") or 0
    eta = progress.performance.get("estimated_completion")
    return (f"{progress.batch_id} {progress.status}: {progress.completed:,} completed, "
            f"{progress.failed:,} failed, {progress.pending:,} pending of "
            f"{progress.total:,}; {per_minute:,.0f}/min" + (f", done by {eta}" if eta else ""))


def _watch(client: SyncPromptExecutionClient, batch_id: str) -> int:
    """A bar on a terminal, a line per change otherwise; 1 when any item failed."""
    last: BatchProgress | None = None
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[note]}")) as bar:
            task = bar.add_task(batch_id, total=None, note="")
            for event in client.batches.watch(batch_id):
                if event.progress is not None:
                    last = event.progress
                    bar.update(task, total=last.total, completed=last.completed + last.failed,
                               note=f"{last.status}, {last.failed:,} failed")
    else:
        for event in client.batches.watch(batch_id):
            if event.progress is not None:
                last = event.progress
                print(_line(last), flush=True)
    if last is None:
        return 1
    if sys.stdout.isatty():
        print(_line(last))
    return 1 if last.failed else 0


def _results(client: SyncPromptExecutionClient, batch_id: str, fmt: str,
             status: str | None) -> int:
    import csv
    import json

    out = sys.stdout
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_FIELDS)
    for item in client.batches.iterate_results(batch_id, status=status):
        if writer is None:
            out.write(json.dumps(item.model_dump(exclude_none=True), ensure_ascii=False) + "\n")
            continue
        metadata = item.metadata or {}
        writer.writerow([item.item_id, item.status, item.execution_id, item.content,
                         (item.error or {}).get("code"), item.attempts,
                         len(item.earlier_attempts), metadata.get("cost"),
                         metadata.get("tokens_used")])
    out.flush()
    return 0
