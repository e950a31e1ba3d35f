"""How long Textual's own `DataTable` takes to show its first frame with N rows: the yardstick
for the console's History screen (run as a subprocess by the History benchmark, or by hand).

What is measured: an app whose only widget is a `DataTable` of 8 columns shaped like an
execution history (time, status, template@version, model, tokens, cost, latency, output), filled
the way a user of `DataTable` does it: `add_columns`, then `add_rows` with all N rows, in the
app's `on_mount`. The rows are made (seeded random, so every run gets the same strings) before
the clock starts.

- `first_paint_ms`: from just before `App.run_test(size=(140, 42))` starts the app (headless, in
  this process, no terminal) to the first frame composited with the rows visible.
  `Screen._compositor_refresh` (the step that writes a frame) is wrapped; after each frame, once
  the table has rows, the screen's text is checked for the first row's cells (time and
  template@version, each in full, which also needs the column widths measured from the rows);
  the time is taken when the refresh returns, before that check.
- `add_rows_ms`: the `add_rows` call alone; `update_dimensions_ms`: `DataTable`'s measuring of
  the new rows (column widths, virtual size), which it does on its first idle;
  `mount_ms`: from the start to the app's `on_mount`; `any_rows_frame_ms`: the first frame drawn
  after the table had rows, whether or not it shows them yet (for a look at the sequence).
- `rss_before_mib` / `rss_after_mib`: VmRSS of this process (rows made, app not started) and
  just after the first frame.

A time limit (`--limit`, 120 s) ends the run: a timer thread reports "over LIMIT s"
(`"timed_out": true`) and exits with 0, even while the event loop is busy in `add_rows`.

The last line of stdout is one JSON object; the lines before it are for people:

    .venv/bin/python -m tests.bench._datatable [--rows 100000 --limit 120 --seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import textual
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable

SIZE = (140, 42)  # the terminal size of the console's Pilot tests and benchmarks
COLUMNS = ("time", "status", "template", "model", "tokens", "cost", "latency", "output")

STATUSES = ("completed",) * 14 + ("failed", "failed", "cancelled", "running", "queued")
TEMPLATES = ("greeting_template", "summarize_article", "classify_ticket", "extract_entities",
             "translate_text", "code_review", "sql_from_question", "support_reply")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "claude-3-5-sonnet", "llama-3.1-8b",
          "mistral-small", "gemini-1.5-flash")
WORDS = ("the", "customer", "asked", "about", "an", "invoice", "refund", "order", "summary",
         "report", "quarterly", "results", "show", "growth", "in", "revenue", "and", "costs",
         "team", "shipped", "new", "feature", "for", "users", "with", "faster", "search",
         "translation", "of", "document", "into", "French", "is", "complete", "please",
         "review", "attached", "draft", "before", "Friday", "error", "rate", "dropped", "to",
         "zero", "after", "deploy", "ticket", "classified", "as", "billing", "priority", "high")


def rss_mib() -> float:
    """VmRSS of this process, in MiB (Linux /proc; NaN elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def sentence(rng: random.Random) -> str:
    """A sentence of 60 to 120 characters."""
    target = rng.randint(60, 120)
    words: list[str] = []
    length = 0
    while length < target - 4:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    text = " ".join(words)
    text = text[: target - 1].rstrip() + "."
    return text[0].upper() + text[1:]


def history_rows(count: int, seed: int = 7) -> list[tuple[str, ...]]:
    """`count` rows of an execution history, newest first, the same for the same seed."""
    rng = random.Random(seed)
    rows: list[tuple[str, ...]] = []
    clock = 9 * 3600 + 30 * 60  # 09:30:00, going back in time
    for _ in range(count):
        clock = (clock - rng.randint(0, 20)) % 86400
        status = rng.choice(STATUSES)
        tokens = rng.randint(20, 4000)
        rows.append((
            f"{clock // 3600:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}",
            status,
            f"{rng.choice(TEMPLATES)}@{rng.randint(1, 3)}.{rng.randint(0, 9)}",
            rng.choice(MODELS),
            f"{tokens:,}",
            f"${tokens * rng.uniform(5e-8, 6e-7):.5f}",
            f"{rng.randint(80, 9000)}ms",
            sentence(rng) if status != "queued" else "",
        ))
    return rows


class TableApp(App[None]):
    """Only a `DataTable`, filled in `on_mount` as the Textual docs show."""

    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows
        self.mounted_at = math.nan
        self.add_rows_s = math.nan

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        self.mounted_at = time.perf_counter()
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        started = time.perf_counter()
        table.add_rows(self.rows)
        self.add_rows_s = time.perf_counter() - started


class FirstFrame:
    """When the app's screen was first drawn with `shown()` true: `Screen._compositor_refresh`
    is wrapped (as `FrameProbe` in `_console.py` does), and after each frame on the current
    screen the probe asks `shown`; the time is that of the end of the refresh."""

    def __init__(self, shown: Callable[[Screen[Any]], bool]) -> None:
        self.shown = shown
        self.hit_at = math.nan
        self.any_rows_at = math.nan  # the first frame after the table had rows, widths or not
        self.rss_at_hit = math.nan
        self.lock = threading.Lock()
        self.drawn = asyncio.Event()
        refresh = Screen._compositor_refresh
        probe = self

        def observed_refresh(screen: Screen[Any]) -> None:
            refresh(screen)
            drawn = time.perf_counter()
            if math.isnan(probe.any_rows_at) and screen is screen.app.screen:
                tables = screen.query(DataTable)
                if tables and tables.first().row_count:
                    probe.any_rows_at = drawn
            if math.isnan(probe.hit_at) and screen is screen.app.screen and probe.shown(screen):
                with probe.lock:
                    probe.hit_at = drawn
                probe.rss_at_hit = rss_mib()
                probe.drawn.set()

        Screen._compositor_refresh = observed_refresh  # type: ignore[method-assign, assignment]


def screen_text(screen: Screen[Any]) -> list[str]:
    """The lines of the screen as its compositor last drew it."""
    return [strip.text for strip in screen._compositor.render_strips()]


def rows_visible(first_row: tuple[str, ...]) -> Callable[[Screen[Any]], bool]:
    """Whether a screen shows a `DataTable` with rows, the first one's time and template@version
    in full on one line (columns wide enough for the rows, not only for their labels)."""
    wanted = (first_row[0], first_row[2])

    def shown(screen: Screen[Any]) -> bool:
        tables = screen.query(DataTable)
        if not tables or tables.first().row_count == 0:
            return False
        return any(all(cell in line for cell in wanted) for line in screen_text(screen))

    return shown


def emit(result: dict[str, Any]) -> None:
    """The human lines, then the JSON line."""
    if result["timed_out"]:
        print(f"DataTable, {result['rows']:,} rows: first paint over {result['limit_s']:g} s")
    else:
        print(f"DataTable, {result['rows']:,} rows: first paint {result['first_paint_ms']:,.0f} "
              f"ms (to on_mount {result['mount_ms']:,.0f} ms, add_rows "
              f"{result['add_rows_ms']:,.0f} ms, measuring rows "
              f"{result['update_dimensions_ms']:,.0f} ms); RSS {result['rss_before_mib']:.0f} "
              f"-> {result['rss_after_mib']:.0f} MiB")
    print(json.dumps(result), flush=True)


def ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 1)


