"""The Labels tab: each label, the version it points at and where it pointed before. A label
is moved to any version, moved back in one key (to where it pointed before), added or
removed; execute and batch run `template_label` to mean whatever version it points at."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

if TYPE_CHECKING:
    from ....models import TemplateLabels


class LabelsTable(DataTable[Text]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "screen.label_back", "Move back", id="templates.label_back"),
        Binding("enter", "screen.label_move", "Move to…", id="templates.label_move"),
        Binding("n", "screen.label_new", "New label", id="templates.label_new"),
        Binding("x", "screen.label_remove", "Remove", id="templates.label_remove"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.labels: TemplateLabels | None = None

    def on_mount(self) -> None:
        self.add_columns("label", "version", "before", "moved")

    def show(self, labels: TemplateLabels | None) -> None:
        keep = self.current
        self.labels = labels
        self.clear()
        for row in labels.labels if labels else []:
            self.add_row(*(Text(cell) for cell in (
                row.label, row.version, row.previous_version or "–",
                row.updated_at[:16].replace("T", " "))), key=row.label)
        if keep is not None and labels is not None:
            names = [row.label for row in labels.labels]
            if keep in names:
                self.move_cursor(row=names.index(keep), animate=False)

    @property
    def current(self) -> str | None:
        if self.labels is None or not self.labels.labels:
            return None
        rows = self.labels.labels
        return rows[self.cursor_row].label if self.cursor_row < len(rows) else None
