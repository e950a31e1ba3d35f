"""The embedded server behind the `local` profile: reuse the one already running for the data
dir, or start `pe serve` as a child process on a free loopback port, and stop it on exit
only if this console started it.

It talks to the server the way any client does (the CLI to start it, `server.json` and
`local.key` to find it, HTTP to check it); it never imports the server package.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_LISTENING = re.compile(r"listening on (http://\S+/v2)")


class EmbeddedServerError(RuntimeError):
    pass


@dataclass
class Connection:
    base_url: str  # ends with /v2
    api_key: str
    started_here: bool


def default_data_dir() -> Path:
    if os.environ.get("PE_DATA_DIR"):
        return Path(os.environ["PE_DATA_DIR"]).expanduser()
    from platformdirs import user_data_path

    return user_data_path("promptexecution", appauthor=False)


class EmbeddedServer:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or default_data_dir()
        self._process: subprocess.Popen[str] | None = None
        self._log: list[str] = []

    @property
    def started_here(self) -> bool:
        """True while a server this object started is running."""
        return self._process is not None and self._process.poll() is None

    def running(self) -> str | None:
        """The base URL of a healthy server already serving this data dir, if any."""
        try:
            info = json.loads((self.data_dir / "server.json").read_text())
            base_url = str(info["base_url"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return base_url if _healthy(base_url) else None

    def connect(self, timeout: float = 20.0) -> Connection:
        """Reuses or starts the server; blocks until it answers (call it from a worker)."""
        base_url = self.running()
        started = False
        if base_url is None:
            base_url = self._start(timeout)
            started = True
        key_file = self.data_dir / "local.key"
        try:
            key = key_file.read_text().strip()
        except OSError as exc:
            raise EmbeddedServerError(f"cannot read the local key {key_file}: {exc}") from None
        return Connection(base_url, key, started)

    def _start(self, timeout: float) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "promptexecution.cli", "serve", "--port", "0",
             "--data-dir", str(self.data_dir), "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, start_new_session=True,  # a Ctrl-C in the console is not its Ctrl-C
        )
        found: list[str] = []
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(found, ready), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):  # set by the listening line, or by the output ending
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError(f"the embedded server did not start in {timeout} s")
        if not found:
            self._process.wait(5)
            raise EmbeddedServerError(
                "the embedded server exited: " + " | ".join(self._log[-5:])
            )
        base_url = found[0]
        while not _healthy(base_url):
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError(f"the embedded server at {base_url} is not healthy")
            time.sleep(0.05)
        return base_url

    def _drain(self, found: list[str], ready: threading.Event) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._log.append(line.rstrip())
            del self._log[:-50]
            match = _LISTENING.search(line)
            if match and not ready.is_set():
                found.append(match.group(1))
                ready.set()
        ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the server if this object started it; a reused one keeps running."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _healthy(base_url: str) -> bool:
    # The stdlib suffices for one unauthenticated GET, and keeps the console's imports to the
    # SDK, textual, pygments and tomli-w (DESIGN.md section 1).
    try:
        with urllib.request.urlopen(base_url.removesuffix("/v2") + "/health", timeout=1.0) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False
