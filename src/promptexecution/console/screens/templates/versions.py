"""The Versions tab: every version with its date, note and labels; the highlighted version
diffed against the one before it (or against a marked one), unified or side by side, with
its variables and settings diffed too. From here a version is viewed, restored, labelled or
run in the Playground."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

if TYPE_CHECKING:
    from ....models import TemplateVersions

SPLIT_MIN_WIDTH = 120  # side by side needs room for two lines of prose


class VersionsTable(DataTable[Text]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.view_version", "View", id="templates.view_version"),
        Binding("m", "screen.mark_version", "Diff base", id="templates.mark_version"),
        Binding("u", "screen.toggle_split", "Unified ⇄ split", id="templates.split"),
        Binding("R", "screen.restore_version", "Restore", id="templates.restore"),
        Binding("L", "screen.label_version", "Label it", id="templates.label_version"),
        Binding("p", "screen.run_version", "Run in Playground", id="templates.run_version"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.versions: TemplateVersions | None = None
        self.marked: str | None = None

    def on_mount(self) -> None:
        self.add_columns("version", "date", "labels", "note")

    def show(self, versions: TemplateVersions | None) -> None:
        """Newest first; the cursor stays on the version it was on."""
        keep = self.current
        self.versions = versions
        if versions is None or self.marked not in {v.version for v in versions.versions}:
            self.marked = None
        self.clear()
        for summary in reversed(versions.versions if versions else []):
            mark = "◆ " if summary.version == self.marked else ""
            # Text, not str: a DataTable reads strings as markup, and a note is anyone's text
            self.add_row(*(Text(cell) for cell in (
                f"{mark}{summary.version}", summary.created_at[:16].replace("T", " "),
                ", ".join(summary.labels), summary.change_note or "")), key=summary.version)
        if keep is not None and versions is not None:
            for row, summary in enumerate(reversed(versions.versions)):
                if summary.version == keep:
                    self.move_cursor(row=row, animate=False)

    @property
    def current(self) -> str | None:
        if self.versions is None or not self.row_count:
            return None
        ordered = list(reversed(self.versions.versions))
        return ordered[self.cursor_row].version if self.cursor_row < len(ordered) else None

    def base_for(self, version: str) -> str | None:
        """What `version` is compared with: the marked one, else the one before it."""
        if self.versions is None:
            return None
        if self.marked is not None and self.marked != version:
            return self.marked
        names = [v.version for v in self.versions.versions]
        at = names.index(version) if version in names else -1
        return names[at - 1] if at > 0 else None

    def toggle_mark(self) -> None:
        current = self.current
        self.marked = None if current == self.marked else current
        self.show(self.versions)
