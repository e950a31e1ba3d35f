"""The Batches screen's pieces without a screen: the book of batches (events, listings,
who is announced), the words and figures a batch reads as, the results' row source when the
server fails, the submit form's path completion and column mapping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promptexecution.client.types import BatchEvent
from promptexecution.console.screens.batches import look
from promptexecution.console.screens.batches.actions import retry_plan
from promptexecution.console.screens.batches.book import BatchBook
from promptexecution.console.screens.batches.panel import figures
from promptexecution.console.screens.batches.result_rows import ResultRows
from promptexecution.console.screens.batches.screen import matches
from promptexecution.console.screens.batches.submit import complete_path, mapping_of
from promptexecution.exceptions import APIConnectionError
from promptexecution.models import BatchProgress, BatchSummary

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def summary(batch_id: str = "batch_a", status: str = "processing", completed: int = 0,
            failed: int = 0, pending: int = 100, cost: float = 0.0) -> BatchSummary:
    total = completed + failed + pending
    return BatchSummary.model_validate({
        "batch_id": batch_id, "status": status, "total_items": total,
        "progress": {"completed": completed, "failed": failed, "pending": pending,
                     "total": total, "cancelled": 0},
        "summary": {"total_cost": cost, "total_tokens": 10 * completed},
        "template_id": "tpl_1", "created_at": "2026-01-15T11:00:00Z"})


def progress(batch_id: str = "batch_a", status: str = "processing", completed: int = 0,
             failed: int = 0, pending: int = 100, cost: float = 0.0, per_minute: float = 600,
             eta: datetime | None = None, groups: list[dict[str, Any]] | None = None,
             started: datetime = NOW - timedelta(minutes=1)) -> BatchProgress:
    total = completed + failed + pending
    return BatchProgress.model_validate({
        "batch_id": batch_id, "status": status,
        "progress": {"completed": completed, "failed": failed, "pending": pending,
                     "total": total, "cancelled": 0},
        "performance": {"throughput_per_minute": per_minute,
                        "estimated_completion": (eta or NOW + timedelta(seconds=90))
                        .isoformat().replace("+00:00", "Z")},
        "errors_by_code": groups or [], "summary": {"total_cost": cost},
        "started_at": started.isoformat().replace("+00:00", "Z")})


def test_a_batch_seen_running_is_announced_once_when_it_finishes() -> None:
    book = BatchBook(clock=lambda: 1.0)
    assert book.load([summary("batch_a"), summary("batch_old", status="completed",
                                                   completed=100, pending=0)]) == []
    book.apply(BatchEvent("progress", "batch_a", progress=progress(completed=100, pending=0,
                                                                    status="completed")))
    done = book.apply(BatchEvent("finished", "batch_a",
                                 batch=summary(status="completed", completed=100, pending=0)))
    assert done is not None and done.batch_id == "batch_a"
    again = book.apply(BatchEvent("finished", "batch_a",
                                  batch=summary(status="completed", completed=100, pending=0)))
    assert again is None  # told once
    # Never seen running (it was finished when first listed): nothing to tell.
    assert book.apply(BatchEvent("finished", "batch_old", batch=summary(
        "batch_old", status="completed", completed=100, pending=0))) is None
    # A listing after a reconnect tells of one that ended while the stream was away.
    book.load([summary("batch_b")])
    ended = book.load([summary("batch_b", status="completed", completed=100, pending=0)])
    assert [s.batch_id for s in ended] == ["batch_b"]


def test_a_newer_listing_or_answer_moves_the_figures_and_keeps_what_only_progress_has() -> None:
    book = BatchBook(clock=lambda: 1.0)
    book.load([summary()])
    groups = [{"error_code": "TIMEOUT", "count": 2, "retry_eligible": 2}]
    book.put_progress(progress(completed=10, failed=2, pending=88, cost=0.10, groups=groups))
    book.load([summary(completed=80, failed=2, pending=18, cost=0.80)])  # a poll, later
    state = book.states["batch_a"]
    assert (state.counts.completed, state.cost) == (80, 0.80)
    assert state.progress is not None and state.progress.errors_by_code[0].count == 2
    # A retry's answer: running again, and the status says so at once.
    book.put_summary(summary(status="completed", completed=98, failed=2, pending=0))
    book.put_summary(summary(status="queued", completed=98, pending=2))
    assert state.status == "queued" and not state.finished


def test_cancel_shows_cancelling_until_the_server_says_otherwise() -> None:
    book = BatchBook(clock=lambda: 1.0)
    book.load([summary()])
    book.ask_cancel("batch_a")
    state = book.states["batch_a"]
    assert state.status == "cancelling"
    assert "waiting for the server to confirm" in look.phase(state)
    book.put_summary(summary(status="cancelled", completed=5, pending=0))
    assert state.status == "cancelled" and not state.cancel_asked


def test_the_eta_waits_for_enough_data_and_a_stopping_batch_has_none() -> None:
    book = BatchBook(clock=lambda: 1.0)
    book.load([summary(pending=1000)])
    state = book.states["batch_a"]
    book.put_progress(progress(completed=5, pending=995))
    assert look.eta_seconds(state, NOW) is None  # 5 items: a guess
    book.put_progress(progress(completed=100, pending=900, started=NOW - timedelta(seconds=1)))
    assert look.eta_seconds(state, NOW) is None  # a second in: a guess
    book.put_progress(progress(completed=100, pending=900, cost=1.0))
    assert look.eta_seconds(state, NOW) == 90
    assert "ETA 1m 30s" in figures(state, NOW).plain
    assert look.projected_cost(state) == 1.0 + 0.01 * 900
    book.ask_cancel("batch_a")
    text = figures(state, NOW).plain
    assert "ETA" not in text and "in all" not in text and look.projected_cost(state) is None


def test_finishing_at_a_hundred_percent_does_not_read_as_a_hang() -> None:
    book = BatchBook(clock=lambda: 1.0)
    book.load([summary(completed=100, pending=0)])
    assert look.phase(book.states["batch_a"]).startswith("finishing: every item has run")


def test_a_retry_is_priced_at_what_completed_items_cost() -> None:
    book = BatchBook(clock=lambda: 1.0)
    book.load([summary(status="completed", completed=100, failed=900, pending=0, cost=1.0)])
    book.put_progress(progress(status="completed", completed=100, failed=900, pending=0,
                               cost=1.0, groups=[
                                   {"error_code": "TIMEOUT", "count": 600, "retry_eligible": 600},
                                   {"error_code": "CONTENT_POLICY", "count": 300,
                                    "retry_eligible": 0}]))
    eligible, which, cost = retry_plan(book.states["batch_a"])
    assert (eligible, which) == (600, "TIMEOUT 600")
    assert cost == 6.0  # 600 x $0.01, not 600 x $1/1000


def test_the_filter_matches_statuses_ids_and_the_template_name_shown() -> None:
    book = BatchBook(clock=lambda: 1.0)
    book.load([summary("batch_a1"), summary("batch_b2", status="failed", pending=0, failed=3)])
    book.names["tpl_1"] = "feedback_triage"
    a, b = book.states["batch_a1"], book.states["batch_b2"]
    assert matches(a, "feedback_triage", ["triage"]) and matches(a, None, ["tpl_1"])
    assert matches(a, None, ["running"]) and not matches(b, None, ["running"])
    assert matches(b, None, ["failed", "b2"]) and not matches(a, None, ["failed"])


async def test_a_page_that_fails_is_not_asked_again_in_a_loop() -> None:
    asked: list[int] = []
    errors: list[str] = []

    async def fetch(**params: Any) -> Any:
        asked.append(params["offset"])
        if params["offset"] >= 200:
            raise APIConnectionError("gone")
        return type("Page", (), {"results": [], "pagination": type(
            "P", (), {"total": 600})()})()

    rows: ResultRows

    def redraw() -> None:  # what the table does on a change: ask for the view again
        rows.wanted(400, 420)

    rows = ResultRows(fetch, dict, redraw, lambda exc: errors.append(str(exc)))
    rows.reset()
    await asyncio.sleep(0.2)
    assert len(asked) <= 3 and len(errors) <= 2, (len(asked), len(errors))


def test_paths_complete_to_folders_and_batch_files_and_columns_map_by_difference(
        tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.jsonl").write_text("{}\n")
    (tmp_path / "data" / "notes.txt").write_text("")
    assert complete_path(str(tmp_path / "da")) == str(tmp_path / "data") + "/"
    assert complete_path(str(tmp_path / "data" / "r")) == str(tmp_path / "data" / "rows.jsonl")
    assert complete_path(str(tmp_path / "data" / "n")) is None  # not a batch file
    assert complete_path(str(tmp_path / "nowhere" / "x")) is None
    assert mapping_of({"text": "comment", "tier": "tier", "extra": ""}) == {"comment": "text"}
