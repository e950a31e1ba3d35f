"""How a batch reads: its phase in words, the stacked bar, throughput, ETA, cost and age.
Pure functions of the figures (and the clock they are given), so they test without a screen."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from ....history_cells import cost as money
from ....history_cells import one_line, when
from ...theming import theme_colour
from ...widgets.virtual_table import Cell, Column
from ..history.detail import status_style

if TYPE_CHECKING:
    from ....models import BatchCounts
    from .book import BatchState

# An ETA before this much is done is a guess from a few items: it is not shown.
ETA_AFTER_ITEMS = 20
ETA_AFTER_SHARE = 0.02
ETA_AFTER_SECONDS = 3.0

BAR_CELLS = 20
COLUMNS = (
    Column("created", 12),
    Column("status", 10),
    Column("batch", 0, max_width=26),
    Column("progress", BAR_CELLS, hide_below=70),
    Column("done", 15, align="right"),
    Column("failed", 7, align="right", hide_below=90),
    Column("rate", 8, align="right", hide_below=100),
    Column("ETA", 8, align="right", hide_below=110),
    Column("cost", 9, align="right", hide_below=80),
)


def phase(state: BatchState) -> str:
    """What the batch is doing, in words (a finishing batch must not look hung at 100%)."""
    counts, status = state.counts, state.status
    if status == "queued":
        return "queued: waiting for a free worker"
    if status == "processing" and counts.pending == 0:
        return "finishing: every item has run, the results are being written"
    if status == "processing":
        return "processing"
    if status == "cancelling":
        return ("cancelling: no new items start; running ones finish and keep their results"
                if state.progress is not None or not state.cancel_asked
                else "cancelling: asked, waiting for the server to confirm")
    if status == "completed" and counts.failed:
        return f"finished: completed, {counts.failed:,} of {counts.total:,} items failed"
    if status == "completed":
        return "finished: completed"
    if status == "failed":
        return "finished: every item failed"
    if status == "cancelled":
        return "finished: cancelled"
    return status


def stacked_bar(counts: BatchCounts, width: int, variables: dict[str, str]) -> Text:
    """Completed, failed and cancelled stacked left to right over the pending track; any
    part that is not zero gets at least one cell, so a single failure shows."""
    total = max(counts.total, 1)
    parts = [(counts.completed, status_style("completed", variables)),
             (counts.failed, status_style("failed", variables)),
             (counts.cancelled, status_style("cancelled", variables))]
    cells = [round(width * n / total) if n else 0 for n, _ in parts]
    cells = [max(c, 1) if n else 0 for c, (n, _) in zip(cells, parts, strict=True)]
    while sum(cells) > width:  # the minimum cells pushed past the width: take from the largest
        cells[cells.index(max(cells))] -= 1
    text = Text()
    for size, (_, colour) in zip(cells, parts, strict=True):
        if size:
            text.append("█" * size, style=colour)
    rest = width - sum(cells)
    if rest > 0:
        text.append("░" * rest, style=theme_colour(variables, "panel", "grey37"))
    return text


def rate(per_minute: float) -> str:
    if per_minute <= 0:
        return "–"
    if per_minute >= 600:
        return f"{per_minute / 60:,.0f}/s"
    return f"{per_minute:,.0f}/min"


def duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _moment(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def eta_seconds(state: BatchState, now: datetime) -> float | None:
    """Seconds left, or None until enough has run for the figure to mean something."""
    stamp = _moment(state.eta)
    if stamp is None or state.progress is None:
        return None
    counts = state.counts
    done = counts.completed + counts.failed
    started = _moment(state.progress.started_at)
    if done < ETA_AFTER_ITEMS or done < counts.total * ETA_AFTER_SHARE:
        return None
    if started is None or (now - started).total_seconds() < ETA_AFTER_SECONDS:
        return None
    return max((stamp - now).total_seconds(), 0.0)


def cost_per_completed(state: BatchState) -> float | None:
    """What an item that completes costs, on this batch's average (a failure costs next to
    nothing, so it is not counted in)."""
    completed = state.counts.completed
    return state.cost / completed if completed and state.cost else None


def projected_cost(state: BatchState) -> float | None:
    """The cost when every pending item has run (None while nothing has completed, and for a
    batch that is finished or cancelling: nothing more will run)."""
    each = cost_per_completed(state)
    if each is None or state.status not in ("queued", "processing"):
        return None
    return state.cost + each * state.counts.pending


def age(seconds: float) -> str:
    if seconds < 1.5:
        return "updated just now"
    return f"updated {duration(seconds)} ago"


def row_cells(state: BatchState, template: str | None, variables: dict[str, str],
              now: datetime) -> list[Cell]:
    counts = state.counts
    summary = state.summary
    done = counts.completed + counts.failed + counts.cancelled
    eta = eta_seconds(state, now) if state.status == "processing" else None
    what = one_line(summary.batch_id)
    if template:
        what += f" · {one_line(template)}"
    failed = Text(f"{counts.failed:,}" if counts.failed else "·",
                  style=status_style("failed", variables) if counts.failed else "dim")
    return [
        when(summary.created_at or "", now) if summary.created_at else "",
        Text(state.status, style=status_style(state.status, variables)),
        what,
        stacked_bar(counts, BAR_CELLS, variables),
        f"{done:,}/{counts.total:,}",
        failed,
        rate(state.per_minute) if not state.finished else "",
        duration(eta) if eta is not None else "",
        money(state.cost),
    ]
