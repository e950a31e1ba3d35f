"""Streaming display in the console: 5,000 tokens of Markdown at 1,000 tokens/s into the
Playground, against Textual's own `Markdown` + `MarkdownStream` fed the same deltas.

    python -m tests.bench.bench_console_stream [--tokens 5000] [--rate 1000] [--runs 3]
        [--key-interval 0.05] [--baseline-cap 25] [--always-scrollbar]

One `pe serve` (pinned to one core when taskset is there; this process on the other). The
simulator's answer to a text prompt is Markdown: headings, bullet lists with bold, paragraphs
and python code fences. The document is fetched once at full speed with the SDK (it is
deterministic), to check every run against.

**Ours**: one `PeApp` run headless (`run_test`, 140x42) on a profile pointing at the server;
raw prompt, `extra_model_config = {"simulate": {"tokens_per_second": 1000, "output_tokens":
5000}}`, `action_run()` (what ctrl+enter does). **Baseline**: a minimal Textual app, a
`TextArea` and a `VerticalScroll` (anchored) with a `Markdown` of the same size as our output
view, fed by `Markdown.get_stream()` with the deltas of the same request made with the same SDK
(`AsyncPromptExecutionClient.stream`), as Textual's docs show.

Observed (by wrapping methods in this process; the app itself is unchanged):

* the SDK's stream parser (`_StreamState.handle`): when each delta and the completed event
  arrive at the client;
* the widget: how much of the text it has drawn (ours: `StreamView._flush`, after which its
  rendered lines must end with the document's last words; baseline: `Markdown.append` done);
* every screen refresh (`Screen._compositor_refresh`, which renders the changed lines of the
  visible widgets; headless, only the terminal write is skipped);
* garbage collections (`gc.callbacks`): how many full ones, and the longest pause.

Figures per run:

* (a) **lag**: from the last delta arriving to the first screen refresh after the widget has
  drawn all of the text (target: <= 0.5 s). Separately, **end on screen**: the first refresh
  after which the words in the widget's region of the screen end with the document's last
  words, i.e. the view followed the stream to its end (target: every run);
* (b) **key latency**: a thread types a letter into the focused `TextArea` every 50 ms for the
  whole stream, the way Textual's input thread delivers keys (`driver.send_message`); latency
  is from sending to the TextArea's key handler having inserted it (p50/p95/max; target p95 <=
  100 ms). Every letter must land (checked);
* (c) **drawn tokens/s**: output tokens / (drawn - first delta); beside it the arrival rate,
  the worst staleness while streaming (at each refresh, how long ago the oldest not-yet-drawn
  text arrived), the longest gap between refreshes, refreshes, and this process's CPU.

One untimed warm-up per side (full speed, no typing), then `--runs` runs each; medians are
compared, and only ours gets PASS/MISS (the baseline is a reference). A baseline run that has
not drawn the whole document `--baseline-cap` seconds after the stream ended is cut there and
reported with how far it got. `--always-scrollbar` is a what-if: our output view gets
`overflow-y: scroll` (its scrollbar exists from the start), which makes following the end work.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Markdown, TabbedContent, TextArea

from promptexecution import AsyncPromptExecutionClient
from promptexecution.client import ExecutionCompleted, TextDelta
from promptexecution.client.streaming import _StreamState
from promptexecution.console.widgets.output_column import OutputColumn
from promptexecution.console.widgets.stream_view import StreamView

from ._common import (
    Pinning,
    ServerProcess,
    exit_status,
    fmt_runs,
    machine_summary,
    median,
    pe_serve_argv,
    percentile,
    read_local_key,
    run_bounded,
    temp_data_dir,
    verdict,
)
from ._console import (
    PROMPT,
    SIZE,
    bench_app,
    connected,
    private_dirs,
    use_raw_prompt,
    wait_until,
)

TARGET_LAG = 0.5
TARGET_KEY_P95 = 0.100
LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[A-Za-z0-9_]+")


def now() -> float:
    return time.perf_counter()


# ---------------------------------------------------------------------- observation


@dataclass
class Probe:
    """What one run observed; the wrapped methods write here while `active`."""

    expected: str = ""
    tail: list[str] = field(default_factory=list)
    active: bool = False
    text_widget: Widget | None = None  # where the document is on screen
    key_targets: tuple[str, ...] = ()
    started: float = math.nan
    received: int = 0
    deltas: list[tuple[float, int]] = field(default_factory=list)  # arrival, chars so far
    completed_at: float = math.nan
    output_tokens: int = 0
    displayed: int = 0  # characters the widget has drawn
    full_at: float = math.nan  # the widget had drawn all of the text
    lines_end_ok: bool | None = None  # ours: its rendered lines end with the document's end
    paints: list[tuple[float, int]] = field(default_factory=list)  # refresh, chars drawn
    drawn_at: float = math.nan  # first refresh after the widget had drawn all of the text
    shown_at: float = math.nan  # first refresh with the document's end visible on screen
    keys_sent: list[float] = field(default_factory=list)
    keys_handled: list[float] = field(default_factory=list)
    gc_pauses: list[tuple[int, float]] = field(default_factory=list)  # generation, seconds
    _gc_started: float = math.nan

    def begin(self, widget: Widget, key_targets: tuple[str, ...]) -> None:
        self.text_widget, self.key_targets = widget, key_targets
        self.received = self.displayed = self.output_tokens = 0
        self.deltas, self.paints, self.keys_sent, self.keys_handled = [], [], [], []
        self.gc_pauses = []
        self.completed_at = self.full_at = self.drawn_at = self.shown_at = math.nan
        self.lines_end_ok = None
        self.started = now()
        self.active = True

    def drawn(self, chars: int) -> None:
        self.displayed = chars
        if chars >= len(self.expected) and math.isnan(self.full_at):
            self.full_at = now()

    def ends_with_tail(self, text: str) -> bool:
        return _WORD.findall(text)[-len(self.tail):] == self.tail

    def end_on_screen(self, screen: Screen[Any]) -> bool:
        """Whether the words in the text widget's region end with the document's last words."""
        widget = self.text_widget
        if widget is None:
            return False
        region: Region = widget.scrollable_content_region
        strips = screen._compositor.render_strips()
        lines = [strip.crop(region.x, region.right).text
                 for strip in strips[region.y:region.bottom]]
        return self.ends_with_tail(" ".join(lines))


PROBE = Probe()


def install_probes() -> None:
    """Wraps the methods that tell when text arrives, is drawn and reaches the screen."""
    handle = _StreamState.handle

    def observed_handle(self: _StreamState, sse: Any) -> Any:
        event = handle(self, sse)
        if PROBE.active:
            if isinstance(event, TextDelta):
                PROBE.received += len(event.text)
                PROBE.deltas.append((now(), PROBE.received))
            elif isinstance(event, ExecutionCompleted):
                PROBE.completed_at = now()
                meta = event.execution.metadata
                PROBE.output_tokens = meta.output_tokens if meta is not None else 0
        return event

    _StreamState.handle = observed_handle  # type: ignore[method-assign]

    flush = StreamView._flush

    def observed_flush(self: StreamView) -> None:
        flush(self)
        if PROBE.active and self is PROBE.text_widget:
            PROBE.drawn(len(self.text))
            if PROBE.lines_end_ok is None and not math.isnan(PROBE.full_at):
                lines = getattr(self, "_closed_lines", []) + getattr(self, "_tail_lines", [])
                PROBE.lines_end_ok = PROBE.ends_with_tail(
                    " ".join(strip.text for strip in lines[-12:]))

    StreamView._flush = observed_flush  # type: ignore[method-assign]

    refresh = Screen._compositor_refresh

    def observed_refresh(self: Screen[Any]) -> None:
        refresh(self)
        if PROBE.active and self is self.app.screen:
            at = now()
            PROBE.paints.append((at, PROBE.displayed))
            if not math.isnan(PROBE.full_at):
                if math.isnan(PROBE.drawn_at):
                    PROBE.drawn_at = at
                if math.isnan(PROBE.shown_at) and PROBE.end_on_screen(self):
                    PROBE.shown_at = at

    Screen._compositor_refresh = observed_refresh  # type: ignore[method-assign]

    on_key = TextArea._on_key

    async def observed_on_key(self: TextArea, event: events.Key) -> None:
        await on_key(self, event)
        if PROBE.active and self.id in PROBE.key_targets and event.key in LETTERS:
            PROBE.keys_handled.append(now())

    TextArea._on_key = observed_on_key  # type: ignore[method-assign]

    def observe_gc(phase: str, info: dict[str, int]) -> None:
        if not PROBE.active:
            return
        if phase == "start":
            PROBE._gc_started = now()
        elif not math.isnan(PROBE._gc_started):
            PROBE.gc_pauses.append((info["generation"], now() - PROBE._gc_started))

    gc.callbacks.append(observe_gc)


class Typist(threading.Thread):
    """Types a letter every `interval` seconds, as Textual's input thread delivers keys."""

    def __init__(self, app: App[Any], interval: float) -> None:
        super().__init__(name="typist", daemon=True)
        self.app, self.interval = app, interval
        self.typed: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        driver = self.app._driver
        assert driver is not None
        next_at = now()
        while not self.stopping.wait(max(0.0, next_at - now())):
            letter = LETTERS[len(self.typed) % len(LETTERS)]
            event = events.Key(letter, letter)
            event.set_sender(self.app)
            self.typed.append(letter)
            PROBE.keys_sent.append(now())
            driver.send_message(event)
            next_at += self.interval

    def stop(self) -> str:
        self.stopping.set()
        self.join(5)
        return "".join(self.typed)


