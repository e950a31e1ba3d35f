"""Console start-up in a real pseudo-terminal: time to the first frame and to "connected",
with the embedded server already running and cold; and `posting` (a Textual HTTP client from
PyPI) to its first frame, for reference.

    python -m tests.bench.bench_console_startup [--runs 5] [--no-posting]
        [--posting-venv DIR]

Each launch is a real process on a 140x42 pty (`os.openpty`, the pty its controlling
terminal, TERM=xterm-256color), with `PE_DATA_DIR`, `PE_CONFIG` and the XDG dirs pointing
into a temp dir, so the user's files are untouched. The benchmark reads what the program
writes to the terminal and strips the escape sequences:

* **first frame**: the first time the screen text holds the UI's name for itself
  ("Playground" in the mode tabs; "Posting" in posting's header);
* **connected**: the header says "● connected" (the console verified the key with the
  server and can run).

Also the resident memory (VmRSS) of the program's own process at that point (pe: connected;
posting: first frame; never a server's). Then ctrl+q, and the time until the process has
exited (exit code 0 expected). Cases:

* **warm**: `pe serve --data-dir DIR --port 0` started first (as a separate process); the
  console finds it through `server.json` and must leave it running when it quits;
* **cold**: nothing running; the console starts `pe serve` itself, and on ctrl+q must stop
  it. Before quitting, the benchmark records every process descended from the console (and
  the pid in `server.json`); after the exit each must be gone, `server.json` removed and the
  URL must no longer answer;
* **posting**: `pip install posting` into a separate venv in the temp dir (or `--posting-venv`,
  reused when it already has `bin/posting`). posting 2.11 pins textual 6.1.0, which crashes
  (SIGSEGV) with tree-sitter 0.26; when a smoke test shows that, tree-sitter is pinned below
  0.26 in that venv and the output says so. Quit with ctrl+q (ctrl+c if ctrl+q does not exit).

One untimed warm-up launch per case (for the cold case it is also the first start on a new
data dir: database and seed templates, reported), then `--runs` timed launches; medians. No
performance target (the comparison is the point); a process left behind, a non-zero exit
or a console that does not connect is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ._common import (
    DIE_WITH_PARENT,
    PYTHON,
    ServerProcess,
    exit_status,
    fmt_runs,
    machine_summary,
    median,
    pe_serve_argv,
    run_bounded,
    temp_data_dir,
)
from ._console import private_dirs, rss_mib

COLUMNS, ROWS = 140, 42
_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    rb"|\x1b[P^_X][^\x1b]*\x1b\\"  # DCS, PM, APC, SOS
    rb"|\x1b[()#][0-9A-Za-z]"  # charset
    rb"|\x1b."  # anything else of two bytes
)
CONNECTED = "● connected"


def now() -> float:
    return time.perf_counter()


# ---------------------------------------------------------------------- pty


def _child_setup() -> None:
    """In the child: the pty becomes its controlling terminal; it dies with the benchmark."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if DIE_WITH_PARENT is not None:
        DIE_WITH_PARENT()


class PtyProcess:
    """A program on a pty; the benchmark reads the screen bytes it writes."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.started = now()
        self.proc = subprocess.Popen(  # noqa: S603 - argv built here, no shell
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=_child_setup, close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.raw = bytearray()
        self.first_byte = math.nan
        self._text = ""
        self._stale = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def text(self) -> str:
        """Everything written so far, without escape sequences."""
        if self._stale:
            self._text = _ESCAPES.sub(b"", bytes(self.raw)).decode("utf-8", "replace")
            self._stale = False
        return self._text

    def _pump(self, timeout: float) -> bool:
        """Reads what is there (waiting up to `timeout`); False once the pty is closed."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 1 << 16)
        except OSError:  # EIO: every process holding the pty has gone
            return False
        if not chunk:
            return False
        if not self.raw:
            self.first_byte = now() - self.started
        self.raw += chunk
        self._stale = True
        return True

    def expect(self, needle: str, limit: float) -> float:
        """Seconds from the launch until the screen text first held `needle` (NaN: never)."""
        deadline = now() + limit
        while needle not in self.text:
            if now() > deadline or not self._pump(min(0.05, deadline - now())):
                return math.nan
        return now() - self.started

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_exit(self, limit: float) -> int | None:
        """Keeps reading (a full pty would block the program) until it exits."""
        deadline = now() + limit
        while self.proc.poll() is None and now() < deadline:
            if not self._pump(0.02):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(max(0.0, deadline - now()))
                break
        return self.proc.poll()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.master)


# ---------------------------------------------------------------------- processes


