"""The prompt edited in the user's own editor ($VISUAL, else $EDITOR, else vi): the app
suspends, the editor has the terminal, and the file is read back.

Textual's `App.suspend()` resumes the terminal only when its block ends normally: an
exception inside it (an editor that is not installed) left the console suspended, its output
thread gone, and the next frame blocked forever. So nothing is allowed to raise inside the
block, and a missing editor is found before the app suspends at all.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from textual.app import App, SuspendNotSupported


@dataclass
class Edited:
    text: str | None  # what the file held when the editor closed; None when it failed
    problem: str = ""


def editor_command() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"


def edit_externally(app: App[object], text: str) -> Edited:
    command = editor_command()
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return Edited(None, f"$VISUAL/$EDITOR '{command}' cannot be read: {exc}")
    if not argv or shutil.which(argv[0]) is None:
        return Edited(None, f"The editor '{command}' was not found; set $VISUAL or $EDITOR "
                            "to one you have (e.g. nano or vim). The prompt is unchanged.")
    handle, name = tempfile.mkstemp(suffix=".jinja", prefix="pe-prompt-")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        returncode, failure = _run(app, [*argv, str(path)])
        if failure:
            return Edited(None, f"Could not run {command}: {failure}. The prompt is unchanged.")
        if returncode != 0:
            return Edited(None, f"{command} exited with {returncode}; the prompt is unchanged.")
        return Edited(_as_typed(text, path.read_bytes().decode("utf-8")))
    except (OSError, ValueError) as exc:
        return Edited(None, f"Could not edit the prompt in {command}: {exc}")
    finally:
        path.unlink(missing_ok=True)


def _as_typed(before: str, after: str) -> str:
    """The file as the editor left it (\r\n kept), less the final newline vim and most
    editors add on save when the prompt had none: that alone is not an edit."""
    if not before.endswith("\n") and after.endswith("\n") and not after.endswith("\n\n"):
        return after[:-1]
    return after


def _run(app: App[object], argv: list[str]) -> tuple[int, str]:
    """(exit code, why it could not run). Nothing raises inside the suspended block."""
    failure = ""
    returncode = 0
    try:
        with app.suspend():
            try:
                returncode = subprocess.run(argv, check=False).returncode
            except OSError as exc:
                failure = str(exc)
    except SuspendNotSupported:  # no terminal to hand over (headless tests, the web)
        try:
            returncode = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL,
                                        capture_output=True).returncode
        except OSError as exc:
            failure = str(exc)
    return returncode, failure
