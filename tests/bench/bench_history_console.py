"""History at a million executions: the console's History screen, full-text search and the
export, against `llm logs` and Textual's DataTable.

    python -m tests.bench.bench_history_console [--rows 1000000] [--scroll 100000]
        [--no-llm] [--no-datatable] [--llm-venv DIR]

1. The store of bench_history (`--rows` executions over 30 days, bulk-loaded before the
   server starts), then its full-text index built by the server's own indexing thread
   (`TextIndex`), timed, before `pe serve` starts on it.
2. Over HTTP (httpx, one keep-alive connection): the first page (100 rows, the console's
   page) of full-text searches, p50/p99 (target p99 <= 100 ms); the export of every row as
   JSONL and as CSV through the SDK, rows/s (target >= 50,000) and the RSS of the client and
   of the server while it runs (constant memory: the server's growth is printed).
3. The console in this process (`app.run_test`, 140x42), key to frame with `FrameProbe`:
   F4 to the first rows (target <= 300 ms); each filter change, Enter to the new first rows
   (<= 300 ms) and, typed, last key to new rows (the typing pause included); PageDown
   p95 (<= 50 ms) while scrolling `--scroll` rows; End to the oldest row (<= 300 ms); RSS
   growth over that scroll (<= 30 MiB; the rows kept are printed too).
4. Side by side: `llm logs -q WORD -n 20` over the same responses in llm's own logs
   database, against `pe history WORD -n 20` (whole commands, start-up included); Textual's
   DataTable with 100,000 rows against our first paint of a million.
Exits non-zero only when something is wrong (wrong rows, an error, a crash); a missed
target is reported as MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from promptexecution.server.app import DB_NAME, TEXT_DB_NAME
from promptexecution.server.executions.text_index import TextIndex

from ._common import (
    ServerProcess,
    exit_status,
    machine_summary,
    pe_serve_argv,
    percentile,
    read_local_key,
    run_bounded,
    temp_data_dir,
    verdict,
)
from ._console import SIZE, FrameProbe, bench_app, connected, rss_mib, wait_until
from .bench_history import Dataset, build_store

FIRST_ROWS_MS = 300.0
PAGE_DOWN_P95_MS = 50.0
END_MS = 300.0
SCROLL_GROWTH_MIB = 30.0
SEARCH_P99_MS = 100.0
EXPORT_ROWS_PER_S = 50_000
SEARCHES = ("refund", "pricing", "quarterly revenue", '"data export"', "onboard*",
            "friendly feature")  # the bench store's words: common, a phrase, a prefix
FILTERS = ("status:failed", "model:gpt-4o", "since:7d", "cost:>0.001", "latency:>5s",
           '"refund"', "template:greeting_template status:completed", "")
LLM_WORD = "refund"


def build_text_index(data_dir: Path) -> float:
    """The server's own indexing thread over the whole store, as a first start would run it."""
    started = time.perf_counter()
    index = TextIndex(data_dir / DB_NAME, data_dir / TEXT_DB_NAME)
    index.start()
    import sqlite3

    conn = sqlite3.connect(data_dir / DB_NAME)
    newest = int(conn.execute("SELECT MAX(seq) FROM executions").fetchone()[0])
    conn.close()
    if not index.wait_until_current(newest, timeout=1800):
        raise RuntimeError("the full-text index did not catch up in 30 minutes")
    index.stop()
    return time.perf_counter() - started


# ---------------------------------------------------------------------- HTTP


def bench_search(client: httpx.Client, requests: int, problems: list[str]) -> list[float]:
    timings: list[float] = []
    print(f"\n  full-text search, first page of 100 ({requests} requests per query):")
    for words in SEARCHES:
        for _ in range(5):
            client.get("/v2/executions", params={"q": words, "limit": 100})
        mine = []
        total = 0
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get("/v2/executions", params={"q": words, "limit": 100})
            mine.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                problems.append(f"search {words}: {answer.status_code} {answer.text[:200]}")
                break
            body = answer.json()
            total = body["pagination"]["total"]
        if total == 0:
            problems.append(f"search {words}: nothing found in the bench store")
        timings += mine
        plus = "+" if body["pagination"]["total_is_lower_bound"] else ""
        print(f"    {words:22s} p50 {percentile(mine, 50):6.1f} ms  p99 "
              f"{percentile(mine, 99):6.1f} ms  matches {total:,}{plus}")
    p99 = percentile(timings, 99)
    print(f"    all: p99 {p99:.1f} ms: {verdict(p99 <= SEARCH_P99_MS)} "
          f"(target p99 <= {SEARCH_P99_MS:g} ms)")
    return timings


