"""`pe batch list|watch|cancel|retry|results`: batches at a prompt. `watch` follows the
server's event stream (no polling): a progress bar on a terminal, a plain line per change
when not on one; it exits 1 when any item failed, so scripts can tell. `submit` checks the
file locally first (batch_file.py) and sends nothing while a row is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connect import ConnectError, api_error_line, connected

if TYPE_CHECKING:
    from ..client import SyncPromptExecutionClient
    from ..models import BatchProgress

STATUSES = ("queued", "processing", "completed", "failed", "cancelling", "cancelled")
def add_parser(sub: Any) -> None:
    batch = sub.add_parser("batch", help="list, watch, cancel and retry batches; their results")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    send = batch_sub.add_parser("submit", help="run a template over every row of a JSONL or "
                                                "CSV file (checked here first)")
    send.add_argument("file", type=Path)
    send.add_argument("--template", required=True, help="the template's name or id")
    send.add_argument("--version", help="a version of it (default: the current one)")
    send.add_argument("--map", action="append", default=[], metavar="COLUMN=VARIABLE",
                      help="a column whose name is not the variable's (repeatable)")
    send.add_argument("--model", help="the model (default: the template's)")
    send.add_argument("--watch", action="store_true", help="then follow it until it ends")
    send.add_argument("--yes", action="store_true",
                      help="do not ask before sending (only a terminal is asked)")
    send.add_argument("--show", type=int, default=20, metavar="N",
                      help="how many bad rows to list (default 20)")
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
            if command == "submit":
                return _submit(client, args)
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
        print(f"pe batch: {api_error_line(exc)}", file=sys.stderr)
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return 1


def _submit(client: SyncPromptExecutionClient, args: argparse.Namespace) -> int:
    from .. import batch_file

    mapping = {}
    for pair in args.map:
        column, equals, variable = pair.partition("=")
        if not (equals and column and variable):
            print(f"pe batch submit: --map takes COLUMN=VARIABLE, not {pair!r}", file=sys.stderr)
            return 2
        mapping[column] = variable
    template = client.templates.get(args.template)
    if args.version:
        template = client.templates.get_version(template.template_id, args.version)
    declared = [dict(v) for v in template.variables]  # name, type, required, default
    try:
        checked = batch_file.load(args.file, declared, mapping)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"pe batch submit: {exc}", file=sys.stderr)
        return 2
    if checked.problems:
        for problem in checked.problems[:args.show]:
            print(f"  {problem}", file=sys.stderr)
        more = len(checked.problems) - args.show
        print((f"  … and {more:,} more\n" if more > 0 else "")
              + f"pe batch submit: {len(checked.problems):,} problem(s) in {args.file}; "
              "nothing was sent", file=sys.stderr)
        return 2
    note = f"; columns no variable takes: {', '.join(checked.unmapped)}" if checked.unmapped \
        else ""
    print(f"{args.file}: {len(checked.inputs):,} rows, {batch_file.size_words(checked.size)}, "
          f"checked against {template.name} {template.version}{note}", file=sys.stderr)
    models = client.models.list()
    model_id = args.model or (template.default_config or {}).get("model") or models.default_model
    model = next((m for m in models.models if m.id == model_id), None)
    if model is None:
        print(f"pe batch submit: no model {model_id!r} here (there are "
              f"{', '.join(m.id for m in models.models)})", file=sys.stderr)
        return 2
    cost = batch_file.estimate(checked.inputs, template.prompt,
                               (template.default_config or {}).get("max_tokens"),
                               model.input_price_per_million, model.output_price_per_million)
    print(f"estimated cost: {cost.words(len(checked.inputs), model.id)}", file=sys.stderr)
    if sys.stdin.isatty() and not args.yes:
        answer = input(f"Send {len(checked.inputs):,} rows? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("pe batch submit: not sent", file=sys.stderr)
            return 1
    submitted = client.batches.submit(
        checked.inputs, template_id=template.template_id, template_version=template.version,
        model_config={"model": args.model} if args.model else None)
    print(submitted.batch_id)
    return _watch(client, submitted.batch_id) if args.watch else 0


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
    from ..batch import ResultWriter

    writer = ResultWriter(sys.stdout, fmt)
    for item in client.batches.iterate_results(batch_id, status=status):
        writer.write(item)
    sys.stdout.flush()
    return 0
