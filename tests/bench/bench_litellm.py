"""Side by side: our `POST /v2/execute` against LiteLLM's proxy serving a mock response.

    python -m tests.bench.bench_litellm [--duration 10] [--rounds 3] [--warmup 3]
        [--connections 50] [--generator auto|wrk|python] [--litellm-venv DIR]

Both servers run at once, one process each, pinned to the same core (the load generator on
the other), and are measured in alternating rounds under the load of bench_execute
(50 keep-alive connections, a warm-up per side, then `--rounds` x `--duration` s per side):

* ours: tests/bench/bare_server.py (the real app served like `pe serve`, the enterprise burst
  limit raised so the run is not answered 429), `POST /v2/execute` with the greeting template
  and the simulator at latency 0 (auth, rate limit, rendering, simulator, SQLite insert);
* LiteLLM: `litellm --config <yaml> --num_workers 1` on 127.0.0.1, `POST /chat/completions`
  (OpenAI shape) for a model whose `mock_response` is our simulator's reply to the same
  prompt (taken from the sanity check, so both return the same text); a master key, no
  database, no callbacks, access log off, and the environment settings that keep it from
  reaching the internet at start-up (model cost map and other catalogs from the package,
  telemetry vetoed).

LiteLLM lives in a venv of its own, outside the repository (default
~/.cache/pe-bench/litellm-venv, created with `python3 -m venv` + `pip install
'litellm[proxy]'` on first use, reused afterwards). Reports requests/s, p50 and p99 per run
and their medians, the CPU use of each server per run, what each side stores per request,
and ours/LiteLLM. No target: it exits non-zero only when something is wrong (a failed sanity
check, a non-2xx response or socket error under load, a server that died).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from . import loadgen
from ._common import (
    DIE_WITH_PARENT,
    HOST,
    PYTHON,
    Pinning,
    ServerProcess,
    cpu_seconds,
    exit_status,
    fmt_runs,
    machine_summary,
    median,
    read_local_key,
    run_bounded,
    temp_data_dir,
)
from .bench_execute import EXECUTE_BODY, children_cpu

DEFAULT_VENV = Path.home() / ".cache" / "pe-bench" / "litellm-venv"
LITELLM_PACKAGE = "litellm[proxy]"
INSTALL_TIMEOUT = 1200  # the first pip install (~2 minutes here), outside the run's bound
RUN_LIMIT = 300
STARTUP_TIMEOUT = 120.0  # LiteLLM takes ~10-20 s to import and start on one core

MODEL_NAME = "bench-mock"
# A model from LiteLLM's bundled cost map, so its cost tracking takes its normal path; the
# mock response means no provider is ever called (the api_key is a placeholder).
MODEL_ROUTE = "openai/gpt-4o-mini"
MASTER_KEY = "sk-bench-litellm-master-key"
PROMPT = "Write a warm, two-sentence greeting for Alice."
CHAT_BODY = {"model": MODEL_NAME, "messages": [{"role": "user", "content": PROMPT}]}

# Environment for the proxy. No network but the loopback is reachable here, so nothing may
# be fetched at start-up: the model cost map (raw.githubusercontent.com unless
# LITELLM_LOCAL_MODEL_COST_MAP) and the other catalogs LiteLLM fetches on its own come from
# the package; LITELLM_OFFLINE_MODE is the newer single switch for all of them (ignored by
# versions without it). Telemetry is off unless enabled in a database; the veto makes sure.
# LITELLM_MODE=PRODUCTION stops it from loading a .env file; LITELLM_LOG=ERROR keeps its own
# logging quiet.
LITELLM_ENV = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_LOG": "ERROR",
}
# Never handed to the proxy: a database (it would persist spend logs), our own import path.
_DROPPED_ENV = re.compile(r"^(DATABASE_.*|DIRECT_URL|REDIS_.*|PYTHONPATH|VIRTUAL_ENV)$")

# uvicorn's logging for the proxy (`--log_config`): start-up and errors on stderr, no access
# log (`uvicorn.access` without handlers: uvicorn then skips it, as `pe serve` does with
# access_log=False).
UVICORN_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


# ---------------------------------------------------------------------- LiteLLM's venv


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def litellm_version(venv: Path) -> str | None:
    done = subprocess.run(  # noqa: S603 - fixed argv
        [str(_venv_python(venv)), "-c",
         "from importlib.metadata import version; print(version('litellm'))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def ensure_litellm_venv(venv: Path) -> tuple[Path, str]:
    """The `litellm` script of a venv that has litellm[proxy] (created on first use)."""
    script = venv / "bin" / "litellm"
    version = litellm_version(venv) if script.exists() else None
    if version is not None:
        print(f"  LiteLLM venv: {venv} (reused)")
        return script, version
    started = time.perf_counter()
    if not _venv_python(venv).exists():
        base = shutil.which("python3") or sys.executable
        print(f"  LiteLLM venv: creating {venv} ({base} -m venv)", flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300,  # noqa: S603
                       preexec_fn=DIE_WITH_PARENT)
    print(f"  LiteLLM venv: pip install '{LITELLM_PACKAGE}' into {venv} (first run only; "
          "a few minutes)", flush=True)
    done = subprocess.run(  # noqa: S603
        [str(_venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         LITELLM_PACKAGE],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
        preexec_fn=DIE_WITH_PARENT,
    )  # fmt: skip
    version = litellm_version(venv)
    if done.returncode != 0 or version is None or not script.exists():
        raise SystemExit(f"pip install {LITELLM_PACKAGE} failed ({done.returncode}):\n"
                         + (done.stdout + done.stderr).strip()[-2000:])
    print(f"  LiteLLM venv: installed litellm {version} in {time.perf_counter() - started:.0f} s")
    return script, version


def _has_module(venv: Path, module: str) -> bool:
    done = subprocess.run(  # noqa: S603
        [str(_venv_python(venv)), "-c", f"import {module}"],
        capture_output=True, timeout=60, check=False,
    )
    return done.returncode == 0


# ---------------------------------------------------------------------- the proxy


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(text, ensure_ascii=False)


def proxy_config_yaml(mock_response: str) -> str:
    return "\n".join([
        "model_list:",
        f"  - model_name: {MODEL_NAME}",
        "    litellm_params:",
        f"      model: {MODEL_ROUTE}",
        "      api_key: sk-placeholder-never-used",
        f"      mock_response: {_yaml_str(mock_response)}",
        "litellm_settings:",
        "  set_verbose: false",
        "  json_logs: false",
        "general_settings:",
        f"  master_key: {MASTER_KEY}",
        "",
    ])  # fmt: skip


def proxy_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _DROPPED_ENV.match(k)}
    env.update(LITELLM_ENV)
    env["TMPDIR"] = str(workdir / "tmp")  # so its temp files, if any, are seen too
    return env


class LiteLLMProcess(ServerProcess):
    """`litellm --config ...` in its own working dir and environment; ready when uvicorn says
    it is running (after the app's start-up), the URL from that line (it binds port 0)."""

    _RUNNING = re.compile(r"Uvicorn running on (http://\S+)")

    def __init__(self, argv: list[str], workdir: Path, env: dict[str, str]) -> None:
        super().__init__(argv, "LiteLLM proxy")
        self.workdir = workdir
        self.env = env

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self._log.append(line)
            if not self._ready.is_set():
                match = self._RUNNING.search(line)
                if match:
                    self.url = match.group(1)
                    self._ready.set()

    def start(self, timeout: float = STARTUP_TIMEOUT) -> str:
        started = time.perf_counter()
        self.proc = subprocess.Popen(  # noqa: S603 - argv built here, no shell
            self.argv,
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        self._reader = threading.Thread(target=self._drain, name="litellm-log", daemon=True)
        self._reader.start()
        deadline = started + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(f"LiteLLM exited with {self.proc.returncode} before "
                                   f"listening:\n{self.log_tail()}")
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"LiteLLM did not listen within {timeout:.0f} s:\n"
                                   + self.log_tail())
        self.startup_seconds = time.perf_counter() - started
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        code = self.stop()
        if not clean_stop(code) and exc_type is None:
            print(f"  ! {self.name} exited with code {code}:\n{self.log_tail()}", flush=True)


def clean_stop(code: int | None) -> bool:
    """0, or uvicorn re-raising the SIGTERM it shut down on (LiteLLM's plain uvicorn.run)."""
    return code in (0, None, -15)


# ---------------------------------------------------------------------- measurements


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (LiteLLM with one worker should be one process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def db_stats(path: Path) -> tuple[int, int]:
    """(executions rows, bytes in use: (page_count - freelist_count) * page_size), read-only;
    safe while the server runs (WAL: a reader sees everything committed)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    return int(rows), int((pages - free) * size)


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file below root."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def disk_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("pe.sqlite3*") if p.is_file())


# ---------------------------------------------------------------------- sanity checks


def check_ours(url: str, key: str) -> tuple[str, int, float]:
    """(content, response bytes, seconds) of one execute; raises unless 200 and completed."""
    with httpx.Client(base_url=url, timeout=30) as client:
        started = time.perf_counter()
        r = client.post("/v2/execute", json=EXECUTE_BODY,
                        headers={"Authorization": f"Bearer {key}"})
        elapsed = time.perf_counter() - started
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    content = body.get("content")
    if r.status_code != 200 or body.get("status") != "completed" or not content:
        raise RuntimeError(f"POST /v2/execute answered {r.status_code}: {r.text[:500]}")
    if "Alice" not in content or body.get("rendered_prompt") != PROMPT:
        raise RuntimeError(f"unexpected execution: {r.text[:500]}")
    return str(content), len(r.content), elapsed


def check_litellm(url: str, expected: str) -> tuple[int, float, str, str]:
    """(response bytes, seconds, cost header, answer to a wrong key) of one chat completion;
    raises unless 200 with the mock reply, or if a wrong key is not refused."""
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        r = client.post("/chat/completions", json=CHAT_BODY,
                        headers={"Authorization": f"Bearer {MASTER_KEY}"})
        elapsed = time.perf_counter() - started
        try:
            body: dict[str, Any] = r.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if r.status_code != 200 or content != expected:
            raise RuntimeError(f"POST /chat/completions answered {r.status_code}: "
                               f"{r.text[:500]}")
        denied = client.post("/chat/completions", json=CHAT_BODY,
                             headers={"Authorization": "Bearer sk-wrong"})
        if denied.status_code < 400:
            raise RuntimeError(f"a wrong key was answered {denied.status_code}: {denied.text}")
    # Without a database LiteLLM answers a wrong sk- key 400 "No connected db." (it would look
    # the key up among its virtual keys), not 401.
    try:
        error = denied.json()["error"]
        denied_note = f"{denied.status_code} {error.get('type')}: {error.get('message')}"
    except (ValueError, KeyError, TypeError, AttributeError):
        denied_note = f"{denied.status_code} {denied.text[:80]}"
    return len(r.content), elapsed, r.headers.get("x-litellm-response-cost", "?"), denied_note


# ---------------------------------------------------------------------- the run


class Side:
    def __init__(self, name: str, label: str, server: ServerProcess, target: loadgen.Target):
        self.name = name
        self.label = label
        self.server = server
        self.target = target
        self.warmup: loadgen.LoadResult | None = None
        self.runs: list[loadgen.LoadResult] = []
        self.cpu: list[float] = []  # server CPU use (1.0 = one core) per run
        self.idle_cpu: list[float] = []  # while the other side was measured

    def medians(self) -> dict[str, float]:
        rps = median([r.rps for r in self.runs])
        cpu = median(self.cpu)
        return {
            "rps": rps,
            "p50": median([r.p50_ms for r in self.runs]),
            "p99": median([r.p99_ms for r in self.runs]),
            "cpu": cpu,
            "per_cpu_s": median([r.rps / c for r, c in zip(self.runs, self.cpu, strict=True)
                                 if c > 0]),
        }


def _print_runs(side: Side) -> None:
    rps = [r.rps for r in side.runs]
    p50 = [r.p50_ms for r in side.runs]
    p99 = [r.p99_ms for r in side.runs]
    print(f"  {side.name}: {side.label}")
    print(f"    requests/s  runs {fmt_runs(rps)}  median {median(rps):.1f}")
    print(f"    p50 ms      runs {fmt_runs(p50, '{:.2f}')}  median {median(p50):.2f}")
    print(f"    p99 ms      runs {fmt_runs(p99, '{:.2f}')}  median {median(p99):.2f}")
    busy = fmt_runs([100 * c for c in side.cpu], "{:.0f}")
    idle = fmt_runs([100 * c for c in side.idle_cpu], "{:.1f}")
    print(f"    server CPU  runs {busy}%  (idle while the other side ran: {idle}%)")


def _print_table(ours: Side, theirs: Side) -> None:
    a, b = ours.medians(), theirs.medians()
    print("\nside by side (medians):")
    print(f"  {'':24s} {'req/s':>10s} {'p50 ms':>9s} {'p99 ms':>9s} {'server CPU':>11s} "
          f"{'req/CPU-s':>10s}")
    for side, m in ((ours, a), (theirs, b)):
        print(f"  {side.name:24s} {m['rps']:10.1f} {m['p50']:9.2f} {m['p99']:9.2f} "
              f"{100 * m['cpu']:10.0f}% {m['per_cpu_s']:10.1f}")
    print(f"  {'ours/LiteLLM':24s} {a['rps'] / b['rps']:9.2f}x {a['p50'] / b['p50']:8.2f}x "
          f"{a['p99'] / b['p99']:8.2f}x {'':11s} {a['per_cpu_s'] / b['per_cpu_s']:9.2f}x")
    print("  (for the latencies, below 1x means ours answers faster)")
    per_round = [x.rps / y.rps for x, y in zip(ours.runs, theirs.runs, strict=True)]
    print(f"  requests/s ours/LiteLLM per round: {fmt_runs(per_round, '{:.2f}')}")


def bench(args: argparse.Namespace, litellm: Path, version: str, h11_only: bool) -> int:
    generator = loadgen.choose(args.generator)
    pinning = Pinning()
    print(f"  machine: {machine_summary()}")
    print(f"  load generator: {generator}"
          + (" (wrk -t1, --latency)" if generator == "wrk" else
             " (raw asyncio streams, HTTP/1.1 keep-alive; wrk not used)"))
    print(f"  {pinning.note}; both servers on the server CPU, both running throughout")
    print(f"  {args.connections} keep-alive connections, {args.warmup:g} s warm-up per side, "
          f"{args.rounds} x {args.duration:g} s per side, alternating")
    problems: list[str] = []

    with temp_data_dir("pe-bench-litellm-") as tmp:
        data_dir, workdir = tmp / "pe-data", tmp / "litellm-cwd"
        data_dir.mkdir()
        (workdir / "tmp").mkdir(parents=True)
        ours_argv = [PYTHON, "-m", "tests.bench.bare_server", "--data-dir", str(data_dir)]
        with ServerProcess(pinning.server(ours_argv), "bench server") as server:
            url = server.start()
            key = read_local_key(data_dir)
            print(f"\nours: {url} (pid {server.pid}), started in {server.startup_seconds:.1f} s, "
                  f"data {data_dir}")
            content, ours_bytes, first = check_ours(url, key)
            print(f"  sanity: POST /v2/execute 200 completed, {len(content)} characters of "
                  f"content, {ours_bytes} bytes of response, first request {1000 * first:.0f} ms")

            config = workdir / "config.yaml"
            config.write_text(proxy_config_yaml(content))
            log_config = workdir / "uvicorn-log.json"
            log_config.write_text(json.dumps(UVICORN_LOG_CONFIG, indent=1))
            before = files_under(workdir)
            litellm_argv = [str(litellm), "--config", str(config), "--host", HOST,
                            "--port", "0", "--num_workers", "1", "--log_config", str(log_config)]
            print(f"\nLiteLLM {version}: {' '.join(litellm_argv)}")
            print("  env: " + " ".join(f"{k}={v}" for k, v in LITELLM_ENV.items())
                  + " (no DATABASE_URL)")
            parser = "h11 (litellm[proxy] does not install httptools)" if h11_only else "httptools"
            print(f"  uvicorn HTTP parser: {parser}")
            print("  config.yaml (mock_response = our simulator's reply above):")
            for line in config.read_text().splitlines():
                print(f"    {line[:110]}" + (" ..." if len(line) > 110 else ""))
            proxy = LiteLLMProcess(pinning.server(litellm_argv), workdir, proxy_env(workdir))
            with proxy:
                proxy_url = proxy.start()
                tree = process_tree(proxy.pid)
                print(f"  listening on {proxy_url} (pid {proxy.pid}, {len(tree)} process"
                      f"{'es' if len(tree) > 1 else ''}), started in "
                      f"{proxy.startup_seconds:.1f} s")
                if not proxy_url.startswith(f"http://{HOST}:"):
                    problems.append(f"LiteLLM listens on {proxy_url}, not on {HOST}")
                litellm_bytes, first, cost, denied = check_litellm(proxy_url, content)
                print(f"  sanity: POST /chat/completions 200 with the mock reply, "
                      f"{litellm_bytes} bytes of response, first request {1000 * first:.0f} ms, "
                      f"x-litellm-response-cost {cost}; a wrong key: {denied}")

                rows_before, used_before = db_stats(data_dir / "pe.sqlite3")
                ours = Side("ours", "POST /v2/execute (pe, SQLite)", server, loadgen.Target(
                    f"{url}/v2/execute", "POST", json.dumps(EXECUTE_BODY).encode(),
                    {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                ))
                theirs = Side("LiteLLM", f"POST /chat/completions (litellm {version})", proxy,
                              loadgen.Target(
                    f"{proxy_url}/chat/completions", "POST", json.dumps(CHAT_BODY).encode(),
                    {"Content-Type": "application/json",
                     "Authorization": f"Bearer {MASTER_KEY}"},
                ))  # fmt: skip
                sides = (ours, theirs)
                print()
                for side in sides:
                    side.warmup = loadgen.run(generator, side.target, args.connections,
                                              args.warmup, pinning)
                    print(f"  warm-up {side.name:7s} {side.warmup.line()}", flush=True)
                for i in range(args.rounds):
                    for side in sides:
                        other = theirs if side is ours else ours
                        busy_before = tree_cpu(side.server.pid)
                        idle_before = tree_cpu(other.server.pid)
                        client_before = children_cpu()
                        started = time.perf_counter()
                        result = loadgen.run(generator, side.target, args.connections,
                                             args.duration, pinning)
                        elapsed = time.perf_counter() - started
                        side.runs.append(result)
                        side.cpu.append((tree_cpu(side.server.pid) - busy_before) / elapsed)
                        other.idle_cpu.append((tree_cpu(other.server.pid) - idle_before)
                                              / elapsed)
                        client = (children_cpu() - client_before) / elapsed
                        print(f"  round {i + 1} {side.name:7s} {result.line()}  CPU: server "
                              f"{100 * side.cpu[-1]:.0f}%, client {100 * client:.0f}%, "
                              f"other server {100 * other.idle_cpu[-1]:.1f}%", flush=True)
                rss = {side.name: rss_mib(side.server.pid) for side in sides}
            after = files_under(workdir)
            litellm_code = proxy.exit_code
        ours_code = server.exit_code
        rows_after, used_after = db_stats(data_dir / "pe.sqlite3")
        on_disk = disk_bytes(data_dir)

    print("\nresults (median of runs):")
    for side in sides:
        _print_runs(side)
    _print_table(ours, theirs)

    print("\nwhat each side stores per request:")
    seen = sum(r.requests - r.non_2xx for r in [*ours.runs, ours.warmup] if r is not None)
    stored = rows_after - rows_before
    per_row = (used_after - used_before) / stored if stored else math.nan
    print(f"  ours: one row per execution in SQLite (WAL, synchronous=NORMAL): {stored} rows "
          f"added during warm-up + runs for {seen} 2xx responses seen ({rows_after} in all); "
          f"database grew {(used_after - used_before) / 2**20:.1f} MiB = {per_row:.0f} bytes "
          f"per request ({on_disk / 2**20:.1f} MiB on disk after the stop); RSS "
          f"{rss['ours']:.0f} MiB at the end")
    if stored < seen or (generator == "python" and stored != seen):
        problems.append(f"{seen} executions answered 2xx but {stored} rows stored")
    new = sorted(set(after) - set(before))
    changed = sorted(p for p in before if p in after and after[p] != before[p])
    if new or changed:
        listing = ", ".join(f"{p} ({after[p][0]} bytes)" for p in [*new, *changed])
        print(f"  LiteLLM (no database): wrote in its working dir/TMPDIR: {listing}; RSS "
              f"{rss['LiteLLM']:.0f} MiB at the end")
    else:
        print(f"  LiteLLM (no database): nothing; no file written or changed in its working "
              f"dir (nor its TMPDIR) during the run; RSS {rss['LiteLLM']:.0f} MiB at the end")

    bad = {s.name: sum(r.non_2xx + r.errors for r in [*s.runs, s.warmup] if r) for s in sides}
    for name, count in bad.items():
        if count:
            problems.append(f"{name}: {count} non-2xx responses or socket errors under load")
    if not clean_stop(litellm_code):
        problems.append(f"LiteLLM exited with {litellm_code}:\n{proxy.log_tail()}")
    elif litellm_code:
        print(f"  (LiteLLM exited with {litellm_code}: uvicorn re-raises the SIGTERM it "
              "stopped on)")
    if ours_code not in (0, None):
        problems.append(f"the bench server exited with {ours_code}")
    return exit_status(problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--litellm-venv", type=Path, default=DEFAULT_VENV,
                        help=f"venv with litellm[proxy] (created if missing; default "
                             f"{DEFAULT_VENV})")
    args = parser.parse_args(argv)

    print("bench_litellm: our POST /v2/execute vs LiteLLM's proxy (mock response), one run")
    # Outside the run's time limit: the first install alone takes minutes.
    litellm, version = ensure_litellm_venv(args.litellm_venv.expanduser().absolute())
    h11_only = not _has_module(args.litellm_venv.expanduser(), "httptools")
    # 300 s for the defaults (about 90 s of it used); longer runs get their measuring time on top.
    measuring = 2 * (args.warmup + args.rounds * (args.duration + 3))
    limit = max(RUN_LIMIT, int(measuring) + 150)
    return run_bounded(lambda: bench(args, litellm, version, h11_only), limit, "bench_litellm")


if __name__ == "__main__":
    raise SystemExit(main())