# ---------------------------------------------------------------------- results


@dataclass
class Run:
    lag: float = math.nan  # last delta -> first refresh with all of the text drawn
    after_completed: float = math.nan  # completed event -> the same refresh
    shown_lag: float = math.nan  # last delta -> the end of the text visible on screen
    scroll: str = ""  # where the text widget was scrolled at the end (when not shown)
    keys: list[float] = field(default_factory=list)
    keys_unhandled: int = 0
    displayed_tps: float = math.nan
    arrival_tps: float = math.nan
    staleness: float = math.nan
    max_gap: float = math.nan
    refreshes: int = 0
    cpu: float = math.nan
    deltas: int = 0
    gc_full: int = 0  # full (generation 2) collections during the run
    gc_max: float = math.nan  # the longest collection pause
    reached: float = 1.0  # share of the document drawn when the run ended
    problems: list[str] = field(default_factory=list)

    @property
    def drawn(self) -> bool:
        return not math.isnan(self.lag)

    @property
    def shown(self) -> bool:
        return not math.isnan(self.shown_lag)

    @property
    def key_p50(self) -> float:
        return percentile(self.keys, 50)

    @property
    def key_p95(self) -> float:
        return percentile(self.keys, 95)

    @property
    def key_max(self) -> float:
        return max(self.keys) if self.keys else math.nan

    def line(self, label: str) -> str:
        if not self.drawn:
            lag = f"NOT DRAWN within the cap: {self.reached * 100:.0f}% of the text drawn"
        else:
            lag = (f"lag {self.lag * 1000:5.0f} ms (completed->drawn "
                   f"{self.after_completed * 1000:.0f} ms), end on screen "
                   + (f"{self.shown_lag * 1000:.0f} ms" if self.shown else
                      f"NEVER ({self.scroll})"))
        return (f"  {label}  {lag}; keys n={len(self.keys)} p50 {self.key_p50 * 1000:.1f} / "
                f"p95 {self.key_p95 * 1000:.1f} / max {self.key_max * 1000:.1f} ms"
                + (f" ({self.keys_unhandled} not handled)" if self.keys_unhandled else "")
                + f"; drawn {self.displayed_tps:,.0f} tok/s (arrived {self.arrival_tps:,.0f}); "
                f"worst staleness {self.staleness * 1000:.0f} ms, longest refresh gap "
                f"{self.max_gap * 1000:.0f} ms, {self.refreshes} refreshes, {self.deltas} "
                f"deltas, CPU {self.cpu * 100:.0f}%, {self.gc_full} full GCs (longest GC "
                f"pause {self.gc_max * 1000:.0f} ms)")