async def measure(count: int, limit: float, seed: int) -> dict[str, Any]:
    rows = history_rows(count, seed)
    # The Pilot waits up to 30 s for the screen to process its first messages, then raises;
    # the time limit is this script's to enforce.
    wait_for_screen = Pilot._wait_for_screen

    async def patient_wait(pilot: Pilot[Any]) -> bool:
        return await wait_for_screen(pilot, limit + 10)

    Pilot._wait_for_screen = patient_wait  # type: ignore[method-assign, assignment]

    update_s = 0.0
    update_dimensions = DataTable._update_dimensions

    def timed_update(table: DataTable[Any], new_rows: Any) -> None:
        nonlocal update_s
        started = time.perf_counter()
        update_dimensions(table, new_rows)
        update_s += time.perf_counter() - started

    DataTable._update_dimensions = timed_update  # type: ignore[method-assign, assignment]
    probe = FirstFrame(rows_visible(rows[0]) if rows else lambda screen: False)
    app = TableApp(rows)
    result: dict[str, Any] = {"rows": count, "columns": len(COLUMNS), "size": list(SIZE),
                              "limit_s": limit, "textual": textual.__version__}
    finished = False

    def out_of_time() -> None:
        with probe.lock:
            if finished or not math.isnan(probe.hit_at):
                return
            result.update(first_paint_ms=None, add_rows_ms=ms(app.add_rows_s),
                          mount_ms=ms(app.mounted_at - started), update_dimensions_ms=None,
                          any_rows_frame_ms=ms(probe.any_rows_at - started),
                          rss_after_mib=round(rss_mib(), 1), timed_out=True,
                          result=f"over {limit:g} s")
            emit(result)
            os._exit(0)

    result["rss_before_mib"] = round(rss_mib(), 1)
    timer = threading.Timer(limit, out_of_time)
    timer.daemon = True
    started = time.perf_counter()
    timer.start()
    async with app.run_test(size=SIZE):
        drawn = asyncio.create_task(probe.drawn.wait())
        ended = [app._task] if app._task is not None else []
        await asyncio.wait([drawn, *ended], return_when=asyncio.FIRST_COMPLETED)
        drawn.cancel()
        with probe.lock:
            finished = True
        timer.cancel()
        if math.isnan(probe.hit_at):
            raise RuntimeError("the app ended before a frame showed the rows")
        lines = screen_text(app.screen)
    result.update(first_paint_ms=ms(probe.hit_at - started), add_rows_ms=ms(app.add_rows_s),
                  mount_ms=ms(app.mounted_at - started), update_dimensions_ms=ms(update_s),
                  any_rows_frame_ms=ms(probe.any_rows_at - started),
                  rss_after_mib=round(probe.rss_at_hit, 1), timed_out=False,
                  result=f"{(probe.hit_at - started) * 1000:.0f} ms")
    print("\n".join(line.rstrip() for line in lines[:4]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the table")
    parser.add_argument("--limit", type=float, default=120.0,
                        help="seconds to wait for the first frame before reporting 'over'")
    parser.add_argument("--seed", type=int, default=7, help="seed of the row contents")
    args = parser.parse_args(argv)
    emit(asyncio.run(measure(args.rows, args.limit, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
