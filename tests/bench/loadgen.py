"""HTTP/1.1 keep-alive load generators: `wrk` when installed, else a raw-asyncio Python client.

Both hold N connections open and send requests back to back for a fixed duration, and report
the same `LoadResult`. The Python client runs in its own process (pinned like wrk would be):

    python -m tests.bench.loadgen --url URL [--method POST --body JSON --header 'K: V']
        [--connections 50] [--duration 10]

It prints one JSON object. It parses only what the server sends (status line, headers,
Content-Length or chunked bodies), so it can push far more requests per second than an
HTTP library such as httpx, though still fewer than wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ._common import DIE_WITH_PARENT, PYTHON, REPO_ROOT, Pinning, percentile


@dataclass
class LoadResult:
    generator: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    errors: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        extra = ""
        if self.non_2xx or self.errors:
            extra = f", NON-2XX {self.non_2xx}, socket errors {self.errors}"
            if self.status_counts:
                extra += f" {self.status_counts}"
        return (
            f"{self.rps:9.1f} req/s  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
            f"({self.requests} requests in {self.seconds:.1f} s{extra})"
        )


@dataclass
class Target:
    url: str
    method: str = "GET"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def choose(preference: str) -> str:
    """'auto' picks wrk when installed; 'wrk' insists on it; 'python' forces the fallback."""
    if preference == "auto":
        return "wrk" if wrk_available() else "python"
    if preference == "wrk" and not wrk_available():
        raise SystemExit("wrk is not installed (apt-get install wrk), use --generator python")
    return preference


def run(
    generator: str, target: Target, connections: int, duration: float, pinning: Pinning
) -> LoadResult:
    if generator == "wrk":
        return run_wrk(target, connections, duration, pinning)
    return run_python(target, connections, duration, pinning)


# ---------------------------------------------------------------------- wrk


def _lua_string(value: str | bytes) -> str:
    """A Lua long-bracket literal (no escaping needed). Keep spaces around it inside `[ ]`:
    `t[[==[k]==]]` would lex as `t` followed by a long string."""
    text = value.decode() if isinstance(value, bytes) else value
    if "]==]" in text:
        raise ValueError("text contains the closing long bracket ]==]")
    return "[==[" + text + "]==]"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> LoadResult:
    latency = {
        m.group(1): _duration_ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not (total and rps and "50" in latency and "99" in latency):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return LoadResult(
        generator="wrk",
        requests=int(total.group(1)),
        seconds=_duration_ms(total.group(2) + total.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=latency["50"],
        p99_ms=latency["99"],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


def run_wrk(target: Target, connections: int, duration: float, pinning: Pinning) -> LoadResult:
    lines = [f"wrk.method = {_lua_string(target.method)}"]
    if target.body:
        lines.append(f"wrk.body = {_lua_string(target.body)}")
    for name, value in target.headers.items():
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        argv = pinning.client(
            [
                "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
                "--timeout", "10s", "--latency", "-s", script.name, target.url,
            ]  # fmt: skip
        )
        done = subprocess.run(  # noqa: S603
            argv,
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=False,
            preexec_fn=DIE_WITH_PARENT,
        )
    finally:
        Path(script.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------------- Python client


def run_python(
    target: Target, connections: int, duration: float, pinning: Pinning
) -> LoadResult:
    argv = [
        PYTHON, "-m", "tests.bench.loadgen", "--url", target.url, "--method", target.method,
        "--connections", str(connections), "--duration", str(duration),
    ]  # fmt: skip
    if target.body:
        argv += ["--body", target.body.decode()]
    for name, value in target.headers.items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(  # noqa: S603
        pinning.client(argv),
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=False,
        cwd=REPO_ROOT,
        preexec_fn=DIE_WITH_PARENT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python load client failed:\n{done.stdout}\n{done.stderr}")
    return LoadResult(**json.loads(done.stdout))


def _request_bytes(target: Target) -> tuple[str, int, bytes]:
    parts = urlsplit(target.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"Host": f"{host}:{port}", **target.headers}
    if target.body or target.method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(target.body))
    head = f"{target.method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    return host, port, (head + "\r\n").encode("latin-1") + target.body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = -1
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length >= 0:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep_alive = False
    return status, keep_alive


async def _worker(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    latencies: list[float],
    statuses: dict[int, int],
    errors: list[int],
) -> None:
    perf = time.perf_counter
    writer: asyncio.StreamWriter | None = None
    try:
        while perf() < stop_at:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = perf()
            try:
                writer.write(request)
                status, keep_alive = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors[0] += 1
                writer.close()
                writer = None
                continue
            latencies.append(perf() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if not keep_alive:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def _load(target: Target, connections: int, duration: float) -> LoadResult:
    host, port, request = _request_bytes(target)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(
            _worker(host, port, request, stop_at, latencies, statuses, errors)
            for _ in range(connections)
        )
    )
    seconds = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        generator="python-asyncio" + ("+uvloop" if _uvloop() else ""),
        requests=len(latencies),
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        non_2xx=sum(n for s, n in statuses.items() if not 200 <= s < 400),
        errors=errors[0],
        status_counts={str(s): n for s, n in sorted(statuses.items())},
    )


def _uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Raw-asyncio HTTP/1.1 keep-alive load client")
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in args.header)
    target = Target(args.url, args.method.upper(), args.body.encode(), headers)
    runner: contextlib.AbstractContextManager[asyncio.Runner]
    if _uvloop():
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner as loop_runner:
        result = loop_runner.run(_load(target, args.connections, args.duration))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
