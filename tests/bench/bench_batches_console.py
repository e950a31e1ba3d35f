"""The Batches screen (F5) against a real `pe serve`: a 50,000-row file submitted, watched
while it runs, browsed when it is done; and twenty batches running at once.

    python -m tests.bench.bench_batches_console [--rows 50000] [--batches 20]

The console runs in this process (`app.run_test`, 140x42); key to frame with `FrameProbe`.
1. Submit: a JSONL file of `--rows` rows (~20 MB at 50,000) through the submit screen:
   ctrl+s (the whole file checked locally, the cost estimated) to the confirmation, then
   Send to the server's 202 (target: both together <= 3 s).
2. Watching that batch at simulator latency 0 on its own screen (panel and results): how
   often the panel is drawn with new figures (target >= 2 a second), Down in the results
   every 100 ms, key to frame p95 (target <= 50 ms), and the console's CPU (this process,
   user + system) over the run (target <= 25% of a core).
3. The finished batch opened from the list: Enter to its first result rows (target
   <= 300 ms).
4. `--batches` batches running at once (each held by slow items) watched on the list for
   10 s: every request the console sends is counted by path (target: <= 1 request a
   second in all, or one stream).
Exits non-zero only when something is wrong (wrong counts, an error, a crash); a missed
target is reported as MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import string
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

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
from ._console import SIZE, FrameProbe, bench_app, connected, wait_until

SUBMIT_S = 3.0
PANEL_PER_S = 2.0
KEY_P95_MS = 50.0
CPU_SHARE = 0.25
FIRST_ROWS_MS = 300.0
REQUESTS_PER_S = 1.0
TEMPLATE = {"name": "bench_triage", "prompt": "Sort this {{ tier }} feedback: {{ text }}",
            "variables": [{"name": "text", "type": "string", "required": True},
                          {"name": "tier", "type": "string", "required": False,
                           "default": "standard"}]}


def write_rows(path: Path, rows: int) -> float:
    """`rows` JSON lines of about 400 bytes each; returns the file's MiB."""
    rng = random.Random(13)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
             for _ in range(500)]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            text = " ".join(rng.choices(words, k=60))
            handle.write(json.dumps({"id": f"row-{i:06d}", "text": text,
                                     "tier": rng.choice(["gold", "standard"])}) + "\n")
    return path.stat().st_size / 2**20


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RequestCounter:
    """Every request the console's HTTP client sends, by method and path (the transport is
    wrapped once; nothing it sends changes)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        send = httpx.AsyncClient.send
        counter = self

        async def counted(client: httpx.AsyncClient, request: httpx.Request,
                          **kwargs: Any) -> httpx.Response:
            counter.seen[f"{request.method} {request.url.path}"] += 1
            return await send(client, request, **kwargs)

        httpx.AsyncClient.send = counted  # type: ignore[method-assign]


async def bench_console(url: str, key: str, tmp: Path, rows: int, batches: int,
                        problems: list[str]) -> dict[str, float]:
    from promptexecution.console.screens.batches.batch_screen import BatchScreen
    from promptexecution.console.screens.batches.panel import BatchPanel
    from promptexecution.console.screens.batches.screen import BatchesScreen
    from promptexecution.console.screens.batches.submit import SubmitScreen
    from promptexecution.console.screens.templates.dialogs import ConfirmScreen
    from promptexecution.console.widgets.virtual_table import VirtualTable

    results: dict[str, float] = {}
    path = tmp / "rows.jsonl"
    mib = write_rows(path, rows)
    counter = RequestCounter()
    probe = FrameProbe()
    shows: list[tuple[float, tuple[int, ...]]] = []
    show = BatchPanel.show

    def observed_show(panel: Any, state: Any, *args: Any) -> None:
        show(panel, state, *args)
        if state is not None:
            counts = state.counts
            shows.append((time.perf_counter(), (counts.completed, counts.failed,
                                                counts.pending)))

    BatchPanel.show = observed_show  # type: ignore[method-assign]
    app = bench_app(f"{url}/v2", key, tmp)
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        client = app.client_or_none()
        assert client is not None
        await client.templates.create(**TEMPLATE)
        await pilot.press("f5")
        await wait_until(lambda: isinstance(app.screen, BatchesScreen)
                         and app.batch_book.loaded, 10, "the Batches screen")

        # 1. Submit a file of `rows` rows.
        await pilot.press("n")
        await wait_until(lambda: isinstance(app.screen, SubmitScreen)
                         and bool(app.screen.templates), 10, "the submit screen")
        form = app.screen
        assert isinstance(form, SubmitScreen)
        form.query_one("#submit-path").value = str(path)  # type: ignore[attr-defined]
        form.query_one("#submit-template").value = next(  # type: ignore[attr-defined]
            t.template_id for t in form.templates if t.name == TEMPLATE["name"])
        await wait_until(lambda: len(form.query(".submit-column")) == 2, 10, "the mapping")
        checked_ms = await probe.key_to_frame(
            app, "ctrl+s", lambda: isinstance(app.screen, ConfirmScreen), limit=30)
        assert form.checked is not None
        if form.checked.problems or len(form.checked.inputs) != rows:
            problems.append(f"the file checked with {len(form.checked.problems)} problems")
        sent = time.perf_counter()
        app.screen.query_one("#confirm-yes").press()  # type: ignore[attr-defined]
        await wait_until(lambda: len(app.batch_book.states) == 1, 30, "the batch accepted")
        accepted_ms = (time.perf_counter() - sent) * 1000
        total = (checked_ms + accepted_ms) / 1000
        results.update(checked=checked_ms, accepted=accepted_ms, submit=total)
        print(f"  submit {rows:,} rows ({mib:.1f} MiB): checked and estimated "
              f"{checked_ms:.0f} ms, sent and accepted {accepted_ms:.0f} ms, together "
              f"{total:.2f} s {verdict(total <= SUBMIT_S)} (target <= {SUBMIT_S:g} s)")

        # 2. Watch it run on its own screen.
        state = next(iter(app.batch_book.states.values()))
        await wait_until(lambda: isinstance(app.screen, BatchesScreen), 10, "back on the list")
        listing = app.screen
        assert isinstance(listing, BatchesScreen)
        await wait_until(lambda: listing.current is not None, 10, "the batch on the list")
        opened_at = time.perf_counter()
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, BatchScreen)
                         and app.screen.rows.loaded, 30, "the batch's screen")
        print(f"  its screen opened while it runs in "
              f"{(time.perf_counter() - opened_at) * 1000:.0f} ms")
        batch = app.screen
        assert isinstance(batch, BatchScreen)
        table = batch.query_one(VirtualTable)
        shows.clear()
        cpu_before, wall_before = cpu_now(), time.perf_counter()
        keys: list[float] = []
        step = 1
        while not state.finished:
            target = max(table.cursor + step, 0)
            step = -step if table.cursor >= 20 or (step < 0 and table.cursor <= 0) else step
            keys.append(await probe.key_to_frame(
                app, "down" if target > table.cursor else "up",
                lambda target=target: table.cursor == target))
            await asyncio.sleep(0.1)
            if time.perf_counter() - wall_before > 120:
                problems.append("the 50,000-item batch did not finish within 120 s")
                break
        watched = time.perf_counter() - wall_before
        cpu = (cpu_now() - cpu_before) / watched
        changes = [t for i, (t, figures) in enumerate(shows)
                   if i == 0 or figures != shows[i - 1][1]]
        per_second = len(changes) / watched
        p95 = percentile(keys, 95)
        results.update(panel_per_s=per_second, key_p95=p95, cpu=cpu, watched=watched)
        print(f"  watching it run for {watched:.1f} s: the panel drawn with new figures "
              f"{per_second:.1f}/s {verdict(per_second >= PANEL_PER_S)} (target >= "
              f"{PANEL_PER_S:g}/s); keys x {len(keys)}: p50 {percentile(keys, 50):.1f} ms, "
              f"p95 {p95:.1f} ms {verdict(p95 <= KEY_P95_MS)} (target <= {KEY_P95_MS:g} ms);"
              f" console CPU {cpu:.0%} of a core {verdict(cpu <= CPU_SHARE)} (target <= "
              f"{CPU_SHARE:.0%})")
        counts = state.counts
        if counts.completed + counts.failed != rows:
            problems.append(f"the batch ended with {counts.completed + counts.failed} items")

        # 3. Open the finished batch: its first rows.
        await pilot.press("escape")
        await wait_until(lambda: isinstance(app.screen, BatchesScreen), 10, "the list")
        await pilot.pause(0.3)
        first_ms = await probe.key_to_frame(
            app, "enter", lambda: isinstance(app.screen, BatchScreen)
            and app.screen.rows.row(0) is not None)
        opened = app.screen
        assert isinstance(opened, BatchScreen)
        results["first_rows"] = first_ms
        print(f"  results browser over {opened.rows.total:,} items: Enter to the first rows "
              f"{first_ms:.0f} ms {verdict(first_ms <= FIRST_ROWS_MS)} (target <= "
              f"{FIRST_ROWS_MS:g} ms)")
        if opened.rows.total != rows:
            problems.append(f"the results browser counted {opened.rows.total} items")
        await pilot.press("escape")

        # 4. Many batches running at once, watched on the list.
        template = next(t for t in (await client.templates.list(limit=100)).templates
                        if t.name == TEMPLATE["name"])
        for _ in range(batches):
            await client.batches.submit(
                [{"variables": {"text": "fast" if i < 5 else "slow"}} for i in range(100)],
                template_id=template.template_id,
                model_config={"simulate": {"latency_ms": 60_000, "latency_when": "slow"}},
                options={"max_concurrent": 2})
        await wait_until(lambda: sum(not s.finished for s in app.batch_book.states.values())
                         == batches, 30, "every batch running on the list")
        await pilot.pause(1.0)
        counter.seen.clear()
        await asyncio.sleep(10.0)
        seen = dict(counter.seen)
        streams = seen.pop("GET /v2/batch/events", 0)
        per_second = sum(seen.values()) / 10.0
        results.update(many_per_s=per_second, many_streams=streams)
        detail = ", ".join(f"{path} x{n}" for path, n in sorted(seen.items())) or "none"
        print(f"  {batches} batches running, watched on the list for 10 s: "
              f"{per_second:.1f} requests/s ({detail}) and {streams} new stream(s) "
              f"{verdict(per_second <= REQUESTS_PER_S)} (target <= {REQUESTS_PER_S:g}/s or "
              "one stream)")
        for batch_state in list(app.batch_book.states.values()):
            if not batch_state.finished:
                await client.batches.cancel(batch_state.batch_id)
        await app.action_quit()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"bench_batches_console: a {args.rows:,}-row batch, then {args.batches} at once")
    print(f"  machine: {machine_summary()}")
    problems: list[str] = []
    server: ServerProcess | None = None
    with temp_data_dir("pe-bench-bcon-") as data_dir:
        with ServerProcess(pe_serve_argv(data_dir), "pe serve") as server:
            url = server.start(timeout=120)
            key = read_local_key(data_dir)
            with tempfile.TemporaryDirectory(prefix="pe-bench-bcon-app-") as tmp:
                asyncio.run(bench_console(url, key, Path(tmp), args.rows, args.batches,
                                          problems))
    return exit_status(problems, server)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 600, "bench_batches_console"))