class RssSampler:
    """The peak and first RSS of a process, sampled every 50 ms on a thread."""

    def __init__(self, pid: int | str) -> None:
        self.pid, self.first, self.peak = pid, rss_mib(pid), 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_export(url: str, key: str, rows: int, server_pid: int,
                 problems: list[str]) -> dict[str, float]:
    from promptexecution import PromptExecutionClient

    rates = {}
    print("\n  export of every execution through the SDK (executions.export):")
    with PromptExecutionClient(api_key=key, base_url=f"{url}/v2") as client:
        for format in ("jsonl", "csv"):
            lines = size = 0
            gc.collect()
            with RssSampler(server_pid) as server, RssSampler("self") as me:
                started = time.perf_counter()
                for chunk in client.executions.export(format=format):
                    lines += chunk.count(b"\n")
                    size += len(chunk)
                seconds = time.perf_counter() - started
            # a CSV row with a newline in its text spans lines: count records for JSONL only
            if format == "jsonl" and lines != rows:
                problems.append(f"export jsonl: {lines:,} lines for {rows:,} executions")
            rate = rows / seconds
            rates[format] = rate
            print(f"    {format:5s} {rows:,} rows, {size / 2**20:,.0f} MiB in {seconds:.1f} s: "
                  f"{rate:,.0f} rows/s {verdict(rate >= EXPORT_ROWS_PER_S)}; RSS server "
                  f"{server.first:.0f} -> peak {server.peak:.0f} MiB, this process "
                  f"{me.first:.0f} -> peak {me.peak:.0f} MiB")
    return rates


# ---------------------------------------------------------------------- the console


