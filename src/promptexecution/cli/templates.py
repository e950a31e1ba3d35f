"""`pe templates pull DIR` and `pe templates push DIR`: prompts kept as files (one per
template, cli/prompt_files.py), so authors version them in git and review them in pull
requests. A pull then a push of an untouched directory changes nothing; a push makes one new
version per file whose content changed, and running it twice makes nothing new."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connect import ConnectError, api_error_line, connected
from .prompt_files import SUFFIX, PromptFile, PromptFileError, dump, load

if TYPE_CHECKING:
    from ..client import SyncPromptExecutionClient
    from ..models import Template


def add_parser(sub: Any) -> None:
    templates = sub.add_parser("templates", help="keep templates as files: pull and push")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True)
    pull = templates_sub.add_parser("pull", help=f"write every active template to DIR/NAME{SUFFIX}")
    pull.add_argument("dir", type=Path)
    push = templates_sub.add_parser(
        "push", help=f"store a new version of every template whose DIR/*{SUFFIX} file changed")
    push.add_argument("dir", type=Path)
    push.add_argument("--dry-run", action="store_true", help="show the diffs, change nothing")
    push.add_argument("-m", "--message", default="pushed from files",
                      help="the change note kept with each new version")


def run(args: argparse.Namespace) -> int:
    from ..exceptions import APIError

    try:
        with connected(args.profile) as client:
            if args.templates_command == "pull":
                return _pull(client, args.dir)
            return _push(client, args.dir, dry_run=args.dry_run, note=args.message)
    except ConnectError as exc:
        print(f"pe templates: {exc}", file=sys.stderr)
    except APIError as exc:
        print(f"pe templates: {api_error_line(exc)}", file=sys.stderr)
    except OSError as exc:
        print(f"pe templates: {exc}", file=sys.stderr)
    return 1


def _write_if_changed(path: Path, text: str) -> bool:
    """Atomically, and only when the text differs (so unchanged files keep their times)."""
    try:
        if path.read_bytes() == text.encode("utf-8"):
            return False
    except FileNotFoundError:
        pass
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _pull(client: SyncPromptExecutionClient, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    written = unchanged = 0
    seen: dict[str, str] = {}
    for template in client.templates.iterate(status="active", sort="name"):
        folded = template.name.casefold()
        if folded in seen:  # on a case-insensitive disk they would be one file
            print(f"pe templates pull: '{template.name}' and '{seen[folded]}' differ only in "
                  "case; skipped the second", file=sys.stderr)
            continue
        seen[folded] = template.name
        path = directory / f"{template.name}{SUFFIX}"
        if _write_if_changed(path, dump(PromptFile.of(template))):
            written += 1
            print(f"wrote {path} ({template.version})")
        else:
            unchanged += 1
    print(f"{written} written, {unchanged} unchanged, in {directory}")
    return 0


def _files(directory: Path) -> tuple[list[tuple[Path, PromptFile]], list[str]]:
    found, problems = [], []
    names: dict[str, Path] = {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            file = load(path.read_bytes().decode("utf-8"), str(path))  # \r\n kept
        except (PromptFileError, UnicodeDecodeError) as exc:
            problems.append(str(exc))
            continue
        if file.name in names:
            problems.append(f"{path}: name '{file.name}' is also in {names[file.name]}")
            continue
        names[file.name] = path
        found.append((path, file))
    return found, problems


def _push(client: SyncPromptExecutionClient, directory: Path, *, dry_run: bool,
          note: str) -> int:
    from ..exceptions import APIError, NotFoundError

    if not directory.is_dir():
        print(f"pe templates push: {directory} is not a directory", file=sys.stderr)
        return 1
    files, problems = _files(directory)
    for problem in problems:
        print(f"pe templates push: {problem}", file=sys.stderr)
    created = updated = unchanged = failed = 0
    for path, file in files:
        current: Template | None
        try:
            current = client.templates.get(file.name)
            if current.status != "active":
                current = None  # archived: the name is free for a new template
        except NotFoundError:
            current = None
        stored = PromptFile.of(current) if current is not None else None
        if stored is not None and stored.same_content(file):
            unchanged += 1
            continue
        if dry_run:
            before = _diff_lines(dump(stored)) if stored else []
            label = f"{file.name}@{current.version}" if current else "(new)"
            sys.stdout.writelines(difflib.unified_diff(
                before, _diff_lines(dump(file)), fromfile=label, tofile=str(path)))
            print()
            created, updated = created + (stored is None), updated + (stored is not None)
            continue
        try:
            if current is None:
                made = client.templates.create(**_without_nones(file.fields()), change_note=note)
                created += 1
                print(f"created {file.name} {made.version}")
            else:
                made = client.templates.update(current.template_id, **file.fields(),
                                               change_note=note)
                updated += 1
                print(f"updated {file.name} {current.version} -> {made.version}")
        except APIError as exc:
            failed += 1
            print(f"pe templates push: {path}: {api_error_line(exc)}", file=sys.stderr)
    verb = "would be " if dry_run else ""
    print(f"{created} {verb}created, {updated} {verb}updated, {unchanged} unchanged"
          + (f", {failed + len(problems)} failed" if failed or problems else ""))
    return 1 if failed or problems else 0


def _without_nones(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _diff_lines(text: str) -> list[str]:
    """Lines for a unified diff; a last line without a newline is marked as git marks it
    (prompts often end without one, and the - and + lines ran together)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
