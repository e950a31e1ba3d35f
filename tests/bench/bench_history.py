"""`GET /v2/executions` latency on a store of 1,000,000 executions.

    python -m tests.bench.bench_history [--rows 1000000] [--requests 200]

1. A fresh data dir is created with `create_app` (local enterprise account, key file, seeded
   templates); the executions are bulk-loaded with `ExecutionStore.insert_executions` in a few large
   transactions BEFORE the server starts: 30 days, 10 template ids (7 seeded `tmpl_` ids, 2
   ids of templates that no longer exist, and prompt-only executions without one), ~85%
   completed / 10% failed / 5% cancelled, bodies of ~1-2 KB shaped like real executions.
2. `pe serve` (the real runner) starts on that data dir; for each query, warm-up requests and
   then `--requests` sequential keep-alive requests (httpx), timed on the client.
3. Reports p50/p99/max per query (target: p99 < 20 ms), the load time and the DB size, and
   checks every query's `pagination.total` and first page against brute-force SQL run with
   sqlite3 directly on the same database.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from promptexecution.server.app import DB_NAME, create_app
from promptexecution.server.core.accounts import AccountStore, hash_key
from promptexecution.server.db.connection import Database
from promptexecution.server.executions.store import ExecutionStore
from promptexecution.server.providers.base import GenerationRequest
from promptexecution.server.providers.simulator import compose
from promptexecution.server.templates.store import TemplateStore

from ._common import (
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

TARGET_P99_MS = 20.0
DAYS = 30
BATCH_ROWS = 125_000
SEEDED_TEMPLATES = (
    "greeting_template",
    "support_classification_v3",
    "blog_post_seo_v2",
    "product_description_v3",
    "sentiment_analysis_detailed_v1",
    "customer_email_response",
    "product_review_summary",
)
GONE_TEMPLATES = ("tmpl_0ldimp0rt3d0001", "tmpl_0ldimp0rt3d0002")  # deleted long ago
TEMPLATE_WEIGHTS = (30, 18, 12, 10, 8, 6, 4, 2, 1, 9)  # the last: prompt-only (no template)
STATUSES = (("completed", 85), ("failed", 10), ("cancelled", 5))
MODELS = (("gpt-4o-mini", 0.15, 0.60, 50), ("simulator", 0.50, 1.50, 30),
          ("gpt-4o", 2.50, 10.00, 15), ("gpt-4.1", 2.00, 8.00, 5))  # fmt: skip
ERRORS = (
    {"type": "execution_error", "code": "MODEL_TIMEOUT",
     "message": "The model did not answer in time", "details": {"retry_eligible": True}},
    {"type": "execution_error", "code": "CONTENT_POLICY_VIOLATION",
     "message": "The prompt violates content policy guidelines",
     "details": {"violation_type": "harmful_content", "retry_eligible": False}},
    {"type": "service_unavailable", "code": "PROVIDER_RATE_LIMITED",
     "message": "The model provider is rate limiting requests", "details": {"retry_after": 20}},
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


# ---------------------------------------------------------------------- the data set


@dataclass
class Dataset:
    account_id: str
    template_ids: list[str | None]  # parallel to TEMPLATE_WEIGHTS
    start: datetime
    end: datetime
    rows: int


def _content_pool(rng: random.Random, size: int = 96) -> list[tuple[str, str]]:
    """(rendered prompt, answer) pairs from the simulator: realistic markdown, 0.6-1.4 KB."""
    topics = ["billing", "shipping delays", "onboarding", "pricing", "a refund", "the API",
              "quarterly revenue", "a new feature", "data export", "team accounts"]  # fmt: skip
    pool = []
    for i in range(size):
        prompt = (f"Write a helpful reply to customer {i} about {rng.choice(topics)}. "
                  f"Keep it {rng.choice(['short', 'friendly', 'formal', 'concise'])}.")
        text, _ = compose(GenerationRequest(model="simulator", prompt=prompt),
                          rng.randint(140, 330))
        pool.append((prompt, text))
    return pool


def _rows(ds: Dataset, seed: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """The executions in time order, each like a stored `POST /v2/execute` record."""
    rng = random.Random(seed)
    pool = _content_pool(rng)
    statuses = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    start_us = _micros(ds.start)
    step = (_micros(ds.end) - start_us) / ds.rows
    for i in range(ds.rows):
        created_us = start_us + int(i * step + rng.random() * step)
        template_id = rng.choices(ds.template_ids, TEMPLATE_WEIGHTS)[0]
        status = rng.choices(statuses, status_weights)[0]
        model, price_in, price_out, _ = rng.choices(MODELS, [m[3] for m in MODELS])[0]
        prompt, content = pool[rng.randrange(len(pool))]
        input_tokens = len(prompt) // 4 + 1
        output_tokens = len(content) // 4 + 1
        elapsed = round(0.3 + output_tokens / rng.uniform(40, 120), 4)
        error = None
        if status == "failed":
            error = rng.choice(ERRORS)
            content = content[: rng.randint(0, 300)]
        elif status == "cancelled":
            content = content[: rng.randint(100, len(content))]
        if status != "completed":
            output_tokens = len(content) // 4
        created = datetime.fromtimestamp(created_us / 1_000_000, UTC)
        record: dict[str, Any] = {
            "execution_id": "exec_" + rng.randbytes(8).hex(),
            "template_id": template_id,
            "template_version": "1.0" if template_id else None,
            "status": status,
            "content": content or None,
            "rendered_prompt": prompt,
            "metadata": {
                "tokens_used": input_tokens + output_tokens,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "execution_time": elapsed,
                "time_to_first_token": round(rng.uniform(0.15, 0.9), 4),
                "model": model,
                "provider": "simulator" if model == "simulator" else "openai",
                "cost": round((input_tokens * price_in + output_tokens * price_out) / 1e6, 8),
                "finish_reason": "stop" if status == "completed" else status,
                "response_format": "text",
                "variables_used": {"customer_name": f"customer {i % 5000}", "tone": "friendly"}
                if template_id
                else None,
            },
            "created_at": _iso(created),
            "completed_at": _iso(created + timedelta(seconds=elapsed)),
        }
        if error is not None:
            record["error"] = error
        yield created_us, record


def build_store(data_dir: Path, rows: int, seed: int = 20240115) -> tuple[Dataset, float]:
    """Creates the data dir like a first `pe serve`, then bulk-loads `rows` executions."""
    app = create_app(data_dir)
    app.state.ctx.database.close()
    database = Database(data_dir / DB_NAME)
    store = ExecutionStore(database)
    try:
        key = AccountStore(database).find_key(hash_key(read_local_key(data_dir)))
        assert key is not None, "the local key is not in the new database"
        account_id = key.account_id
        template_ids: list[str | None] = []
        for name in SEEDED_TEMPLATES:
            row = TemplateStore(database).find_template_row(account_id, name)
            assert row is not None, f"seeded template {name} is missing"
            template_ids.append(row["id"])
        template_ids += [*GONE_TEMPLATES, None]
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        ds = Dataset(account_id, template_ids, end - timedelta(days=DAYS), end, rows)

        # The store's own settings (WAL, synchronous=NORMAL), with a page cache big enough
        # for the indexes, so inserting random execution ids does not thrash it.
        database.conn.execute("PRAGMA cache_size=-1000000")
        started = time.perf_counter()
        items = _rows(ds, seed)
        loaded = 0
        while loaded < rows:
            n = min(BATCH_ROWS, rows - loaded)
            store.insert_executions(account_id, (next(items) for _ in range(n)))
            loaded += n
        database.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        load_seconds = time.perf_counter() - started
    finally:
        database.close()
    return ds, load_seconds


# ---------------------------------------------------------------------- the queries


@dataclass
class Case:
    name: str
    params: dict[str, str | int]


def cases(ds: Dataset) -> list[Case]:
    busiest = ds.template_ids[0]
    second = ds.template_ids[1]
    assert busiest is not None and second is not None
    window_from = ds.end - timedelta(days=12, hours=3, minutes=17, seconds=23)
    window_to = window_from + timedelta(days=3, minutes=41, seconds=9)
    return [
        Case("no filter", {}),
        Case("status=completed", {"status": "completed"}),
        Case("status=failed", {"status": "failed"}),
        Case("template_id=X", {"template_id": second}),
        Case("template_id=X&status=failed", {"template_id": busiest, "status": "failed"}),
        Case("date_from only", {"date_from": _iso(ds.end - timedelta(days=9, seconds=2777))}),
        Case("date_to only", {"date_to": _iso(ds.end - timedelta(days=21, seconds=1234))}),
        Case("date_from+date_to (3 days)",
             {"date_from": _iso(window_from), "date_to": _iso(window_to)}),
        Case("all filters", {"template_id": second, "status": "failed",
                             "date_from": _iso(window_from), "date_to": _iso(window_to)}),
        Case("offset=5000", {"offset": 5000}),
    ]  # fmt: skip


def brute_force(db: sqlite3.Connection, account_id: str, params: dict[str, str | int]
                ) -> tuple[int, list[str]]:
    """Total and first page for `params`, straight from the executions table."""
    where = ["account_id = ?"]
    args: list[Any] = [account_id]
    if "template_id" in params:
        where.append("template_id = ?")
        args.append(params["template_id"])
    if "status" in params:
        where.append("status = ?")
        args.append(params["status"])
    for name, op in (("date_from", ">="), ("date_to", "<=")):
        if name in params:
            moment = datetime.fromisoformat(str(params[name]))
            where.append(f"created_us {op} ?")
            args.append(_micros(moment))
    clause = " AND ".join(where)
    total = db.execute(f"SELECT COUNT(*) FROM executions WHERE {clause}", args).fetchone()[0]
    ids = [
        r[0]
        for r in db.execute(
            f"SELECT id FROM executions WHERE {clause} ORDER BY created_us DESC, seq DESC "
            "LIMIT ? OFFSET ?",
            [*args, int(params.get("limit", 20)), int(params.get("offset", 0))],
        )
    ]
    return int(total), ids


def measure(client: httpx.Client, path: str, params: dict[str, str | int], warmup: int,
            requests: int) -> tuple[list[float], dict[str, Any]]:
    body: dict[str, Any] = {}
    for _ in range(warmup):
        client.get(path, params=params).raise_for_status()
    timings = []
    perf = time.perf_counter
    for _ in range(requests):
        started = perf()
        response = client.get(path, params=params)
        timings.append((perf() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {params}: {response.status_code} {response.text}")
        body = response.json()
    return timings, body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per query")
    args = parser.parse_args(argv)

    print(f"bench_history: GET /v2/executions on {args.rows:,} executions")
    print(f"  machine: {machine_summary()}")
    print(f"  client: httpx, one keep-alive connection, sequential requests; {args.warmup} "
          f"warm-up + {args.requests} timed requests per query")
    failures: list[str] = []
    with temp_data_dir("pe-bench-hist-") as data_dir:
        ds, load_seconds = build_store(data_dir, args.rows)
        db_path = data_dir / DB_NAME
        size = sum(p.stat().st_size for p in data_dir.glob(DB_NAME + "*"))
        print(f"  loaded {args.rows:,} rows in {load_seconds:.1f} s "
              f"({args.rows / load_seconds:,.0f} rows/s, ExecutionStore.insert_executions, "
              f"{BATCH_ROWS:,} rows per transaction)")
        print(f"  database: {size / 2**20:,.0f} MiB ({db_path.name} incl. WAL), "
              f"{ds.start:%Y-%m-%d} .. {ds.end:%Y-%m-%d}")

        with ServerProcess(pe_serve_argv(data_dir), "pe serve") as server:
            url = server.start(timeout=120)
            print(f"  pe serve {url} (pid {server.pid}) started in {server.startup_seconds:.1f} s")
            key = read_local_key(data_dir)
            check_db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                floor, _ = measure(client, "/health", {}, args.warmup, args.requests)
                print(f"  client floor (GET /health): p50 {percentile(floor, 50):.2f} ms, "
                      f"p99 {percentile(floor, 99):.2f} ms\n")
                print(f"  {'query':30s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
                      f"{'total':>9s}  check   p99<{TARGET_P99_MS:g}ms")
                p99s = []
                for case in cases(ds):
                    timings, body = measure(client, "/v2/executions", case.params,
                                            args.warmup, args.requests)
                    total = body["pagination"]["total"]
                    got_ids = [e["execution_id"] for e in body["executions"]]
                    want_total, want_ids = brute_force(check_db, ds.account_id, case.params)
                    ok = total == want_total and got_ids == want_ids
                    if not ok:
                        failures.append(
                            f"{case.name}: total {total} vs COUNT(*) {want_total}; first page "
                            f"{'matches' if got_ids == want_ids else 'DIFFERS'}"
                        )
                    p99 = percentile(timings, 99)
                    p99s.append(p99)
                    print(f"  {case.name:30s} {percentile(timings, 50):8.2f} {p99:8.2f} "
                          f"{max(timings):8.2f} {total:9,d}  "
                          f"{'ok' if ok else 'WRONG':6s}  {verdict(p99 < TARGET_P99_MS)}",
                          flush=True)
            check_db.close()
    worst = max(p99s)
    print(f"\n  p99 per query {fmt_runs(p99s, '{:.2f}')} ms; median {median(p99s):.2f} ms, "
          f"worst {worst:.2f} ms: {verdict(worst < TARGET_P99_MS)} (target p99 < "
          f"{TARGET_P99_MS:g} ms for every query)")
    print("  correctness: pagination.total == SELECT COUNT(*) and first page == brute-force "
          f"ORDER BY for every query: {'ok' if not failures else 'FAILED'}")
    return exit_status(failures, server)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_history"))