async def bench_console(url: str, key: str, tmp: Path, scroll: int,
                        problems: list[str]) -> dict[str, Any]:
    from textual.widgets import Input

    from promptexecution.console.screens.history.screen import FILTER_AFTER, HistoryScreen
    from promptexecution.console.widgets.virtual_table import VirtualTable

    results: dict[str, Any] = {}
    app = bench_app(f"{url}/v2", key, tmp)
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        probe = FrameProbe()

        def history() -> HistoryScreen | None:
            screen = app.screen
            return screen if isinstance(screen, HistoryScreen) else None

        def first_rows_shown() -> bool:
            screen = history()
            return bool(screen and screen.rows.loaded and screen.rows.row(0) is not None)

        results["f4"] = await probe.key_to_frame(app, "f4", first_rows_shown)
        screen = history()
        assert screen is not None
        table = screen.query_one(VirtualTable)
        bar = screen.query_one("#history-filter", Input)
        print(f"\n  console, {SIZE[0]}x{SIZE[1]}: F4 to the first rows {results['f4']:.0f} ms "
              f"{verdict(results['f4'] <= FIRST_ROWS_MS)} (target <= {FIRST_ROWS_MS:g} ms; "
              f"{screen.rows.total:,} executions)")

        def rows_of(text: str, after: int) -> bool:
            rows = screen.rows
            return (rows._generation > after and screen.query_text == text and rows.loaded
                    and (rows.total == 0 or rows.row(0) is not None))

        print("  filter change, new first rows: Enter -> frame; typed (the last key, then "
              f"the {FILTER_AFTER * 1000:.0f} ms typing pause) -> frame")
        entered, typed = [], []
        for text in FILTERS:
            for way in ("enter", "typed"):
                bar.focus()
                bar.value = "x" if way == "typed" else text
                bar.cursor_position = len(bar.value)
                await pilot.pause()  # its Changed message: typing pauses, a timer starts
                generation = screen.rows._generation
                shown = lambda t=text, g=generation: rows_of(t, g)  # noqa: E731
                if way == "enter":
                    entered.append(await probe.key_to_frame(app, "enter", shown))
                else:  # what the last keystroke does to the bar: its value changes
                    probe.hit_at, probe.predicate = math.nan, shown
                    sent = time.perf_counter()
                    bar.value = text
                    await wait_until(lambda: not math.isnan(probe.hit_at), 10, text)
                    typed.append((probe.hit_at - sent) * 1000)
                await pilot.pause(0.3)  # no timer left over from this change
            total = f"{screen.rows.total:,}{'+' if screen.rows.lower_bound else ''}"
            print(f"    {text or '(no filter)':45s} enter {entered[-1]:5.0f} ms  typed "
                  f"{typed[-1]:5.0f} ms  {total} rows")
        worst = max(entered)
        results["filter_enter_max"], results["filter_typed_max"] = worst, max(typed)
        print(f"    worst: enter {worst:.0f} ms {verdict(worst <= FIRST_ROWS_MS)}, typed "
              f"{max(typed):.0f} ms {verdict(max(typed) <= FIRST_ROWS_MS)} (target <= "
              f"{FIRST_ROWS_MS:g} ms)")

        # Back to every execution, the list focused, at the top.
        table.focus()
        await wait_until(lambda: screen.query_text == "" and screen.rows.row(0) is not None,
                         30, "the unfiltered list")
        await pilot.pause(0.5)
        gc.collect()
        before = rss_mib()
        step = max(table.rows_shown - 1, 1)  # what one PageDown moves
        downs: list[float] = []
        started = time.perf_counter()
        while table.cursor < scroll:
            target = min(table.cursor + step, screen.rows.total - 1)

            def landed(target: int = target) -> bool:
                return table.cursor == target and screen.rows.row(target) is not None

            downs.append(await probe.key_to_frame(app, "pagedown", landed))
        scrolled = time.perf_counter() - started
        held = screen.rows.rows_held()
        gc.collect()
        after = rss_mib()
        p95 = percentile(downs, 95)
        results.update(page_down_p95=p95, growth=after - before, held=held)
        print(f"  PageDown x {len(downs):,} to row {table.cursor:,} in {scrolled:.0f} s: p50 "
              f"{percentile(downs, 50):.1f} ms, p95 {p95:.1f} ms, max {max(downs):.0f} ms "
              f"{verdict(p95 <= PAGE_DOWN_P95_MS)} (target p95 <= {PAGE_DOWN_P95_MS:g} ms)")
        print(f"  RSS {before:.0f} -> {after:.0f} MiB over {table.cursor:,} rows: "
              f"{after - before:+.1f} MiB {verdict(after - before <= SCROLL_GROWTH_MIB)} "
              f"(target <= {SCROLL_GROWTH_MIB:g} MiB); rows held {held:,}")
        last = screen.rows.total - 1

        def oldest() -> bool:
            return table.cursor == last and screen.rows.row(last) is not None

        results["end"] = await probe.key_to_frame(app, "end", oldest)
        results["home"] = await probe.key_to_frame(
            app, "home", lambda: table.cursor == 0 and screen.rows.row(0) is not None)
        print(f"  End to the oldest row {results['end']:.0f} ms "
              f"{verdict(results['end'] <= END_MS)} (target <= {END_MS:g} ms); Home back "
              f"{results['home']:.0f} ms")
        await app.action_quit()
    return results


# ---------------------------------------------------------------------- side by side


def time_pe_history(url: str, key: str, word: str, runs: int) -> tuple[list[float], int]:
    from ._llm_logs import time_command

    pe = Path(sys.executable).with_name("pe")
    env = {**os.environ, "PE_BASE_URL": f"{url}/v2", "PE_API_KEY": key, "COLUMNS": "140"}
    argv = [str(pe), "history", word, "-n", "20"]
    shown = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    return time_command(argv, env, runs), len(shown.splitlines()) - 2  # header, total line


