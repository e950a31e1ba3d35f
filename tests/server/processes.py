"""`pe` as users run it: a command, or `pe serve` as a subprocess on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PE = [sys.executable, "-m", "promptexecution.cli"]


def pe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PE, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen[str], str]:
    """Starts `pe serve --port 0` and returns it with its base URL (…/v2) once it listens.
    Without `env`, the data dir is given with --data-dir."""
    args = [*PE, "serve", "--port", "0", *extra]
    if not env:
        args += ["--data-dir", str(data_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:  # log lines may come first (say, permissions made tighter)
        seen += line
        match = re.search(r"listening on (http://\S+/v2)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    rest = proc.communicate(timeout=10)[0]
    raise AssertionError(f"pe serve did not start: {seen}{rest}")


@contextmanager
def serving(data_dir: Path, *extra: str, env: dict[str, str] | None = None
            ) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`start_server` for the length of a with block; killed at its end if still running."""
    proc, url = start_server(data_dir, *extra, env=env)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
