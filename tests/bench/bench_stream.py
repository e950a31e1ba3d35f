"""One streamed execution of 10,000 tokens at unlimited tokens/s, end to end.

    python -m tests.bench.bench_stream [--tokens 10000] [--repeats 5]

`pe serve` (the real runner) in a temp data dir; the client sends
`{"prompt": ..., "stream": true, "model_config": {"simulate": {"output_tokens": N}}}` with
httpx and parses the events with httpx_sse, timing from sending the request to receiving the
`completed` event. Each run checks that the joined deltas equal the completed event's
`content` and that `metadata.output_tokens >= N`. One untimed warm-up run, then `--repeats`
timed runs; reports every run, the median and the max (target: < 1 s).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import httpx
from httpx_sse import connect_sse

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
    verdict,
)

TARGET_SECONDS = 1.0
PROMPT = (
    "Write a detailed technical guide to running a self-hosted prompt execution server: "
    "installation, configuration, templates, streaming, rate limits and monitoring."
)


@dataclass
class StreamRun:
    seconds: float
    first_delta_seconds: float
    deltas: int
    chars: int
    output_tokens: int
    problems: list[str]


def stream_once(client: httpx.Client, tokens: int, run: int) -> StreamRun:
    body = {
        "prompt": f"{PROMPT} (Run {run}.)",  # a different prompt, so a different answer
        "stream": True,
        "model_config": {"simulate": {"output_tokens": tokens}},
    }
    parts: list[str] = []
    first = float("nan")
    completed: dict[str, object] | None = None
    problems: list[str] = []
    started = time.perf_counter()
    with connect_sse(client, "POST", "/v2/execute", json=body) as source:
        if source.response.status_code != 200:
            source.response.read()
            raise RuntimeError(f"status {source.response.status_code}: {source.response.text}")
        for event in source.iter_sse():
            if event.event == "delta":
                if not parts:
                    first = time.perf_counter() - started
                parts.append(json.loads(event.data)["delta"])
            elif event.event == "completed":
                completed = json.loads(event.data)
                break
            elif event.event == "error":
                raise RuntimeError(f"error event: {event.data}")
    seconds = time.perf_counter() - started
    if completed is None:
        raise RuntimeError("the stream ended without a completed event")
    content = "".join(parts)
    metadata = completed.get("metadata")
    output_tokens = int(metadata.get("output_tokens", 0)) if isinstance(metadata, dict) else 0
    if content != completed.get("content"):
        problems.append("joined deltas differ from the completed event's content")
    if output_tokens < tokens:
        problems.append(f"metadata.output_tokens {output_tokens} < {tokens}")
    if completed.get("status") != "completed":
        problems.append(f"status {completed.get('status')!r}")
    return StreamRun(seconds, first, len(parts), len(content), output_tokens, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"bench_stream: POST /v2/execute stream=true, {args.tokens:,} tokens, unlimited "
          "tokens/s (simulator)")
    print(f"  machine: {machine_summary()}")
    print("  client: httpx + httpx_sse (connect_sse), one keep-alive connection; time from "
          "sending the request to the completed event")
    problems: list[str] = []
    runs: list[StreamRun] = []
    with temp_data_dir("pe-bench-stream-") as data_dir:
        with ServerProcess(pe_serve_argv(data_dir), "pe serve") as server:
            url = server.start()
            print(f"  pe serve {url} (pid {server.pid})")
            headers = {"Authorization": f"Bearer {read_local_key(data_dir)}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                warm = stream_once(client, args.tokens, 0)
                print(f"  warm-up  {warm.seconds * 1000:8.1f} ms (not counted)")
                for i in range(args.repeats):
                    run = stream_once(client, args.tokens, i + 1)
                    runs.append(run)
                    problems += [f"run {i + 1}: {p}" for p in run.problems]
                    print(f"  run {i + 1}    {run.seconds * 1000:8.1f} ms  first delta "
                          f"{run.first_delta_seconds * 1000:6.1f} ms  {run.deltas} deltas, "
                          f"{run.chars:,} chars, output_tokens {run.output_tokens:,}  "
                          f"{'ok' if not run.problems else 'WRONG'}", flush=True)
    ms = [r.seconds * 1000 for r in runs]
    worst = max(ms)
    print(f"\n  time to completed event: runs {fmt_runs(ms)} ms; median {median(ms):.1f} ms, "
          f"max {worst:.1f} ms, target < {TARGET_SECONDS * 1000:.0f} ms: "
          f"{verdict(worst < TARGET_SECONDS * 1000)}")
    print("  content check (joined deltas == completed.content, output_tokens >= "
          f"{args.tokens:,}): {'ok' if not problems else 'FAILED'}")
    return exit_status(problems, server)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_stream"))