def compare_llm(ds: Dataset, url: str, key: str, venv: Path | None, runs: int,
                problems: list[str]) -> None:
    from . import _llm_logs
    from .bench_history import _rows

    exe = _llm_logs.ensure_llm(venv)
    with tempfile.TemporaryDirectory(prefix="pe-bench-llm-") as user_path:
        started = time.perf_counter()
        records = (_llm_logs.LogRecord(
            prompt=record["rendered_prompt"], response=record["content"] or "",
            model=record["metadata"]["model"],
            created=datetime.fromisoformat(record["created_at"].replace("Z", "+00:00")),
            duration_ms=int(record["metadata"]["execution_time"] * 1000),
            input_tokens=record["metadata"]["input_tokens"],
            output_tokens=record["metadata"]["output_tokens"]) for _, record in _rows(ds, 20240115))
        count = _llm_logs.build_logs_db(exe, Path(user_path), records)
        print(f"\n  llm {_llm_logs.llm_version(exe)}: its logs.db with {count:,} responses "
              f"built in {time.perf_counter() - started:.0f} s")
        theirs, said = _llm_logs.time_llm_logs(exe, Path(user_path), LLM_WORD, 20, runs)
    ours, shown = time_pe_history(url, key, LLM_WORD, runs)
    if shown != 20:
        problems.append(f"pe history {LLM_WORD} -n 20 printed {shown} rows")
    print(f"  `llm logs -q {LLM_WORD} -n 20`: median {statistics.median(theirs):.0f} ms "
          f"({said}); `pe history {LLM_WORD} -n 20`: median {statistics.median(ours):.0f} ms "
          f"({shown} rows); {runs} runs each, whole commands")


def compare_datatable(ours_ms: float) -> None:
    argv = [sys.executable, "-m", "tests.bench._datatable", "--rows", "100000", "--limit", "120"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print(f"\n  Textual DataTable: no result ({done.stderr.strip()[-300:]})")
        return
    theirs = ("over 120 s" if found["timed_out"] else f"{found['first_paint_ms'] / 1000:.1f} s")
    print(f"\n  Textual {found['textual']} DataTable, 100,000 rows: first paint {theirs} "
          f"(add_rows {found['add_rows_ms'] / 1000:.1f} s, RSS {found['rss_before_mib']:.0f} -> "
          f"{found['rss_after_mib']:.0f} MiB); History, a million rows: {ours_ms:.0f} ms")


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scroll", type=int, default=100_000, help="rows to PageDown through")
    parser.add_argument("--requests", type=int, default=100, help="timed searches per query")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each CLI")
    parser.add_argument("--no-llm", action="store_true", help="skip `llm logs`")
    parser.add_argument("--no-datatable", action="store_true", help="skip Textual's DataTable")
    parser.add_argument("--llm-venv", type=Path, help="default ~/.cache/pe-bench/llm-venv")
    args = parser.parse_args(argv)

    print(f"bench_history_console: History on {args.rows:,} executions")
    print(f"  machine: {machine_summary()}")
    problems: list[str] = []
    server: ServerProcess | None = None
    with temp_data_dir("pe-bench-hcon-") as data_dir:
        ds, load_seconds = build_store(data_dir, args.rows)
        index_seconds = build_text_index(data_dir)
        sizes = {name: sum(p.stat().st_size for p in data_dir.glob(name + "*")) / 2**20
                 for name in (DB_NAME, TEXT_DB_NAME)}
        print(f"  loaded in {load_seconds:.0f} s ({sizes[DB_NAME]:,.0f} MiB); full-text index "
              f"built by its thread in {index_seconds:.0f} s "
              f"({args.rows / index_seconds:,.0f} rows/s, {sizes[TEXT_DB_NAME]:,.0f} MiB)")
        with ServerProcess(pe_serve_argv(data_dir), "pe serve") as server:
            url = server.start(timeout=120)
            key = read_local_key(data_dir)
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {key}"}) as client:
                bench_search(client, args.requests, problems)
            bench_export(url, key, args.rows, server.pid, problems)
            with tempfile.TemporaryDirectory(prefix="pe-bench-hcon-app-") as tmp:
                console = asyncio.run(bench_console(url, key, Path(tmp), args.scroll, problems))
            if not args.no_llm:
                compare_llm(ds, url, key, args.llm_venv, args.runs, problems)
            if not args.no_datatable:
                compare_datatable(console["f4"])
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return exit_status(problems, server)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 3600, "bench_history_console"))
