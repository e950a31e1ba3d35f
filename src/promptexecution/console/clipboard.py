"""Copying output: a system clipboard tool when there is one; otherwise the app falls back to
the terminal's OSC 52, which a terminal may ignore without telling anyone, so the text is also
written to a private file whose name the message gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

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


def copy_with_tool(text: str) -> str | None:
    """Copies with a clipboard tool; its name, or None when there is none or it failed."""
    tool = _system_tool()
    if tool is None:
        return None
    try:
        subprocess.run(tool, input=text.encode(), check=True, timeout=5,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return tool[0]
