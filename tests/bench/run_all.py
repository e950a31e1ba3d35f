"""Runs every benchmark, each in its own process, and prints a summary (`make bench`).

    python -m tests.bench.run_all [bench_execute bench_history bench_stream]

Each benchmark starts and stops its own servers and limits itself to 180 s; this runner also
gives each one a hard timeout. Exit status: 0 when every benchmark ran and its correctness
checks passed (a missed performance target is reported as MISS, not an error), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
import time

from ._common import PYTHON, REPO_ROOT

BENCHMARKS = ("bench_execute", "bench_history", "bench_stream", "bench_sdk", "bench_batch",
              "bench_console_stream", "bench_console_startup", "bench_console_memory",
              "bench_history_console", "bench_batches_console")
TIMEOUT_SECONDS = 240
# A million rows, two indexes and llm's own database; a 50,000-item batch run and browsed.
LONGER = {"bench_history_console": 1800, "bench_batches_console": 600}


def _stop(proc: subprocess.Popen[str], timed_out: list[bool]) -> None:
    """SIGTERM lets the benchmark stop its servers (which also die with it); then SIGKILL."""
    timed_out.append(True)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_one(name: str) -> tuple[int, float, list[str]]:
    """Runs one benchmark, echoing its output; returns (exit code, seconds, verdict lines)."""
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603
        [PYTHON, "-m", f"tests.bench.{name}"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    timed_out: list[bool] = []
    limit = LONGER.get(name, TIMEOUT_SECONDS)
    watchdog = threading.Timer(limit, _stop, (proc, timed_out))
    watchdog.start()
    verdicts: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            if any(word in line for word in (": PASS", ": MISS", "ERROR")):
                verdicts.append(line.strip())
        code = proc.wait()
    except KeyboardInterrupt:
        _stop(proc, timed_out)
        raise
    finally:
        watchdog.cancel()
    if timed_out:
        verdicts.append(f"ERROR: stopped after the {limit} s timeout")
    return code, time.perf_counter() - started, verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks in tests/bench")
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {BENCHMARKS}")
    names = args.names or list(BENCHMARKS)
    results = []
    for name in names:
        print(f"\n{'=' * 20} {name} {'=' * 20}", flush=True)
        results.append((name, *run_one(name)))
    print(f"\n{'=' * 20} summary {'=' * 20}")
    for name, code, seconds, verdicts in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{name}: {status} in {seconds:.0f} s")
        for line in verdicts:
            print(f"    {line}")
    return 0 if all(code == 0 for _, code, _, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
