"""The Templates screen and its server with 10,000 templates in the account.

    python -m tests.bench.bench_templates [--templates 10000] [--requests 200]

1. A fresh data dir is made like a first `pe serve` (local account, key, the spec's seeded
   templates), then `--templates` templates are added with `TemplateStore.insert_template`
   before the server starts: names, tags and descriptions of a few words, 1-6 variables,
   prompts of 3-40 lines.
2. `pe serve` runs on it. **Server list query**: `GET /v2/templates` pages (by name, by last
   updated, a `q` filter, deep offsets), sequential keep-alive requests timed on the client
   (target p99 < 20 ms).
3. **The screen** (the console in this process, headless, 140x42, connected to that server).
   Keys are sent as Textual's input thread sends them, and timed to the first frame drawn
   with their effect (`FrameProbe`):
   - F3 to the first rows drawn, the first time (the screen is built then) and again after
     switching away and back (target 300 ms), beside F2 to the Playground; then until all
     templates are loaded;
   - filter keystrokes, typed at a fast typist's pace: each key until a frame shows the new
     matches (target p95 50 ms);
   - a diff of two versions of a 2,000-line template: `DiffView.show` and the first frame
     (target 100 ms);
   - the render preview while typing: the editor's own round trips (`POST /v2/preview`) for a
     sequence of edits (target p95 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path
from typing import Any

import httpx

from promptexecution.server.app import DB_NAME, create_app
from promptexecution.server.core.accounts import AccountStore, hash_key
from promptexecution.server.db.connection import Database
from promptexecution.server.templates.store import TemplateRecord, TemplateStore

from ._common import (
    ServerProcess,
    exit_status,
    machine_summary,
    median,
    pe_serve_argv,
    percentile,
    read_local_key,
    temp_data_dir,
    verdict,
)
from ._console import FrameProbe, bench_app, connected, wait_until

WORDS = ("support customer billing refund summary blog seo product review email reply "
         "classify sentiment translate weekly report onboarding release notes outline draft "
         "legal contract policy faq").split()


def seed(data_dir: Path, count: int, rng: random.Random) -> float:
    app = create_app(data_dir)
    app.state.ctx.database.close()
    database = Database(data_dir / DB_NAME)
    started = time.perf_counter()
    try:
        key = AccountStore(database).find_key(hash_key(read_local_key(data_dir)))
        assert key is not None
        store = TemplateStore(database)
        now = int(time.time() * 1_000_000)
        for i in range(count):
            names = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
            variables = [{"name": f"v{k}", "type": "string", "required": k == 0}
                         for k in range(rng.randint(1, 6))]
            lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))
                     + f" {{{{ v{rng.randrange(len(variables))} }}}}"
                     for _ in range(rng.randint(3, 40))]
            store.insert_template(TemplateRecord(
                id=f"tmpl_bench{i:012d}", account_id=key.account_id,
                name=f"{'_'.join(names)}_{i}", status="active", version="1.0",
                prompt="\n".join(lines), description=" ".join(rng.choice(WORDS)
                                                            for _ in range(6)),
                variables=variables, tags=rng.sample(WORDS, rng.randint(0, 3)),
                created_us=now - i * 1_000_000, updated_us=now - i * 1_000_000))
    finally:
        database.close()
    return time.perf_counter() - started


def measure_server(url: str, key: str, requests: int) -> list[tuple[str, float, float]]:
    cases = [("by name, first page", {"limit": 100, "sort": "name"}),
             ("by updated, first page", {"limit": 100, "sort": "updated"}),
             ("by name, offset 9,000", {"limit": 100, "offset": 9000, "sort": "name"}),
             ("q=refund", {"limit": 100, "q": "refund"}),
             ("status=all, limit 1 (freshness)", {"limit": 1, "sort": "updated",
                                                  "status": "all"})]
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        for name, params in cases:
            for _ in range(10):
                client.get("/v2/templates", params=params).raise_for_status()
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get("/v2/templates", params=params).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
            out.append((name, percentile(timings, 50), percentile(timings, 99)))
    return out


async def measure_console(url: str, key: str, tmp: Path, total: int) -> dict[str, Any]:
    from promptexecution.console.screens.templates import TemplatesScreen
    from promptexecution.console.screens.templates.editor import EditTemplateScreen
    from promptexecution.console.screens.templates.template_list import TemplateList
    from promptexecution.console.widgets.diff_view import DiffView

    app = bench_app(url + "/v2", key, tmp)
    frames = FrameProbe()
    found: dict[str, Any] = {}

    def listing_shown() -> bool:
        screen = app.screen
        if not isinstance(screen, TemplatesScreen):
            return False
        shown = screen.query(TemplateList)
        return bool(shown) and len(shown.first().rows) > 0

    async with app.run_test(size=(140, 42)) as pilot:
        await connected(app)
        await pilot.pause(0.5)
        started = time.perf_counter()
        found["first rows, first F3 (ms)"] = await frames.key_to_frame(app, "f3", listing_shown)
        screen = app.screen
        assert isinstance(screen, TemplatesScreen)
        await wait_until(lambda: len(screen.templates) >= total and not screen.fetching, 120,
                         "every template")
        found["all templates loaded (s)"] = time.perf_counter() - started
        warm, baseline = [], []
        for _ in range(5):
            await pilot.pause(0.3)
            baseline.append(await frames.key_to_frame(
                app, "f2", lambda: app.screen is app.playground))
            await pilot.pause(0.3)
            warm.append(await frames.key_to_frame(app, "f3", listing_shown))
        found["first rows, F3 again, median (ms)"] = median(warm)
        found["baseline: F2 to the Playground, median (ms)"] = median(baseline)

        listing = screen.query_one(TemplateList)
        await pilot.press("slash")
        await pilot.pause(0.3)
        keys = []
        for text in ("refund", "support_", "review 7", "blog seo"):
            for char in text:
                before = listing.rows
                keys.append(await frames.key_to_frame(
                    app, "space" if char == " " else char,
                    lambda b=before: listing.rows is not b))  # type: ignore[misc]
                await asyncio.sleep(0.08)  # a fast typist's pace
            for _ in text:
                await pilot.press("backspace")
            await pilot.pause(0.3)
        found["filter keystroke p50 (ms)"] = percentile(keys, 50)
        found["filter keystroke p95 (ms)"] = percentile(keys, 95)
        found["filter keystrokes"] = len(keys)
        await pilot.press("escape")

        rng = random.Random(7)
        old_lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30)))
                     for _ in range(2000)]
        new_lines = list(old_lines)
        for i in rng.sample(range(2000), 150):
            words = new_lines[i].split()
            words[rng.randrange(len(words))] = "CHANGED"
            new_lines[i] = " ".join(words)
        await pilot.press("v")
        view = screen.query_one(DiffView)
        await pilot.pause(0.5)
        diffs = []
        for _ in range(5):
            started = time.perf_counter()
            view.show([("prompt", "\n".join(old_lines), "\n".join(new_lines))])
            await pilot.pause()
            diffs.append((time.perf_counter() - started) * 1000)
        found["2,000-line diff, show + frame, median (ms)"] = median(diffs)
        found["2,000-line diff lines"] = view.line_count

        await pilot.press("i")
        listing.focus()
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, EditTemplateScreen), 10, "editor")
        editor = app.screen
        assert isinstance(editor, EditTemplateScreen)
        area = editor.query_one("#edit-prompt")
        base = getattr(area, "text", "")
        for i in range(30):
            count = len(editor.preview_times)
            area.load_text(base + f"\nline {i} {{{{ v0 }}}} {'{% if v0 %}x{% endif %}' * (i % 3)}")  # type: ignore[attr-defined]
            await wait_until(lambda c=count: len(editor.preview_times) > c, 10, "preview")  # type: ignore[misc]
        times = [t * 1000 for t in editor.preview_times]
        found["preview round trip p50 (ms)"] = percentile(times, 50)
        found["preview round trip p95 (ms)"] = percentile(times, 95)
        found["previews"] = len(times)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"bench_templates: {args.templates:,} templates")
    print(f"  machine: {machine_summary()}")
    problems: list[str] = []
    with temp_data_dir("pe-bench-tmpl-") as data_dir:
        seconds = seed(data_dir, args.templates, random.Random(11))
        print(f"  seeded {args.templates:,} templates in {seconds:.1f} s")
        with ServerProcess(pe_serve_argv(data_dir), "pe serve") as server:
            url = server.start(timeout=120)
            key = read_local_key(data_dir)
            print("\n  server: GET /v2/templates (client-timed, keep-alive)")
            for name, p50, p99 in measure_server(url, key, args.requests):
                ok = p99 < 20
                if not ok:
                    problems.append(f"list {name}: p99 {p99:.1f} ms")
                print(f"    {name:34s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {verdict(ok)}")
            total = args.templates + 20  # and the seeded examples
            found = asyncio.run(measure_console(url, key, data_dir / "console", total))
            targets = {"first rows, F3 again, median (ms)": 300,
                       "filter keystroke p95 (ms)": 50,
                       "2,000-line diff, show + frame, median (ms)": 100,
                       "preview round trip p95 (ms)": 50}
            print("\n  console")
            for name, value in found.items():
                target = targets.get(name)
                mark = ""
                if target is not None:
                    mark = f"  target {target}: {verdict(value <= target)}"
                    if value > target:
                        problems.append(f"{name}: {value:.1f}")
                print(f"    {name:44s} {value:10,.1f}{mark}")
    return exit_status(problems)


if __name__ == "__main__":
    raise SystemExit(main())