def summarise(cpu: float, wall: float, typed_count: int) -> Run:
    """The figures of the run the probe just watched."""
    p = PROBE
    run = Run(deltas=len(p.deltas), refreshes=len(p.paints), cpu=cpu / wall if wall else 0)
    if not p.deltas:
        run.problems.append("no delta arrived")
        return run
    first, last = p.deltas[0][0], p.deltas[-1][0]
    end = p.drawn_at
    if not math.isnan(end):
        run.lag = end - last
        run.after_completed = end - p.completed_at
        run.displayed_tps = p.output_tokens / (end - first)
    else:
        run.reached = p.displayed / max(1, len(p.expected))
    if not math.isnan(p.shown_at):
        run.shown_lag = p.shown_at - last
    if last > first:
        run.arrival_tps = p.output_tokens / (last - first)
    # staleness at each refresh: how long ago the first character not yet drawn arrived
    horizon = end if not math.isnan(end) else math.inf
    worst = 0.0
    index = 0
    for at, drawn in p.paints:
        if at > horizon:
            break
        while index < len(p.deltas) and p.deltas[index][1] <= drawn:
            index += 1
        if index < len(p.deltas) and p.deltas[index][0] < at:
            worst = max(worst, at - p.deltas[index][0])
    run.staleness = max(worst, run.lag if run.drawn else 0.0)
    stream_paints = [at for at, _ in p.paints if first <= at <= min(horizon, p.paints[-1][0])]
    gaps = [b - a for a, b in zip([first, *stream_paints], stream_paints, strict=False)]
    run.max_gap = max(gaps) if gaps else math.nan
    handled = p.keys_handled
    run.keys = [h - s for s, h in zip(p.keys_sent, handled, strict=False)]
    run.keys_unhandled = typed_count - len(handled)
    run.gc_full = sum(1 for generation, _ in p.gc_pauses if generation == 2)
    run.gc_max = max((pause for _, pause in p.gc_pauses), default=0.0)
    return run


