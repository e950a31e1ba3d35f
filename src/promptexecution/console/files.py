"""Files only their owner may read (the config holds keys; drafts and output hold prompts),
written atomically so a crash mid-write never leaves half a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def create_private(path: Path) -> BinaryIO:
    """A new file (never one that exists), readable by its owner only: prompts and outputs."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def export_problem(raw: str) -> tuple[Path | None, str]:
    """The file an export would write, or why it cannot: nothing is ever overwritten."""
    path = Path(raw).expanduser() if raw else None
    if path is None:
        return None, "Give the file to write."
    if path.is_dir():
        return None, f"{path} is a folder; give a file name in it."
    if not path.parent.is_dir():
        return None, f"There is no folder {path.parent}."
    if path.exists():
        return None, f"{path} exists; give another name (nothing is overwritten)."
    return path, ""
