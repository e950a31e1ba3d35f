"""`BatchBook`: what the console knows of the account's batches, kept live by one event stream
for all of them (the app's `BatchWatch`), so any number of running batches costs one
connection and no polling. Screens read it and subscribe to its changes; the app tells the
user when a batch it saw running finishes.

Each batch keeps its latest summary (the list's and the `finished` event's shape), its
latest progress (counts, throughput, ETA, errors by code, cost so far) and when those
figures came, so the screen can say how fresh they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ....client.types import BatchEvent
    from ....models import BatchCounts, BatchProgress, BatchSummary

FINISHED = ("completed", "failed", "cancelled")
STATUSES = ("queued", "processing", "cancelling", "completed", "failed", "cancelled")


@dataclass
class BatchState:
    summary: BatchSummary
    updated: float  # the clock when these figures came
    progress: BatchProgress | None = None
    cancel_asked: bool = False  # the user asked; `cancelling` shows until the server says
    seen_running: bool = False  # this console saw it unfinished: its end is announced
    announced: bool = False

    @property
    def batch_id(self) -> str:
        return self.summary.batch_id

    @property
    def status(self) -> str:
        status = self.progress.status if self.progress is not None else self.summary.status
        if self.cancel_asked and status not in FINISHED:
            return "cancelling"
        return status

    @property
    def counts(self) -> BatchCounts:
        return self.progress.progress if self.progress is not None else self.summary.progress

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def cost(self) -> float:
        source = self.progress.summary if self.progress is not None and \
            self.progress.summary else self.summary.summary
        return float(source.get("total_cost") or 0.0)

    @property
    def per_minute(self) -> float:
        if self.progress is None:
            return 0.0
        return float(self.progress.performance.get("throughput_per_minute") or 0.0)

    @property
    def eta(self) -> str | None:
        if self.progress is None or self.finished:
            return None
        found = self.progress.performance.get("estimated_completion")
        return str(found) if found else None


@dataclass
class BatchBook:
    clock: Callable[[], float]
    states: dict[str, BatchState] = field(default_factory=dict)
    loaded: bool = False
    names: dict[str, str] = field(default_factory=dict)  # template id -> name, as learnt
    _listeners: list[Callable[[set[str]], None]] = field(default_factory=list)

    def subscribe(self, listener: Callable[[set[str]], None]) -> Callable[[], None]:
        """`listener(changed batch ids)` after every change; returns how to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self, ids: set[str]) -> None:
        for listener in list(self._listeners):
            listener(ids)

    def clear(self) -> None:
        """Another server or profile: nothing of the old one is shown."""
        self.states.clear()
        self.names.clear()
        self.loaded = False
        self._changed(set())

    def load(self, batches: list[BatchSummary]) -> list[BatchState]:
        """A listing: each batch's summary, keeping progress that is newer than it. Returns
        the batches this console saw running that have finished since (to announce)."""
        now = self.clock()
        for summary in batches:
            state = self.states.get(summary.batch_id)
            if state is None:
                state = self.states[summary.batch_id] = BatchState(summary, now)
            else:
                state.summary, state.updated = summary, now
                state.progress = _newer(state.progress, summary)
            self._saw(state)
        self.loaded = True
        self._changed({b.batch_id for b in batches})
        return [s for s in (self.states[b.batch_id] for b in batches) if self._ended(s)]

    @staticmethod
    def _saw(state: BatchState) -> None:
        if not state.finished:
            state.seen_running = True

    @staticmethod
    def _ended(state: BatchState) -> bool:
        """It finished, this console saw it running, and nobody was told yet."""
        if state.finished and state.seen_running and not state.announced:
            state.announced = True
            return True
        return False

    def put_progress(self, progress: BatchProgress) -> None:
        state = self.states.get(progress.batch_id)
        if state is None:
            return  # a batch not listed yet: the next listing brings its summary
        state.progress, state.updated = progress, self.clock()
        self._saw(state)
        self._changed({progress.batch_id})

    def put_summary(self, summary: BatchSummary) -> None:
        state = self.states.get(summary.batch_id)
        if state is None:
            state = self.states[summary.batch_id] = BatchState(summary, self.clock())
        else:
            state.summary, state.updated = summary, self.clock()
            state.progress = _newer(state.progress, summary)
        if summary.status in FINISHED:
            state.cancel_asked = False
        self._saw(state)
        self._changed({summary.batch_id})

    def apply(self, event: BatchEvent) -> BatchState | None:
        """One event of the stream. Returns the batch when this event finished one that this
        console saw running (a batch first heard of as finished returns None)."""
        if event.kind == "progress" and event.progress is not None:
            self.put_progress(event.progress)
            return None
        if event.kind == "finished" and event.batch is not None:
            self.put_summary(event.batch)
            state = self.states[event.batch_id]
            return state if self._ended(state) else None
        return None

    def ask_cancel(self, batch_id: str, asked: bool = True) -> None:
        state = self.states.get(batch_id)
        if state is not None:
            state.cancel_asked = asked
            self._changed({batch_id})

    def ordered(self, status: str | None = None) -> list[BatchState]:
        """Newest first; only `status` ("running" is queued, processing and cancelling)."""
        found = sorted(self.states.values(),
                       key=lambda s: (s.summary.created_at or "", s.batch_id), reverse=True)
        if status == "running":
            return [s for s in found if not s.finished]
        if status:
            return [s for s in found if s.status == status]
        return found

    def knows(self, batch_id: str) -> bool:
        return batch_id in self.states

    def template_name(self, state: BatchState) -> str | None:
        template_id = state.summary.template_id
        return self.names.get(template_id, template_id) if template_id else None


def _newer(progress: BatchProgress | None, summary: BatchSummary) -> BatchProgress | None:
    """The last progress, with a newer summary's status, counts and cost (a listing after a
    reconnect, a poll, a cancel's or a retry's answer); what only progress has (throughput,
    ETA, errors by code) stays until the next event brings it."""
    if progress is None:
        return None
    spent = {**progress.summary, **{k: v for k, v in summary.summary.items()
                                     if k in ("total_cost", "total_tokens")}}
    return progress.model_copy(update={"status": summary.status,
                                       "progress": summary.progress, "summary": spent})
