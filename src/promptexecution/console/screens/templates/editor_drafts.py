"""Unsaved template edits, kept in one private JSON file beside the Playground's draft.

A draft is keyed by template (its id, `copy:<id>` for a duplicate, `new`) and remembers the
version it began from, so an edit is offered back even after someone saved a newer version,
and saving it then asks the server about exactly that version (a conflict, not an overwrite).
The file is a convenience: unreadable means empty, and a write that fails is not an error.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...files import write_private


@dataclass
class Draft:
    fields: dict[str, Any]
    base_version: str | None
    saved_at: float


class TemplateDrafts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, key: str) -> Draft | None:
        entry = self._read().get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("fields"), dict):
            return None
        base = entry.get("base_version")
        try:
            saved_at = float(entry.get("saved_at", 0))
        except (TypeError, ValueError):
            saved_at = 0.0
        return Draft(entry["fields"], base if isinstance(base, str) else None, saved_at)

    def put(self, key: str, fields: dict[str, Any], base_version: str | None) -> None:
        drafts = self._read()
        drafts[key] = {"fields": fields, "base_version": base_version, "saved_at": time.time()}
        self._write(drafts)

    def drop(self, key: str) -> None:
        drafts = self._read()
        if drafts.pop(key, None) is not None:
            self._write(drafts)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, drafts: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            write_private(self.path, json.dumps(drafts))
