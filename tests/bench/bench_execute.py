"""Throughput of `POST /v2/execute` against a bare endpoint on the same server stack.

    python -m tests.bench.bench_execute [--duration 10] [--rounds 3] [--generator auto]

One server process (tests/bench/bare_server.py: the real app factory and middleware, served
like `pe serve`) answers both:

* `POST /v2/execute` with the simulator at latency 0: auth, rate limiting, template lookup
  and rendering, the simulator, the SQLite insert and the JSON response;
* `GET /bench/bare`: a constant JSON response through the same uvicorn and middleware.

50 keep-alive connections (wrk, else the raw-asyncio client in loadgen.py), a warm-up, then
the two measurements alternated `--rounds` times. Reports requests/s and p50/p99 per run, the
medians, and execute/bare (target: >= 50%). `--profile` adds a py-spy profile of the server
during one more execute run (needs py-spy; not part of the figures).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from . import loadgen
from ._common import (
    PYTHON,
    Pinning,
    ServerProcess,
    cpu_seconds,
    fmt_runs,
    machine_summary,
    median,
    read_local_key,
    run_bounded,
    temp_data_dir,
    verdict,
)
from .bare_server import BARE_PATH

EXECUTE_BODY = {"template_id": "greeting_template", "variables": {"name": "Alice"}}
TARGET_RATIO = 0.50


def children_cpu() -> float:
    """CPU seconds used by finished child processes (the load generator runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sanity_check(url: str, key: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        auth = {"Authorization": f"Bearer {key}"}
        r = client.post("/v2/execute", json=EXECUTE_BODY, headers=auth)
        if r.status_code != 200 or r.json().get("status") != "completed":
            raise RuntimeError(f"POST /v2/execute answered {r.status_code}: {r.text[:500]}")
        r = client.get(BARE_PATH)
        if r.status_code != 200:
            raise RuntimeError(f"GET {BARE_PATH} answered {r.status_code}: {r.text[:500]}")


def _summarise(name: str, runs: list[loadgen.LoadResult]) -> dict[str, float]:
    rps = [r.rps for r in runs]
    p50 = [r.p50_ms for r in runs]
    p99 = [r.p99_ms for r in runs]
    print(f"  {name}:")
    print(f"    requests/s  runs {fmt_runs(rps)}  median {median(rps):.1f}")
    print(f"    p50 ms      runs {fmt_runs(p50, '{:.2f}')}  median {median(p50):.2f}")
    print(f"    p99 ms      runs {fmt_runs(p99, '{:.2f}')}  median {median(p99):.2f}")
    return {"rps": median(rps), "p50": median(p50), "p99": median(p99)}


def _profile(server: ServerProcess, target: loadgen.Target, args: argparse.Namespace,
             generator: str, pinning: Pinning) -> None:
    """py-spy samples the server during one execute run; prints where the time goes."""
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("\n--profile: py-spy not found (pip install py-spy); skipped")
        return
    with tempfile.TemporaryDirectory(prefix="pe-bench-prof-") as tmp:
        out = Path(tmp) / "stacks.txt"
        seconds = max(3, int(args.duration))
        spy = subprocess.Popen(  # noqa: S603
            [py_spy, "record", "--pid", str(server.pid), "--duration", str(seconds),
             "--rate", "250", "--idle", "--full-filenames", "--nonblocking",
             "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            result = loadgen.run(generator, target, args.connections, seconds, pinning)
        finally:
            try:
                _, err = spy.communicate(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy.terminate()
                _, err = spy.communicate(timeout=10)
        print(f"\nprofile run (py-spy, not counted): {result.line()}")
        if not out.exists():
            print(f"py-spy produced no profile: {err.strip()[-500:]}")
            return
        folded = out.read_text()
        if args.profile_out:
            Path(args.profile_out).write_text(folded)
            print(f"  folded stacks saved to {args.profile_out} (flamegraph.pl / speedscope)")
        print_profile(folded)


_AREAS = (
    ("promptexecution/server/db/", "SQLite (db/: connection, group commit)"),
    ("promptexecution/server/executions/store.py", "SQLite (executions/store.py: inserts)"),
    ("promptexecution/server/providers/", "simulator (text generation)"),
    ("random.py", "simulator/ids (random)"),
    ("promptexecution/server/templates/rendering.py", "template rendering"),
    ("jinja2/", "template rendering"),
    ("json/", "JSON encoding"),
    ("pydantic", "request validation (pydantic)"),
    ("promptexecution/", "promptexecution (other)"),
    ("uvicorn/", "uvicorn + httptools"),
    ("fastapi/", "FastAPI/Starlette"),
    ("starlette/", "FastAPI/Starlette"),
    ("asyncio/", "asyncio/uvloop"),
)


def print_profile(folded: str, top: int = 20) -> None:
    """Where the server's time goes, from py-spy's folded stacks (self time of leaf frames).

    Time spent in C (SQLite, the json encoder, syscalls) counts toward the Python line that
    called it, so `ExecutionStore.insert_executions_of (store.py:N)` at the COMMIT line is
    SQLite's commit.
    """
    own: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        own[_short(leaf)] += count
        lines[_short(leaf, keep_line=True)] += count
        areas[_area(leaf)] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    if not total:
        print("empty profile")
        return
    print(f"  {total} samples of the server's main thread")
    print("  self time by area:")
    for area, n in areas.most_common():
        print(f"    {100 * n / total:5.1f}%  {area}")
    print("  top self time by function:")
    for frame, n in own.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print("  top self time by line:")
    for frame, n in lines.most_common(10):
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print("  inclusive time of the execute path:")
    for frame, n in inclusive.most_common():
        if "promptexecution" in frame or "(server/" in frame or "(routes/" in frame:
            print(f"    {100 * n / total:5.1f}%  {frame}")
            if n < total * 0.02:
                break


def _area(frame: str) -> str:
    path = frame.partition(" (")[2]
    for marker, area in _AREAS:
        if marker in path:
            return area
    return "other"


def _short(frame: str, keep_line: bool = False) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, lineno = where.rpartition(":")
    if not path:
        path, lineno = where, ""
    for marker in ("site-packages/", "/src/promptexecution/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path}:{lineno})" if keep_line and lineno else f"{name} ({path})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--profile", action="store_true", help="py-spy the server afterwards")
    parser.add_argument("--profile-out", help="with --profile: keep py-spy's folded stacks here")
    args = parser.parse_args(argv)

    generator = loadgen.choose(args.generator)
    pinning = Pinning()
    print("bench_execute: POST /v2/execute vs GET /bench/bare, same server process")
    print(f"  machine: {machine_summary()}")
    print(f"  load generator: {generator}"
          + (" (wrk -t1, --latency)" if generator == "wrk" else
             " (raw asyncio streams, HTTP/1.1 keep-alive; wrk not used)"))
    print(f"  {pinning.note}")
    print(f"  {args.connections} keep-alive connections, {args.warmup:g} s warm-up per endpoint, "
          f"{args.rounds} x {args.duration:g} s per endpoint, alternating")

    with temp_data_dir("pe-bench-exec-") as data_dir:
        argv_server = [PYTHON, "-m", "tests.bench.bare_server", "--data-dir", str(data_dir)]
        with ServerProcess(pinning.server(argv_server), "bench server") as server:
            url = server.start()
            key = read_local_key(data_dir)
            print(f"  server {url} (pid {server.pid}), data {data_dir}")
            _sanity_check(url, key)
            execute = loadgen.Target(
                f"{url}/v2/execute",
                "POST",
                json.dumps(EXECUTE_BODY).encode(),
                {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            bare = loadgen.Target(f"{url}{BARE_PATH}")
            for target in (execute, bare):
                loadgen.run(generator, target, args.connections, args.warmup, pinning)

            runs: dict[str, list[loadgen.LoadResult]] = {"execute": [], "bare": []}
            for i in range(args.rounds):
                for name, target in (("execute", execute), ("bare", bare)):
                    server_before, client_before = cpu_seconds(server.pid), children_cpu()
                    started = time.perf_counter()
                    result = loadgen.run(generator, target, args.connections, args.duration,
                                         pinning)
                    elapsed = time.perf_counter() - started
                    server_busy = (cpu_seconds(server.pid) - server_before) / elapsed
                    client_busy = (children_cpu() - client_before) / elapsed
                    runs[name].append(result)
                    print(f"  round {i + 1} {name:7s} {result.line()}  CPU: server "
                          f"{100 * server_busy:.0f}%, client {100 * client_busy:.0f}%",
                          flush=True)

            if args.profile:
                _profile(server, execute, args, generator, pinning)
        code = server.exit_code
        db = sqlite3.connect(data_dir / "pe.sqlite3")
        stored = db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
        db.close()

    print("\nresults (median of runs):")
    ex = _summarise("POST /v2/execute", runs["execute"])
    ba = _summarise(f"GET {BARE_PATH}", runs["bare"])
    ratios = [e.rps / b.rps for e, b in zip(runs["execute"], runs["bare"], strict=True)]
    ratio = ex["rps"] / ba["rps"]
    print(f"  execute/bare: {100 * ratio:.1f}% of bare throughput (per round "
          f"{fmt_runs([100 * r for r in ratios])}%), target >= {100 * TARGET_RATIO:.0f}%: "
          f"{verdict(ratio >= TARGET_RATIO)}")
    completed = sum(r.requests - r.non_2xx for r in runs["execute"])
    print(f"  executions stored in SQLite: {stored} (measured 2xx responses: {completed}, "
          "plus warm-up)")
    bad = sum(r.non_2xx + r.errors for rs in runs.values() for r in rs)
    if bad:
        print(f"ERROR: {bad} non-2xx responses or socket errors during the runs")
    if code not in (0, None):
        print(f"ERROR: the server exited with {code}")
    return 1 if bad or code not in (0, None) else 0


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_execute"))