def scroll_state(widget: Widget) -> str:
    return (f"the view is at scroll_y {widget.scroll_y:.0f} of {widget.max_scroll_y:.0f}: "
            "it stopped following the end")


# ---------------------------------------------------------------------- ours


async def run_ours(base_url: str, key: str, tmp: Path, args: argparse.Namespace
                   ) -> tuple[list[Run], tuple[int, int]]:
    app = bench_app(base_url, key, tmp)
    runs: list[Run] = []
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        playground = app.playground
        assert playground is not None
        await use_raw_prompt(pilot, app)
        tabs = playground.query_one("#source-tabs", TabbedContent)
        editor = playground.query_one("#raw-prompt", TextArea)
        editor.focus()
        column = playground.query_one("#column-1", OutputColumn)
        view = column.view
        if args.always_scrollbar:
            view.styles.overflow_y = "scroll"  # what-if: see --always-scrollbar
        await pilot.pause()
        size = (view.outer_size.width, view.outer_size.height)
        for index in range(args.runs + 1):
            warm = index == 0
            simulate: dict[str, Any] = {"output_tokens": args.tokens}
            if not warm:
                simulate["tokens_per_second"] = args.rate
            playground.extra_model_config = {"simulate": simulate}
            editor.text = PROMPT
            editor.move_cursor(editor.document.end)
            await asyncio.sleep(0.3)
            if tabs.active != "source-raw":
                raise RuntimeError(f"the Playground's source tab is {tabs.active!r}")
            PROBE.begin(view, ("raw-prompt",))
            cpu0, wall0 = time.process_time(), now()
            await playground.action_run()
            typist = Typist(app, args.key_interval)
            if not warm:
                typist.start()
            problems: list[str] = []
            try:
                await wait_until(lambda: not column.running and not math.isnan(PROBE.drawn_at),
                                 args.tokens / args.rate + 30, "our run")
                await wait_until(lambda: not math.isnan(PROBE.shown_at), 1.0, "")
            except TimeoutError as exc:
                if math.isnan(PROBE.drawn_at):
                    problems.append(str(exc))
            typed = typist.stop() if not warm else ""
            cpu, wall = time.process_time() - cpu0, now() - wall0
            try:
                count = len(typed)
                await wait_until(lambda: len(PROBE.keys_handled) >= count, 10,  # noqa: B023
                                 "typed keys handled")
            except TimeoutError as exc:
                problems.append(str(exc))
            PROBE.active = False
            run = summarise(cpu, wall, len(typed))
            if not run.shown:
                run.scroll = scroll_state(view)
            execution = column.last_execution
            if execution is None or execution.status != "completed":
                problems.append(f"run did not complete: {column.error!r}")
            elif execution.content != PROBE.expected:
                problems.append("the execution's content differs from the document")
            if view.text != PROBE.expected:
                problems.append("the view's text differs from the document")
            if PROBE.lines_end_ok is False:
                problems.append("the view's rendered lines do not end with the document's end")
            if editor.text != PROMPT + typed:
                problems.append("typed letters missing from the raw prompt "
                                f"({len(editor.text) - len(PROMPT)} of {len(typed)} landed)")
            run.problems += problems
            if warm:
                print("  ours warm-up (full speed, no typing): "
                      f"{'ok' if not run.problems else 'WRONG'}", flush=True)
            else:
                runs.append(run)
                print(run.line(f"ours run {index}    "), flush=True)
            for problem in run.problems:
                print(f"    ! {problem}", flush=True)
        editor.text = ""
    return runs, size


