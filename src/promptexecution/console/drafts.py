"""What the user typed in the Playground, kept across sessions: the raw prompt, the chosen
template and the values typed per template. Written on each run and on exit, so quitting (or
a closed terminal) loses nothing."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .files import write_private


@dataclass
class Draft:
    source: str = "template"  # or "raw"
    raw_prompt: str = ""
    template_id: str | None = None
    typed: dict[str, dict[str, str | bool]] = field(default_factory=dict)


def default_draft_path() -> Path:
    from platformdirs import user_state_path

    return user_state_path("promptexecution", appauthor=False) / "playground-draft.json"


def load_draft(path: Path) -> Draft:
    """The saved draft; an unreadable file is an empty draft (it is a convenience only)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Draft(
            source="raw" if data.get("source") == "raw" else "template",
            raw_prompt=str(data.get("raw_prompt", "")),
            template_id=data.get("template_id") if isinstance(data.get("template_id"), str)
            else None,
            typed={str(k): {str(n): v for n, v in values.items() if isinstance(v, str | bool)}
                   for k, values in (data.get("typed") or {}).items()
                   if isinstance(values, dict)},
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return Draft()


def save_draft(draft: Draft, path: Path) -> None:
    with contextlib.suppress(OSError):  # a convenience: never in the way of quitting
        write_private(path, json.dumps(asdict(draft)))
