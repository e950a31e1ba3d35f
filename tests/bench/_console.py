"""Shared plumbing for the console benchmarks: a `PeApp` pointed at a benchmark server, driven
headless in this process (`app.run_test`), and small helpers to wait and to read memory.

The benchmarks run the app in their own process, so they may wrap Textual and console methods
to observe them (see `bench_console_stream`); nothing here changes what the app does, except
that `PeApp` does not take over SIGTERM/SIGHUP in a benchmark (the benchmark's own handler
stops its servers; a console run by a user keeps its handlers).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptexecution.console.app import PeApp
from promptexecution.console.config import ConsoleConfig, Profile

SIZE = (140, 42)  # the terminal size of the Pilot tests
PROMPT = (
    "Write a detailed technical guide to running a self-hosted prompt execution server: "
    "installation, configuration, templates, streaming, rate limits and monitoring."
)


XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


def private_dirs(tmp: Path) -> dict[str, str]:
    """XDG dirs under `tmp`, so nothing a console (or another TUI) writes lands in the user's
    config, data, state or cache dirs; also set in this process, for the in-process apps."""
    dirs = {name: str(tmp / "xdg" / name.split("_")[1].lower()) for name in XDG_VARS}
    for path in dirs.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    os.environ.update(dirs)
    return dirs


def bench_app(base_url: str, api_key: str, tmp: Path, **kwargs: Any) -> PeApp:
    """A console whose default profile is the benchmark server (`base_url` ends with /v2);
    its config, output file and Playground draft live under `tmp`. The heartbeat and the
    freshness poll run at their defaults, as a user gets them."""
    private_dirs(tmp)
    PeApp._exit_on_hangup = lambda self: None  # type: ignore[method-assign]
    if "draft_file" in inspect.signature(PeApp.__init__).parameters:
        kwargs.setdefault("draft_file", tmp / "playground-draft.json")
    config = ConsoleConfig(
        profiles={"local": Profile("local"),
                  "bench": Profile("bench", base_url=base_url, api_key=api_key)},
        default_profile="bench",
    )
    return PeApp(config, config_path=tmp / "config" / "config.toml",
                 output_file=tmp / "last-output.txt", **kwargs)


async def wait_until(check: Callable[[], object], limit: float, what: str,
                     interval: float = 0.02) -> float:
    """Polls `check` with plain asyncio sleeps (a Pilot pause would force a screen refresh
    and so change what is measured); returns the seconds waited, raises on time-out."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > limit:
            raise TimeoutError(f"{what}: not within {limit:.0f} s")
        await asyncio.sleep(interval)
    return time.perf_counter() - started


async def connected(app: PeApp, limit: float = 30.0) -> None:
    """Until the session is connected and the Playground has its templates and models."""
    await wait_until(lambda: app.status.state == "connected" and app.playground is not None
                     and app.playground.loaded, limit, "connecting to the benchmark server")


async def use_raw_prompt(pilot: Any, app: PeApp, limit: float = 10.0) -> None:
    """Switches the Playground's source to the raw prompt and focuses its editor (as clicking
    into it would), then waits until that holds: setting the tab alone while the hidden
    template filter keeps the focus lets Textual's focus handling switch the tab back."""
    from textual.widgets import TabbedContent, TextArea

    playground = app.playground
    assert playground is not None
    tabs = playground.query_one("#source-tabs", TabbedContent)
    editor = playground.query_one("#raw-prompt", TextArea)
    started = time.perf_counter()
    stable = 0
    while stable < 3:
        if time.perf_counter() - started > limit:
            raise TimeoutError("the Playground's source does not stay on the raw prompt")
        if tabs.active != "source-raw" or app.focused is not editor:
            tabs.active = "source-raw"
            editor.focus()
            stable = 0
        else:
            stable += 1
        await pilot.pause(0.05)


def rss_mib(pid: int | str = "self") -> float:
    """VmRSS of a process, in MiB (Linux /proc; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def hwm_mib(pid: int | str = "self") -> float:
    """VmHWM (peak resident memory) of a process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


class FrameProbe:
    """When the current screen was last drawn with something true: `Screen._compositor_refresh`
    (the step that writes a frame) is wrapped once, and after each frame the probe asks its
    predicate. Key latency is then "key sent" to "the first frame that shows its effect",
    the way a user sees it; a Pilot `press` would also wait for the whole process to go idle
    (Textual's `wait_for_idle`), which counts background work such as loading pages."""

    def __init__(self) -> None:
        self.predicate: Callable[[], bool] | None = None
        self.hit_at = math.nan
        from textual.screen import Screen

        refresh = Screen._compositor_refresh
        probe = self

        def observed_refresh(screen: Any) -> None:
            refresh(screen)
            if probe.predicate is not None and screen is screen.app.screen and probe.predicate():
                probe.hit_at = time.perf_counter()
                probe.predicate = None

        Screen._compositor_refresh = observed_refresh  # type: ignore[method-assign]

    async def key_to_frame(self, app: PeApp, key: str, shown: Callable[[], bool],
                           limit: float = 10.0) -> float:
        """Sends `key` as the input thread would and returns the milliseconds until the first
        frame drawn with `shown()` true."""
        from textual import events

        self.hit_at, self.predicate = math.nan, shown
        character = key if len(key) == 1 else (" " if key == "space" else None)
        event = events.Key(key, character)
        event.set_sender(app)
        sent = time.perf_counter()
        assert app._driver is not None
        app._driver.send_message(event)
        await wait_until(lambda: not math.isnan(self.hit_at), limit, f"a frame after {key}",
                         interval=0.001)
        return (self.hit_at - sent) * 1000
