"""Batch throughput: 50,000 items at simulator latency 0, and 5,000 items at 200 ms with
max_concurrent 50 (ceiling 50 / 0.2 s = 250 items/s).

    python -m tests.bench.bench_batch [--big 50000] [--slow 5000]

`pe serve` in a temp data dir, pinned to one core. For each batch: the time to accept the
submit (POST /v2/batch returns once every item is validated and stored), then items/s from
submit to a final status (progress polled every 100 ms). After the big batch: the server's
peak resident memory (VmHWM) and the database size. Every item is checked to have exactly
one completed result.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import httpx

from ._common import (
    Pinning,
    ServerProcess,
    exit_status,
    machine_summary,
    pe_serve_argv,
    read_local_key,
    run_bounded,
    temp_data_dir,
    verdict,
)

SLOW_LATENCY_MS = 200
SLOW_CONCURRENCY = 50
TARGET_SHARE = 0.90


def run_batch(client: httpx.Client, items: int, simulate: dict[str, Any],
              concurrency: int) -> tuple[float, float, dict[str, Any]]:
    body = {
        "prompt": "Summarise review {n} of our {product} in one line.",
        "inputs": [{"id": f"r{n:06d}", "variables": {"n": n, "product": "headphones"}}
                   for n in range(items)],
        "model_config": {"simulate": simulate},
        "processing_options": {"max_concurrent": concurrency},
    }
    started = time.perf_counter()
    response = client.post("/v2/batch", json=body)
    accepted = time.perf_counter() - started
    response.raise_for_status()
    batch_id = response.json()["batch_id"]
    while True:
        progress = client.get(f"/v2/batch/{batch_id}/progress").json()
        if progress["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    total = time.perf_counter() - started
    return accepted, total, progress


def check_results(client: httpx.Client, batch_id: str, items: int) -> list[str]:
    problems = []
    seen = 0
    offset = 0
    while True:
        page = client.get(f"/v2/batch/{batch_id}/results",
                          params={"limit": 10_000, "offset": offset}).json()
        for n, item in enumerate(page["results"], start=offset):
            if item["item_id"] != f"r{n:06d}" or item["status"] != "completed":
                problems.append(f"item {n}: {item['item_id']} {item['status']}")
        seen += len(page["results"])
        offset += len(page["results"])
        if not page["pagination"]["has_more"]:
            break
    if seen != items:
        problems.append(f"{seen} results for {items} items")
    return problems[:5]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=50_000)
    parser.add_argument("--slow", type=int, default=5_000)
    args = parser.parse_args(argv)
    pinning = Pinning()
    print(f"bench_batch: {args.big:,} items at latency 0; {args.slow:,} items at "
          f"{SLOW_LATENCY_MS} ms, max_concurrent {SLOW_CONCURRENCY}")
    print(f"  machine: {machine_summary()}")
    print(f"  {pinning.note}")
    problems: list[str] = []
    with temp_data_dir("pe-bench-batch-") as data_dir:
        with ServerProcess(pinning.server(pe_serve_argv(data_dir)), "pe serve") as server:
            url = server.start()
            headers = {"Authorization": f"Bearer {read_local_key(data_dir)}"}
            with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
                accepted, total, progress = run_batch(client, args.big, {}, 50)
                rate = args.big / total
                print(f"  big:  submit accepted in {accepted:.2f} s; {args.big:,} items done "
                      f"in {total:.2f} s = {rate:,.0f} items/s ({progress['status']})")
                problems += check_results(client, progress["batch_id"], args.big)
                rss = peak_rss_mib(server.pid)
                db = sum(p.stat().st_size for p in data_dir.glob("pe.sqlite3*"))
                print(f"        server peak RSS {rss:.0f} MiB; database {db / 2**20:.0f} MiB")

                accepted, total, progress = run_batch(
                    client, args.slow, {"latency_ms": SLOW_LATENCY_MS}, SLOW_CONCURRENCY)
                rate = args.slow / total
                ceiling = SLOW_CONCURRENCY / (SLOW_LATENCY_MS / 1000)
                print(f"  slow: submit accepted in {accepted:.2f} s; {args.slow:,} items done "
                      f"in {total:.2f} s = {rate:,.1f} items/s of a {ceiling:.0f} items/s "
                      f"ceiling ({rate / ceiling:.1%}), target >= {TARGET_SHARE:.0%}: "
                      f"{verdict(rate >= TARGET_SHARE * ceiling)}")
                problems += check_results(client, progress["batch_id"], args.slow)
    print("  exactly one completed result per item, in input order: "
          f"{'ok' if not problems else 'FAILED'}")
    return exit_status(problems)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 300, "bench_batch"))
