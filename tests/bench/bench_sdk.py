"""What the SDK costs: 2,000 `execute` calls at concurrency 50 through
AsyncPromptExecutionClient, against the same calls through a bare httpx.AsyncClient.

    python -m tests.bench.bench_sdk [--calls 2000] [--concurrency 50] [--rounds 5]

One `pe serve` (its enterprise burst limit raised in server.toml so the run is never
throttled), pinned to one core while this process runs on the other. Rounds alternate SDK
and bare; each reports its wall time, and the verdict compares the medians (target: the SDK
adds <= 10%). The bare client does what any caller must: POST the JSON, check the status,
decode the JSON. The SDK also adds its Idempotency-Key, retry bookkeeping, rate-limit
state, observer events and a typed result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import httpx

from promptexecution import AsyncPromptExecutionClient

from ._common import (
    Pinning,
    ServerProcess,
    fmt_runs,
    machine_summary,
    median,
    pe_serve_argv,
    read_local_key,
    run_bounded,
    temp_data_dir,
    verdict,
)

TARGET_OVERHEAD = 0.10
BODY = {"template_id": "greeting_template", "variables": {"name": "Alice"}}


async def timed(calls: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def call() -> None:
        async with gate:
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(calls)))
    return time.perf_counter() - started


async def measure(url: str, key: str, calls: int, concurrency: int, rounds: int
                  ) -> tuple[list[float], list[float]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    bare = httpx.AsyncClient(base_url=f"{url}/v2", limits=limits, timeout=60,
                             headers={"Authorization": f"Bearer {key}"})
    sdk = AsyncPromptExecutionClient(api_key=key, base_url=f"{url}/v2",
                                     max_connections=concurrency)

    async def bare_call() -> None:
        response = await bare.post("/execute", json=BODY)
        response.raise_for_status()
        assert response.json()["status"] == "completed"

    async def sdk_call() -> None:
        result = await sdk.execute(BODY["template_id"], variables=BODY["variables"])
        assert result.status == "completed"

    sdk_runs: list[float] = []
    bare_runs: list[float] = []
    try:
        await timed(200, concurrency, bare_call)  # warm-up: connections, caches
        await timed(200, concurrency, sdk_call)
        for i in range(rounds):
            bare_runs.append(await timed(calls, concurrency, bare_call))
            sdk_runs.append(await timed(calls, concurrency, sdk_call))
            print(f"  round {i + 1}  bare {bare_runs[-1]:6.3f} s   sdk {sdk_runs[-1]:6.3f} s   "
                  f"(+{(sdk_runs[-1] / bare_runs[-1] - 1) * 100:5.1f}%)", flush=True)
    finally:
        await bare.aclose()
        await sdk.aclose()
    return sdk_runs, bare_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    pinning = Pinning()
    print(f"bench_sdk: {args.calls:,} execute calls at concurrency {args.concurrency}, "
          "AsyncPromptExecutionClient vs bare httpx.AsyncClient, same server")
    print(f"  machine: {machine_summary()}")
    print(f"  {pinning.note}")
    with temp_data_dir("pe-bench-sdk-") as data_dir:
        (data_dir / "server.toml").write_text("[plans.enterprise]\nburst_per_minute = 100000000\n")
        with ServerProcess(pinning.server(pe_serve_argv(data_dir)), "pe serve") as server:
            url = server.start()
            if pinning.enabled:
                os.sched_setaffinity(0, {pinning.client_cpu})
            print(f"  pe serve {url} (pid {server.pid})")
            sdk_runs, bare_runs = asyncio.run(
                measure(url, read_local_key(data_dir), args.calls, args.concurrency, args.rounds)
            )
    overhead = median(sdk_runs) / median(bare_runs) - 1
    print(f"\n  bare httpx: runs {fmt_runs(bare_runs, '{:.3f}')} s, median "
          f"{median(bare_runs):.3f} s ({args.calls / median(bare_runs):,.0f} calls/s)")
    print(f"  SDK:        runs {fmt_runs(sdk_runs, '{:.3f}')} s, median "
          f"{median(sdk_runs):.3f} s ({args.calls / median(sdk_runs):,.0f} calls/s)")
    print(f"  the SDK adds {overhead * 100:+.1f}% wall time, target <= "
          f"{TARGET_OVERHEAD * 100:.0f}%: {verdict(overhead <= TARGET_OVERHEAD)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_sdk"))