def descendants(pid: int) -> dict[int, str]:
    """Every live process below `pid` (by parent pid, from /proc), with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found[child] = command_line(child)
        todo += children.get(child, [])
    return found


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url.removesuffix("/v2") + "/health", timeout=1) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def wait_gone(pids: list[int], limit: float) -> list[int]:
    deadline = now() + limit
    while now() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


# ---------------------------------------------------------------------- launches


@dataclass
class Launch:
    first_frame: float = math.nan
    connected: float = math.nan
    quit_seconds: float = math.nan
    exit_code: int | None = None
    quit_key: str = "ctrl+q"
    rss: float = math.nan  # MiB, the console process alone, when connected (or first frame)
    children: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line(self, label: str) -> str:
        parts = [f"first frame {self.first_frame * 1000:6.0f} ms"]
        if not math.isnan(self.connected):
            parts.append(f"connected {self.connected * 1000:6.0f} ms")
        parts.append(f"RSS {self.rss:5.1f} MiB")
        parts.append(f"quit ({self.quit_key}) {self.quit_seconds * 1000:5.0f} ms, exit "
                     f"{self.exit_code}")
        return f"  {label}  " + "; ".join(parts) + ("" if not self.problems else "  WRONG")


def _short(cmd: str) -> str:
    """`python -m promptexecution.cli serve --port 0 ...` -> `promptexecution.cli serve`."""
    words = cmd.split()
    if "-m" in words:
        words = words[words.index("-m") + 1:]
    return " ".join(words[:2])


def pe_argv(pe: Path | None = None) -> list[str]:
    """`pe` itself: the given executable (an installed wheel's, say), else this venv's."""
    if pe is not None:
        return [str(pe)]
    script = Path(PYTHON).parent / "pe"
    return [str(script)] if script.exists() else [PYTHON, "-m", "promptexecution.cli"]


def terminal_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEXTUAL", "PE_", "PROMPT_EXECUTION_"))
           and k not in ("NO_COLOR", "COLUMNS", "LINES", "TMUX")}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", **extra)
    return env


def launch_pe(env: dict[str, str], cwd: Path, data_dir: Path, expect_started: bool,
              pe: Path | None = None) -> Launch:
    """One console launch: first frame, connected, the processes it started, ctrl+q."""
    result = Launch()
    pty = PtyProcess(pe_argv(pe), env, cwd)
    try:
        result.first_frame = pty.expect("Playground", 30)
        if math.isnan(result.first_frame):
            result.problems.append("no first frame within 30 s: " + pty.text[-300:])
            return result
        result.connected = pty.expect(CONNECTED, 30)
        if math.isnan(result.connected):
            result.problems.append("not connected within 30 s: " + pty.text[-300:])
            return result
        result.rss = rss_mib(pty.pid)
        result.children = descendants(pty.pid)
        info = _server_info(data_dir)
        servers = [pid for pid, cmd in result.children.items() if " serve " in f"{cmd} "]
        if expect_started:
            if not servers:
                result.problems.append("cold start, but no `pe serve` below the console")
            if info is None or int(str(info.get("pid"))) not in result.children:
                result.problems.append(f"server.json does not name a child of the console: "
                                       f"{info}")
        elif servers:
            result.problems.append(f"a server was running, but the console started another: "
                                   f"{servers}")
        sent = now()
        pty.send(b"\x11")  # ctrl+q
        result.exit_code = pty.wait_exit(15)
        result.quit_seconds = now() - sent
        if result.exit_code is None:
            result.problems.append("did not exit within 15 s of ctrl+q")
        elif result.exit_code != 0:
            result.problems.append(f"exit code {result.exit_code}: {pty.text[-300:]}")
        left = wait_gone(list(result.children), 5)
        if left:
            result.problems.append("left behind: " + "; ".join(
                f"pid {pid} {result.children[pid]}" for pid in left))
            for pid in left:  # started (indirectly) by this benchmark: stop it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        if expect_started and info is not None:
            if (data_dir / "server.json").exists():
                result.problems.append("server.json still there after the console quit")
            if answers(str(info.get("base_url", ""))):
                result.problems.append("the server it started still answers after ctrl+q")
    finally:
        pty.close()
    return result


def _server_info(data_dir: Path) -> dict[str, object] | None:
    try:
        info = json.loads((data_dir / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def launch_posting(posting: Path, env: dict[str, str], cwd: Path) -> Launch:
    result = Launch()
    pty = PtyProcess([str(posting)], env, cwd)
    try:
        result.first_frame = pty.expect("Posting", 30)
        if math.isnan(result.first_frame):
            code = pty.proc.poll()
            result.problems.append(f"no first frame within 30 s (exit {code}): "
                                   + pty.text[-400:].strip())
            return result
        result.rss = rss_mib(pty.pid)
        result.children = descendants(pty.pid)
        sent = now()
        pty.send(b"\x11")  # ctrl+q: Textual's quit
        result.exit_code = pty.wait_exit(3)
        if result.exit_code is None:
            result.quit_key = "ctrl+c"
            sent = now()  # the quit time counts from the key that quits
            pty.send(b"\x03")  # posting binds ctrl+c to quit
            result.exit_code = pty.wait_exit(10)
        result.quit_seconds = now() - sent
        if result.exit_code is None:
            result.problems.append("did not exit on ctrl+q nor ctrl+c")
        elif result.exit_code != 0:
            result.problems.append(f"exit code {result.exit_code}")
        left = wait_gone(list(result.children), 5)
        if left:
            result.problems.append(f"left behind: {left}")
    finally:
        pty.close()
    return result


# ---------------------------------------------------------------------- posting venv

SMOKE = ("from textual.widgets import TextArea; TextArea('{}', language='json'); "
         "TextArea('x = 1', language='python')")


def posting_venv(venv: Path) -> tuple[Path | None, str]:
    """A venv with posting (installed unless there already); (its posting script, a note)."""
    posting = venv / "bin" / "posting"
    python = venv / "bin" / "python"
    notes: list[str] = []
    if posting.exists():
        notes.append(f"reused {venv}")
    else:
        started = now()
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)],  # noqa: S603
                              capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            return None, f"python -m venv failed: {made.stderr.strip()[-300:]}"
        installed = _pip(python, ["posting"])
        if installed:
            return None, f"pip install posting failed: {installed}"
        notes.append(f"pip install posting into {venv} in {now() - started:.0f} s")
    smoke = subprocess.run([str(python), "-c", SMOKE], capture_output=True, text=True,  # noqa: S603
                           timeout=60)
    if smoke.returncode != 0:
        crash = ("SIGSEGV" if smoke.returncode == -signal.SIGSEGV
                 else f"exit {smoke.returncode}")
        notes.append(f"its textual TextArea with tree-sitter crashed ({crash}); pinned "
                     "tree-sitter<0.26 there")
        pinned = _pip(python, ["tree-sitter<0.26"])
        if pinned:
            return None, "; ".join(notes) + f"; pip failed: {pinned}"
        again = subprocess.run([str(python), "-c", SMOKE], capture_output=True,  # noqa: S603
                               text=True, timeout=60)
        if again.returncode != 0:
            return None, "; ".join(notes) + f"; still crashes (exit {again.returncode})"
    versions = subprocess.run(  # noqa: S603
        [str(python), "-c", "import importlib.metadata as m; print(' '.join(f'{p} '"
         "+m.version(p) for p in ('posting', 'textual', 'tree-sitter')))"],
        capture_output=True, text=True, timeout=60).stdout.strip()
    notes.append(versions)
    return posting, "; ".join(notes)


def _pip(python: Path, packages: list[str]) -> str:
    """'' on success, else the end of pip's output."""
    done = subprocess.run([str(python), "-m", "pip", "install", "-q",  # noqa: S603
                           "--disable-pip-version-check", *packages],
                          capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        return ""
    lines = [ln for ln in (done.stdout + done.stderr).splitlines()
             if ln.strip() and not ln.startswith("WARNING: Location")]
    return " | ".join(lines[-4:]) or f"exit {done.returncode}"


# ---------------------------------------------------------------------- main


def series(label: str, runs: int, one: Callable[[], Launch], problems: list[str]
           ) -> list[Launch]:
    launches: list[Launch] = []
    for index in range(runs + 1):
        launch = one()
        name = f"{label} {'warm-up' if index == 0 else f'run {index}'}"
        print(launch.line(f"{name:<22}"), flush=True)
        for problem in launch.problems:
            print(f"    ! {problem}", flush=True)
        problems += [f"{name}: {p}" for p in launch.problems]
        if index:
            launches.append(launch)
    return launches


def summary(label: str, launches: list[Launch]) -> dict[str, float]:
    first = [x.first_frame for x in launches if not math.isnan(x.first_frame)]
    conn = [x.connected for x in launches if not math.isnan(x.connected)]
    quits = [x.quit_seconds for x in launches if not math.isnan(x.quit_seconds)]
    line = (f"  {label:<8} first frame: runs {fmt_runs([v * 1000 for v in first], '{:.0f}')} "
            f"ms, median {median(first) * 1000:.0f} ms")
    if conn:
        line += (f"; connected: runs {fmt_runs([v * 1000 for v in conn], '{:.0f}')} ms, "
                 f"median {median(conn) * 1000:.0f} ms")
    line += (f"; quit median {median(quits) * 1000:.0f} ms; RSS median "
             f"{median([x.rss for x in launches]):.1f} MiB")
    print(line)
    return {"first": median(first), "connected": median(conn) if conn else math.nan}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-posting", action="store_true", help="skip the posting reference")
    parser.add_argument("--posting-venv", type=Path,
                        help="venv for posting (reused if it has bin/posting; default: a new "
                             "one in the temp dir)")
    parser.add_argument("--pe", type=Path,
                        help="the pe to launch, such as a venv's bin/pe with the wheel "
                             "installed (default: this venv's)")
    args = parser.parse_args(argv)

    print(f"bench_console_startup: `pe` in a {COLUMNS}x{ROWS} pty, launch -> first frame -> "
          "● connected -> ctrl+q -> exit; warm (server running) and cold (the console starts "
          "it); posting for reference")
    print(f"  machine: {machine_summary()}")
    print(f"  console: {' '.join(pe_argv(args.pe))}")
    problems: list[str] = []
    results: dict[str, dict[str, float]] = {}
    with temp_data_dir("pe-bench-console-startup-") as tmp:
        xdg = private_dirs(tmp)
        warm_dir, cold_dir = tmp / "data-warm", tmp / "data-cold"
        cwd = tmp / "cwd"
        cwd.mkdir()

        def env_for(data_dir: Path) -> dict[str, str]:
            return terminal_env({"PE_DATA_DIR": str(data_dir),
                                 "PE_CONFIG": str(tmp / "config" / "config.toml"), **xdg})

        # warm: a server already running for the data dir
        serve = pe_serve_argv(warm_dir)
        if args.pe is not None:  # the same installation serves
            serve = [str(args.pe), *serve[serve.index("serve"):]]
        with ServerProcess(serve, "pe serve (warm)") as server:
            url = server.start()
            print(f"  warm: pe serve {url} (pid {server.pid}) started first; the console "
                  "must find it and leave it running")
            warm = series("warm", args.runs,
                          lambda: launch_pe(env_for(warm_dir), cwd, warm_dir, False, args.pe),
                          problems)
            if server.proc is None or server.proc.poll() is not None or not answers(url):
                problems.append("warm: the server started before the consoles is gone: a "
                                "console stopped a server it had not started")
            else:
                print("  warm: the server started first is still running and answering: ok")
        # cold: nothing running; the first (warm-up) launch also creates the data dir
        print("  cold: nothing running; the console starts `pe serve` and must stop it on "
              "ctrl+q (the warm-up run is the first start on a new data dir)")
        cold = series("cold", args.runs,
                      lambda: launch_pe(env_for(cold_dir), cwd, cold_dir, True, args.pe),
                      problems)
        results["warm"], results["cold"] = summary("warm", warm), summary("cold", cold)
        started = sorted({_short(cmd) for x in cold for cmd in x.children.values()})
        left = any("left behind" in p or "still" in p for p in problems)
        print(f"  cold: below the console before ctrl+q: {', '.join(started) or 'nothing'}; "
              f"after its exit: {'SOMETHING LEFT (see above)' if left else 'nothing left, '}"
              f"{'' if left else 'server.json removed, the URL no longer answers'}")
        if not args.no_posting:
            venv = args.posting_venv or tmp / "posting-venv"
            posting, note = posting_venv(venv)
            print(f"  posting: {note}", flush=True)
            if posting is None:
                print("  posting: not measured (see above)")
            else:
                pcwd = tmp / "posting-cwd"
                pcwd.mkdir(exist_ok=True)
                launches = series("posting", args.runs,
                                  lambda: launch_posting(posting, terminal_env(xdg), pcwd),
                                  problems)
                results["posting"] = summary("posting", launches)
    if "posting" in results:
        print(f"\n  first frame, median: pe warm {results['warm']['first'] * 1000:.0f} ms, pe "
              f"cold {results['cold']['first'] * 1000:.0f} ms, posting "
              f"{results['posting']['first'] * 1000:.0f} ms; pe connected: warm "
              f"{results['warm']['connected'] * 1000:.0f} ms, cold "
              f"{results['cold']['connected'] * 1000:.0f} ms")
    print(f"  checks (frames, connected, exit 0, the warm server kept, the cold server "
          f"stopped, nothing left behind): {'ok' if not problems else 'FAILED'}")
    return exit_status(problems)


if __name__ == "__main__":
    raise SystemExit(run_bounded(main, 180, "bench_console_startup"))