# ---------------------------------------------------------------------- baseline


class ProbedMarkdown(Markdown):
    """Textual's Markdown, telling the probe when an append has been laid out."""

    def append(self, markdown: str) -> AwaitComplete:
        appended = super().append(markdown)

        async def done() -> None:
            await appended
            if PROBE.active:
                PROBE.drawn(PROBE.displayed + len(markdown))

        return AwaitComplete(done())


class BaselineApp(App[None]):
    """A TextArea to type into, and a Markdown fed by MarkdownStream."""

    def __init__(self, base_url: str, key: str, simulate: dict[str, Any],
                 size: tuple[int, int]) -> None:
        self.CSS = (f"#typing {{ height: 3; }}\n"
                    f"#out {{ width: {size[0]}; height: {size[1]}; }}\n")
        super().__init__()
        self.client = AsyncPromptExecutionClient(api_key=key, base_url=base_url, max_retries=0)
        self.simulate = simulate
        self.stream_error: BaseException | None = None
        self.content: str | None = None

    def compose(self) -> ComposeResult:
        yield TextArea(id="typing")
        with VerticalScroll(id="out"):
            yield ProbedMarkdown(id="md")

    def start(self) -> None:
        self._feed()

    @work(exclusive=True, exit_on_error=False)
    async def _feed(self) -> None:
        """What Textual's docs show for `Markdown.get_stream`, fed by the SDK."""
        markdown = self.query_one(ProbedMarkdown)
        self.query_one("#out", VerticalScroll).anchor()
        stream = Markdown.get_stream(markdown)
        try:
            async with self.client.stream(prompt=PROMPT,
                                          model_config={"simulate": self.simulate}) as source:
                async for event in source:
                    if isinstance(event, TextDelta):
                        await stream.write(event.text)
                    elif isinstance(event, ExecutionCompleted):
                        self.content = event.execution.content
        except Exception as exc:  # reported as a problem of the run
            self.stream_error = exc
        finally:
            await stream.stop()


