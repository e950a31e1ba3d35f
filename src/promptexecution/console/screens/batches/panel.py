"""`BatchPanel`: one batch at a glance. The phase in words and how fresh the figures are, the
counts over a stacked bar, throughput over the batch's life (a sparkline), the ETA once it
means something, cost so far and projected, and the failures grouped by code."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from ....history_cells import cost as money
from ....history_cells import one_line
from ..history.detail import status_style
from . import look

if TYPE_CHECKING:
    from ....models import BatchThroughput
    from .book import BatchState


def rates(throughput: BatchThroughput | None) -> list[float]:
    """Items a second in each slice of the batch's life."""
    if throughput is None or not throughput.bucket_seconds:
        return []
    return [n / throughput.bucket_seconds for n in throughput.finished]


def head(state: BatchState, template: str | None, age_seconds: float,
         variables: dict[str, str]) -> Text:
    summary = state.summary
    text = Text()
    text.append(one_line(state.batch_id), style="bold")
    if template:
        text.append(f" · {one_line(template)}", style="dim")
    text.append("\n")
    text.append(look.phase(state), style=f"bold {status_style(state.status, variables)}")
    if not state.finished:
        text.append(f" · {look.age(age_seconds)}", style="dim")
    elif summary.finished_at:
        text.append(f" · {summary.finished_at.replace('T', ' ')[:19]} UTC", style="dim")
    return text


def counts_line(state: BatchState, variables: dict[str, str]) -> Text:
    counts = state.counts
    text = Text()
    for n, word in ((counts.completed, "completed"), (counts.failed, "failed"),
                    (counts.cancelled, "cancelled")):
        if n or word == "completed":
            text.append(f"{n:,} ", style=f"bold {status_style(word, variables)}")
            text.append(f"{word} · ", style="dim")
    text.append(f"{counts.pending:,} ", style="bold")
    text.append("pending · of ", style="dim")
    text.append(f"{counts.total:,}", style="bold")
    return text


def figures(state: BatchState, now: datetime) -> Text:
    text = Text()
    if state.status == "processing":  # queued: nothing runs yet; cancelling: nothing new
        text.append("throughput ", style="dim")
        text.append(look.rate(state.per_minute))
        eta = look.eta_seconds(state, now)
        text.append("  ETA ", style="dim")
        text.append(look.duration(eta) if eta is not None else "once more has run",
                    style="" if eta is not None else "dim italic")
        text.append("\n")
    text.append("cost ", style="dim")
    text.append(money(state.cost))
    text.append(" so far" if not state.finished else " in all", style="dim")
    projected = look.projected_cost(state)
    if projected is not None:
        text.append(" · about ", style="dim")
        text.append(money(projected))
        text.append(" in all", style="dim")
    return text


def error_lines(state: BatchState, variables: dict[str, str], limit: int = 6) -> Text:
    groups = state.progress.errors_by_code if state.progress is not None else []
    text = Text()
    if not groups:
        if state.counts.failed:
            text.append(f"{state.counts.failed:,} failed (reading their codes…)", style="dim")
        return text
    colour = status_style("failed", variables)
    for group in groups[:limit]:
        text.append(f"{one_line(group.error_code)} ", style=f"bold {colour}")
        text.append(f"{group.count:,}")
        text.append(f" ({group.retry_eligible:,} retry-eligible)\n", style="dim")
    if len(groups) > limit:
        text.append(f"… {len(groups) - limit} more codes\n", style="dim")
    text.rstrip()
    return text


class BatchPanel(Vertical):
    """Shows `state` when told to (`show`): the screen decides when, so a burst of events
    costs one redraw per tick. `errors=False` leaves the error groups to the screen."""

    def __init__(self, *, errors: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.errors = errors

    def compose(self) -> ComposeResult:
        yield Static("", classes="batch-head")
        yield Static("", classes="batch-bar")
        yield Static("", classes="batch-counts")
        yield Static("", classes="batch-spark-title")
        yield Sparkline([], classes="batch-spark")
        yield Static("", classes="batch-figures")
        yield Static("", classes="batch-errors")

    def show(self, state: BatchState | None, template: str | None,
             throughput: BatchThroughput | None, age_seconds: float, now: datetime) -> None:
        variables = self.app.theme_variables
        parts = {name: self.query_one(f".batch-{name}", Static)
                 for name in ("head", "bar", "counts", "spark-title", "figures", "errors")}
        spark = self.query_one(Sparkline)
        if state is None:
            for part in parts.values():
                part.update("")
            parts["head"].update(Text("No batch highlighted.", style="dim"))
            spark.data = []
            spark.display = False
            return
        parts["head"].update(head(state, template, age_seconds, variables))
        width = max(self.content_region.width, 10)
        parts["bar"].update(look.stacked_bar(state.counts, width, variables))
        parts["counts"].update(counts_line(state, variables))
        data = rates(throughput)
        spark.data = data
        spark.display = bool(data)
        title = Text("throughput over its life", style="dim")
        if data:
            title.append(f" · peak {look.rate(max(data) * 60)}", style="dim")
        elif state.status != "queued":
            title.append(" · reading…", style="dim")
        parts["spark-title"].update(title)
        parts["figures"].update(figures(state, now))
        errors = error_lines(state, variables)
        parts["errors"].update(errors)
        parts["errors"].display = self.errors and bool(errors.plain)
