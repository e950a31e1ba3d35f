"""Shared plumbing for the benchmarks: server subprocesses, CPU pinning, statistics, deadlines.

Every server is a subprocess on a free loopback port (port 0: the server binds it and prints
the URL), in a temporary data directory, stopped with SIGTERM and waited for; SIGKILL only if
it does not exit in time. Servers also get PR_SET_PDEATHSIG, so even a benchmark killed with
SIGKILL does not leave one behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HOST = "127.0.0.1"
_LISTENING = re.compile(r"listening on (http://\S+?)/v2\b")


# ---------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of unsorted values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def fmt_runs(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    return "[" + ", ".join(fmt.format(v) for v in values) + "]"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ---------------------------------------------------------------------- environment


def machine_summary() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


class Pinning:
    """`taskset` prefixes that put the server on one core and the client on another."""

    def __init__(self) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.enabled = shutil.which("taskset") is not None and len(cpus) >= 2
        if self.enabled:
            self.server_cpu, self.client_cpu = cpus[0], cpus[1]
            self.note = (
                f"server pinned to CPU {self.server_cpu}, client to CPU {self.client_cpu} "
                "(taskset)"
            )
        else:
            self.server_cpu = self.client_cpu = -1
            why = "taskset not installed" if len(cpus) >= 2 else "fewer than 2 CPUs"
            self.note = f"no CPU pinning ({why}); server and client share the cores"

    def server(self, argv: list[str]) -> list[str]:
        return ["taskset", "-c", str(self.server_cpu), *argv] if self.enabled else argv

    def client(self, argv: list[str]) -> list[str]:
        return ["taskset", "-c", str(self.client_cpu), *argv] if self.enabled else argv


# ---------------------------------------------------------------------- deadlines


class BenchTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    """Raises BenchTimeout in the main thread after `seconds` (cleanup still runs)."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise BenchTimeout(f"{what} took longer than {seconds} s; aborted")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the benchmark process dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


# Pass as `preexec_fn` to every child (servers, load clients): it dies with the benchmark.
DIE_WITH_PARENT: Callable[[], None] | None = (
    _die_with_parent if sys.platform.startswith("linux") else None
)


# ---------------------------------------------------------------------- servers


def pe_serve_argv(data_dir: Path, log_level: str = "warning") -> list[str]:
    """`pe serve` exactly as users run it, on a free port."""
    return [
        PYTHON, "-m", "promptexecution.cli", "serve",
        "--host", HOST, "--port", "0", "--data-dir", str(data_dir), "--log-level", log_level,
    ]  # fmt: skip


class ServerProcess:
    """A server subprocess; `start()` returns its base URL (without /v2) once it listens."""

    def __init__(self, argv: list[str], name: str = "server") -> None:
        self.argv = argv
        self.name = name
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.startup_seconds = math.nan
        self.exit_code: int | None = None
        self._log: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self._log)[-lines:])

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self._log.append(line)
            if not self._ready.is_set():
                match = _LISTENING.search(line)
                if match:
                    self.url = match.group(1)
                    self._ready.set()

    def start(self, timeout: float = 60.0) -> str:
        started = time.perf_counter()
        # Own session: a terminal's Ctrl-C reaches only the benchmark, which stops servers.
        self.proc = subprocess.Popen(  # noqa: S603 - argv built here, no shell
            self.argv,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        self._reader = threading.Thread(target=self._drain, name=f"{self.name}-log", daemon=True)
        self._reader.start()
        deadline = started + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before listening:\n"
                    + self.log_tail()
                )
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not listen within {timeout} s")
        self.startup_seconds = time.perf_counter() - started
        return self.url

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then wait; SIGKILL to the process group only if it does not exit."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  ! {self.name} ignored SIGTERM for {timeout} s; killing it", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        self.exit_code = proc.returncode
        return self.exit_code

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        code = self.stop()
        if code not in (0, None) and exc_type is None:
            print(f"  ! {self.name} exited with code {code}:\n{self.log_tail()}", flush=True)


def exit_status(problems: Sequence[str], server: ServerProcess | None = None) -> int:
    """Prints each problem, and a server that died; 1 when anything went wrong, else 0."""
    for problem in problems:
        print(f"ERROR: {problem}")
    died = server is not None and server.exit_code not in (0, None)
    if died:
        assert server is not None
        print(f"ERROR: pe serve exited with {server.exit_code}")
    return 1 if problems or died else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_local_key(data_dir: Path) -> str:
    return (data_dir / "local.key").read_text().strip()


@contextlib.contextmanager
def temp_data_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


class Terminated(Exception):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated("terminated by SIGTERM")


def run_bounded(main: Callable[[], int], seconds: int, what: str) -> int:
    """Runs a benchmark's main with a wall-clock limit; SIGTERM and Ctrl-C still clean up
    (servers stopped, load generators killed) before the exit."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with time_limit(seconds, what):
            return main()
    except (BenchTimeout, Terminated) as exc:
        print(f"ERROR: {exc}", flush=True)
        return 3
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