async def run_baseline_once(base_url: str, key: str, args: argparse.Namespace,
                            size: tuple[int, int], warm: bool) -> Run:
    simulate: dict[str, Any] = {"output_tokens": args.tokens}
    if not warm:
        simulate["tokens_per_second"] = args.rate
    app = BaselineApp(base_url, key, simulate, size)
    problems: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one("#typing", TextArea)
        editor.focus()
        await pilot.pause()
        await asyncio.sleep(0.3)
        out = app.query_one("#out", VerticalScroll)
        PROBE.begin(out, ("typing",))
        cpu0, wall0 = time.process_time(), now()
        app.start()
        typist = Typist(app, args.key_interval)
        if not warm:
            typist.start()
        try:
            await wait_until(lambda: not math.isnan(PROBE.completed_at) or app.stream_error,
                             args.tokens / args.rate + 30, "baseline stream")
            await wait_until(lambda: not math.isnan(PROBE.drawn_at), args.baseline_cap,
                             "baseline display")
            await wait_until(lambda: not math.isnan(PROBE.shown_at), 1.0, "")
        except TimeoutError as exc:
            if math.isnan(PROBE.completed_at):
                problems.append(str(exc))
        typed = typist.stop() if not warm else ""
        cpu, wall = time.process_time() - cpu0, now() - wall0
        drawn = not math.isnan(PROBE.drawn_at)
        if drawn:
            try:
                await wait_until(lambda: len(PROBE.keys_handled) >= len(typed), 10,
                                 "typed keys handled")
            except TimeoutError as exc:
                problems.append(str(exc))
        PROBE.active = False
        run = summarise(cpu, wall, len(typed))
        if drawn and not run.shown:
            run.scroll = scroll_state(out)
        if app.stream_error is not None:
            problems.append(f"stream failed: {app.stream_error!r}")
        elif app.content != PROBE.expected:
            problems.append("the execution's content differs from the document")
        if drawn:
            if app.query_one(ProbedMarkdown).source != PROBE.expected:
                problems.append("the Markdown's source differs from the document")
            if editor.text != typed:
                problems.append(f"typed letters missing ({len(editor.text)} of {len(typed)})")
        run.problems += problems
        await app.client.aclose()
    return run


# ---------------------------------------------------------------------- main


async def fetch_document(base_url: str, key: str, tokens: int) -> tuple[str, int]:
    async with AsyncPromptExecutionClient(api_key=key, base_url=base_url) as client:
        async with client.stream(prompt=PROMPT,
                                 model_config={"simulate": {"output_tokens": tokens}}) as s:
            execution = await s.final_execution()
    meta = execution.metadata
    return execution.content or "", meta.output_tokens if meta is not None else 0


def describe(text: str) -> str:
    lines = text.splitlines()
    return (f"{len(text):,} chars, {len(lines)} lines: "
            f"{sum(ln.startswith('#') for ln in lines)} headings, "
            f"{sum(ln.startswith('- ') for ln in lines)} list items, "
            f"{sum(ln.startswith('```python') for ln in lines)} code fences")


