"""Colour themes: the TOML files shipped in the repository's `themes/` (installed as the
package `promptexecution.console.themes`) plus the user's own in
`<config dir>/themes/`. A file that does not parse or validate is reported (the app shows it
as a notification) and skipped; it never stops the console. A file that lacks some of our own
variables is loaded, those take pe-dark's, and that too is reported.

Each file is a Textual theme: `name`, `primary` and the other Textual colour fields, `dark`,
and `[variables]` for our own colours (statuses, cost) that the app's TCSS uses.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_THEME = "pe-dark"
# Our own variables, which the app's TCSS uses.
PE_VARIABLES = ("status-completed", "status-processing", "status-failed", "status-cancelled",
                "cost")
# For any theme without some or all of them (Textual's own, or a user's file): pe-dark's.
FALLBACK_VARIABLES = {"status-completed": "#5fd787", "status-processing": "#5fafff",
                      "status-failed": "#ff5f6d", "status-cancelled": "#8a94a3",
                      "cost": "#ffaf5f"}


def _valid_colour(value: str) -> str:
    from textual.color import Color, ColorParseError

    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ValueError(f"{value!r} is not a colour") from exc
    return value


class ThemeFile(BaseModel):
    """What a theme file may hold (Textual's Theme fields, checked before Textual sees them)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=40)
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    dark: bool = True
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("primary", "secondary", "accent", "foreground", "background", "surface",
                     "panel", "boost", "warning", "error", "success")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else _valid_colour(value)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for colour in value.values():
            _valid_colour(colour)
        return value

    @property
    def missing_variables(self) -> list[str]:
        """Our own variables this file does not set (`to_textual` gives them pe-dark's)."""
        return [name for name in PE_VARIABLES if name not in self.variables]

    def to_textual(self) -> Any:
        from textual.theme import Theme

        # A user's file may lack some of our variables; the app's TCSS uses them all, so
        # those take pe-dark's.
        variables = {**FALLBACK_VARIABLES, **self.variables}
        return Theme(**{**self.model_dump(), "variables": variables})


@dataclass
class LoadedThemes:
    themes: dict[str, ThemeFile]
    # One line per file that was skipped, or loaded with pe-dark's for some variables, saying
    # so; each starts with the file's path.
    problems: list[str]


def shipped_theme_files() -> list[Path]:
    folder = resources.files("promptexecution.console.themes")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


def load_themes(user_dir: Path | None = None) -> LoadedThemes:
    """Shipped themes first, then the user's (which may replace a shipped one by name)."""
    files = shipped_theme_files()
    if user_dir is not None and user_dir.is_dir():
        files += sorted(user_dir.glob("*.toml"))
    themes: dict[str, ThemeFile] = {}
    problems: list[str] = []
    for path in files:
        try:
            theme = ThemeFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: not readable TOML ({exc}); skipped")
            continue
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "file"
            problems.append(f"{path}: {where}: {first['msg']}; skipped")
            continue
        if theme.missing_variables:
            problems.append(f"{path}: [variables] lacks {', '.join(theme.missing_variables)}; "
                            f"using {DEFAULT_THEME}'s for those")
        themes[theme.name] = theme
    return LoadedThemes(themes, problems)


def pick(loaded: LoadedThemes, wanted: str) -> tuple[str, str | None]:
    """The theme to use, and a problem to report when `wanted` is not available."""
    if wanted in loaded.themes:
        return wanted, None
    return DEFAULT_THEME, f"theme {wanted!r} is not available; using {DEFAULT_THEME}"


def theme_colour(variables: dict[str, str], name: str, fallback: str) -> str:
    """A theme variable as a colour Rich can draw: some are not colours (`auto 87%`) or carry
    an alpha; those, and missing ones, give `fallback`. Cached: widgets ask per line drawn,
    and a refused parse costs Textual a spelling suggestion (~3 ms)."""
    return _colour(variables.get(name, fallback), fallback)


@functools.lru_cache(maxsize=512)
def _colour(value: str, fallback: str) -> str:
    from textual.color import Color, ColorParseError

    try:
        return Color.parse(value).hex
    except ColorParseError:
        return fallback
