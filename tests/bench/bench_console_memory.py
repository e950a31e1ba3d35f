"""Resident memory of the console: idle after connecting, and after 100 runs in one session.

    python -m tests.bench.bench_console_memory [--runs 100] [--tokens 500] [--rate 5000]
        [--every 10] [--tracemalloc]

One `pe serve` (a separate process: its memory is not counted). In this process, one `PeApp`
run headless (`run_test`, 140x42) on a profile pointing at it, so the console's RSS is this
process's (`VmRSS` in /proc/self/status, after `gc.collect()`): the benchmark adds only its own
imports and a few lists.

* **idle**: connected, templates and models loaded, settled for 1 s;
* **runs**: the Playground's raw prompt, streamed, `simulate: {"output_tokens": 500,
  "tokens_per_second": 5000}` (about 2,100 characters of Markdown per answer, in a few hundred
  deltas: headings, lists, paragraphs, code), run after run
  through `action_run()` (what ctrl+enter does), each a slightly different prompt so each
  answer differs. Each run must complete with the view's text equal to the execution's
  content. RSS (and the number of live Python objects) every `--every` runs;
* **growth per run**: (RSS after the last run - RSS after the first checkpoint) / the runs in
  between, so one-time costs of the first runs (imports of rich's Markdown and pygments'
  lexers, caches filling) are not counted as growth; the whole-session figure is printed too.

`--tracemalloc` also traces Python allocations and prints the ten sites that grew the most
between the first checkpoint and the end (slower; off by default).

No target is set: the figures are for comparison across changes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

from textual.widgets import TabbedContent, TextArea

from promptexecution.console.widgets.output_column import OutputColumn
from promptexecution.console.widgets.stream_view import StreamView

from ._common import (
    ServerProcess,
    exit_status,
    fmt_runs,
    machine_summary,
    median,
    pe_serve_argv,
    read_local_key,
    run_bounded,
    temp_data_dir,
)
from ._console import (
    PROMPT,
    SIZE,
    bench_app,
    connected,
    hwm_mib,
    private_dirs,
    rss_mib,
    use_raw_prompt,
    wait_until,
)


@dataclass
class Checkpoint:
    runs: int
    rss: float
    objects: int


@dataclass
class Result:
    idle: float = 0.0
    idle_objects: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    deltas: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    top_growth: list[str] = field(default_factory=list)


APPENDS = [0]  # StreamView.append calls (one per delta), counted by `count_deltas`


def count_deltas() -> None:
    append = StreamView.append

    def counted(self: StreamView, text: str) -> None:
        APPENDS[0] += 1
        append(self, text)

    StreamView.append = counted  # type: ignore[method-assign]


def settled_rss() -> tuple[float, int]:
    gc.collect()
    gc.collect()
    return rss_mib(), len(gc.get_objects())


async def session(base_url: str, key: str, tmp: Path, args: argparse.Namespace) -> Result:
    result = Result()
    app = bench_app(base_url, key, tmp)
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        await asyncio.sleep(1.0)
        await pilot.pause()
        result.idle, result.idle_objects = settled_rss()
        print(f"  idle, connected: RSS {result.idle:.1f} MiB, {result.idle_objects:,} Python "
              "objects", flush=True)
        playground = app.playground
        assert playground is not None
        await use_raw_prompt(pilot, app)
        tabs = playground.query_one("#source-tabs", TabbedContent)
        editor = playground.query_one("#raw-prompt", TextArea)
        column = playground.query_one("#column-1", OutputColumn)
        simulate: dict[str, float] = {"output_tokens": args.tokens}
        if args.rate > 0:
            simulate["tokens_per_second"] = args.rate
        playground.extra_model_config = {"simulate": simulate}
        snapshot: tracemalloc.Snapshot | None = None
        for run in range(1, args.runs + 1):
            editor.text = f"{PROMPT} (Run {run}.)"
            await pilot.pause()
            if tabs.active != "source-raw":
                result.problems.append(f"run {run}: the source tab is {tabs.active!r}")
                break
            started, appends = time.perf_counter(), APPENDS[0]
            await playground.action_run()
            try:
                await wait_until(lambda: not column.running
                                 and column.last_execution is not None, 60, f"run {run}")
            except TimeoutError as exc:
                result.problems.append(f"{exc} (error: {column.error!r})")
                break
            result.run_seconds.append(time.perf_counter() - started)
            result.deltas.append(APPENDS[0] - appends)
            execution = column.last_execution
            if execution is None or execution.status != "completed" or not execution.content:
                result.problems.append(f"run {run}: not completed: {column.error!r}")
            elif column.view.text != execution.content:
                result.problems.append(f"run {run}: the view's text differs from the content")
            else:
                result.chars.append(len(execution.content))
            if run % args.every == 0 or run == args.runs:
                await pilot.pause()
                rss, objects = settled_rss()
                result.checkpoints.append(Checkpoint(run, rss, objects))
                print(f"  after {run:3d} runs: RSS {rss:6.1f} MiB ({rss - result.idle:+5.1f} "
                      f"since idle), {objects:,} objects ({objects - result.idle_objects:+,})",
                      flush=True)
                if args.tracemalloc and run == args.every:
                    snapshot = tracemalloc.take_snapshot()
        if args.tracemalloc and snapshot is not None:
            gc.collect()
            stats = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")
            result.top_growth = [str(stat) for stat in stats[:10]]
        editor.text = ""
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rate", type=float, default=5000.0,
                        help="simulator tokens/s (0: as fast as it goes, one delta per answer)")
    parser.add_argument("--every", type=int, default=10, help="runs between RSS checkpoints")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args(argv)

    print(f"bench_console_memory: console RSS idle after connecting and over {args.runs} "
          f"streamed runs of ~{args.tokens} tokens at {args.rate:,.0f} tokens/s in one "
          "session (headless "
          f"{SIZE[0]}x{SIZE[1]}, this process)")
    print(f"  machine: {machine_summary()}")
    count_deltas()
    if args.tracemalloc:
        tracemalloc.start(10)
        print("  tracemalloc on (slower; RSS includes its own bookkeeping)")
    with temp_data_dir("pe-bench-console-memory-") as tmp:
        private_dirs(tmp)
        data_dir = tmp / "data"
        with ServerProcess(pe_serve_argv(data_dir), "pe serve") as server:
            url = server.start()
            print(f"  pe serve {url} (pid {server.pid}; its memory is not counted); this "
                  f"process: pid {os.getpid()}, RSS before the app {rss_mib():.1f} MiB")
            result = asyncio.run(session(f"{url}/v2", read_local_key(data_dir), tmp, args))
    print()
    if result.checkpoints:
        first, last = result.checkpoints[0], result.checkpoints[-1]
        between = last.runs - first.runs
        per_run = (last.rss - first.rss) / between if between else float("nan")
        whole = (last.rss - result.idle) / last.runs
        objs = (last.objects - first.objects) / between if between else float("nan")
        print(f"  idle after connecting: {result.idle:.1f} MiB")
        print(f"  after {last.runs} runs: {last.rss:.1f} MiB ({last.rss - result.idle:+.1f} MiB; "
              f"peak RSS of the process {hwm_mib():.1f} MiB)")
        print(f"  growth per run: {per_run * 1024:+.1f} KiB between runs {first.runs} and "
              f"{last.runs} ({objs:+.1f} Python objects per run); {whole * 1024:+.1f} KiB per "
              f"run over the whole session (including the first runs' one-time costs)")
        print(f"  checkpoints (MiB): {fmt_runs([c.rss for c in result.checkpoints])}")
        print(f"  runs: median {median(result.run_seconds) * 1000:.0f} ms each, answers "
              f"median {median(result.chars):,.0f} characters in median "
              f"{median(result.deltas):,.0f} deltas")
    for line in result.top_growth:
        print(f"    {line}")
    completed = len(result.chars)
    print(f"  checks ({args.runs} runs completed, view text == content each time): "
          f"{'ok' if not result.problems and completed == args.runs else 'FAILED'}")
    problems = result.problems or (
        [] if completed == args.runs else [f"only {completed} of {args.runs} runs completed"])
    return exit_status(problems, server)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_console_memory"))