def report(label: str, runs: list[Run], targets: bool) -> None:
    def tag(ok: bool) -> str:
        return verdict(ok) if targets else "(reference)"

    lags = [r.lag for r in runs if r.drawn]
    all_drawn = len(lags) == len(runs)
    if lags:
        lag_text = (f"runs {fmt_runs([v * 1000 for v in lags], '{:.0f}')} ms, median "
                    f"{median(lags) * 1000:.0f} ms")
    else:
        lag_text = "never drawn within the cap"
    if not all_drawn:
        lag_text += (f" ({len(runs) - len(lags)} of {len(runs)} runs not drawn within the "
                     f"cap; reached {fmt_runs([r.reached * 100 for r in runs], '{:.0f}')}%)")
    print(f"  {label} lag (last delta -> the text's end drawn and refreshed): {lag_text}, "
          f"target <= {TARGET_LAG * 1000:.0f} ms: "
          f"{tag(all_drawn and median(lags) <= TARGET_LAG)}")
    shown = [r for r in runs if r.shown]
    shown_text = (f"{len(shown)} of {len(runs)} runs" + (
        f", lag median {median([r.shown_lag for r in shown]) * 1000:.0f} ms" if shown else ""))
    print(f"  {label} end of the text visible on screen (the view follows the stream): "
          f"{shown_text}: {tag(len(shown) == len(runs))}")
    for run in runs:
        if run.drawn and not run.shown:
            print(f"    {run.scroll}")
            break
    p95s = [r.key_p95 for r in runs]
    print(f"  {label} key latency p95: runs {fmt_runs([v * 1000 for v in p95s])} ms, median "
          f"{median(p95s) * 1000:.1f} ms (p50 {median([r.key_p50 for r in runs]) * 1000:.1f}, "
          f"max {max(r.key_max for r in runs) * 1000:.1f}), target p95 <= "
          f"{TARGET_KEY_P95 * 1000:.0f} ms: {tag(median(p95s) <= TARGET_KEY_P95)}")
    tps = [r.displayed_tps for r in runs if r.drawn]
    print(f"  {label} drawn tokens/s: runs {fmt_runs(tps, '{:,.0f}')}, median "
          f"{median(tps):,.0f} (arrived at {median([r.arrival_tps for r in runs]):,.0f}); "
          f"worst staleness median {median([r.staleness for r in runs]) * 1000:.0f} ms; "
          f"longest refresh gap median {median([r.max_gap for r in runs]) * 1000:.0f} ms; "
          f"CPU median {median([r.cpu for r in runs]) * 100:.0f}%; longest GC pause median "
          f"{median([r.gc_max for r in runs]) * 1000:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="tokens/s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--key-interval", type=float, default=0.05)
    parser.add_argument("--baseline-cap", type=float, default=25.0,
                        help="seconds to wait for the baseline after its stream ended")
    parser.add_argument("--always-scrollbar", action="store_true",
                        help="what-if: give our output view `overflow-y: scroll`, so its "
                             "scrollbar exists from the start and following the end works")
    args = parser.parse_args(argv)

    pinning = Pinning()
    print(f"bench_console_stream: {args.tokens:,} tokens of Markdown at {args.rate:,.0f} "
          f"tokens/s into the Playground (headless {SIZE[0]}x{SIZE[1]}), vs Textual "
          "Markdown + MarkdownStream")
    print(f"  machine: {machine_summary()}")
    print(f"  {pinning.note}")
    install_probes()
    problems: list[str] = []
    with temp_data_dir("pe-bench-console-stream-") as tmp:
        private_dirs(tmp)
        data_dir = tmp / "data"
        with ServerProcess(pinning.server(pe_serve_argv(data_dir)), "pe serve") as server:
            url = server.start()
            if pinning.enabled:
                os.sched_setaffinity(0, {pinning.client_cpu})
            key = read_local_key(data_dir)
            base_url = f"{url}/v2"
            print(f"  pe serve {url} (pid {server.pid})")
            document, tokens = asyncio.run(fetch_document(base_url, key, args.tokens))
            PROBE.expected = document
            PROBE.tail = _WORD.findall(document)[-3:]
            print(f"  document: {describe(document)}; {tokens:,} output tokens; ends with "
                  f"{' '.join(PROBE.tail)!r}", flush=True)
            ours, size = asyncio.run(run_ours(base_url, key, tmp, args))
            problems += [f"ours: {p}" for r in ours for p in r.problems]
            print(f"  baseline: Markdown in a {size[0]}x{size[1]} VerticalScroll (the size of "
                  "our output view)", flush=True)
            baseline: list[Run] = []
            for index in range(args.runs + 1):
                run = asyncio.run(run_baseline_once(base_url, key, args, size, index == 0))
                if index == 0:
                    print(f"  baseline warm-up (full speed, no typing): "
                          f"{'ok' if not run.problems else 'WRONG'}", flush=True)
                else:
                    baseline.append(run)
                    print(run.line(f"baseline run {index}"), flush=True)
                for problem in run.problems:
                    print(f"    ! {problem}", flush=True)
                problems += [f"baseline: {p}" for p in run.problems]
    print()
    report("ours    ", ours, targets=True)
    report("baseline", baseline, targets=False)
    lag_ours = median([r.lag for r in ours])
    lags_base = [r.lag for r in baseline if r.drawn]
    if lags_base and len(lags_base) == len(baseline):
        print(f"  ours vs plain MarkdownStream: lag {lag_ours * 1000:.0f} vs "
              f"{median(lags_base) * 1000:.0f} ms, key p95 "
              f"{median([r.key_p95 for r in ours]) * 1000:.1f} vs "
              f"{median([r.key_p95 for r in baseline]) * 1000:.1f} ms, drawn "
              f"{median([r.displayed_tps for r in ours]):,.0f} vs "
              f"{median([r.displayed_tps for r in baseline]):,.0f} tokens/s, CPU "
              f"{median([r.cpu for r in ours]) * 100:.0f}% vs "
              f"{median([r.cpu for r in baseline]) * 100:.0f}%")
    print("  checks (content == document, widget text == document, rendered lines end with "
          f"the document's end, every typed letter landed): {'ok' if not problems else 'FAILED'}")
    return exit_status(problems, server)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_console_stream"))
