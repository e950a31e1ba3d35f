"""Copying output: a system clipboard tool when there is one, else the terminal's OSC 52.

A terminal may ignore OSC 52 without telling anyone, so that path also writes the text to a file
and the message names it: the user is never left guessing whether anything was copied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_TOOLS: tuple[tuple[str, ...], ...] = (
    ("pbcopy",),
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("clip.exe",),
)


def _system_tool() -> tuple[str, ...] | None:
    for tool in _TOOLS:
        if tool[0] == "wl-copy" and not os.environ.get("WAYLAND_DISPLAY"):
            continue
        if tool[0] in ("xclip", "xsel") and not os.environ.get("DISPLAY"):
            continue
        if tool[0] == "pbcopy" and sys.platform != "darwin":
            continue
        if shutil.which(tool[0]):
            return tool
    return None


def copy_text(text: str, osc52: Callable[[str], None], fallback_file: Path) -> str:
    """Copies `text`; returns the message to show."""
    count = f"{len(text):,} characters"
    tool = _system_tool()
    if tool is not None:
        try:
            subprocess.run(tool, input=text.encode(), check=True, timeout=5,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return f"Copied {count} to the clipboard ({tool[0]})."
        except (OSError, subprocess.SubprocessError):
            pass  # fall through to the terminal
    osc52(text)
    fallback_file.parent.mkdir(parents=True, exist_ok=True)
    fallback_file.write_text(text, encoding="utf-8")
    return (f"Sent {count} to the terminal's clipboard (OSC 52). Terminals that refuse it "
            f"(tmux without set-clipboard, some SSH setups) copy nothing: the text is also in "
            f"{fallback_file}")
