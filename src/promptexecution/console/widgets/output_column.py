"""`OutputColumn`: one set of model settings and what the model answered under them.

The Playground has one; compare mode has up to three, side by side, each running and streaming
on its own worker. A column keeps partial output when its stream is cancelled or cut off, and
shows an API error in place (code, message, request id) without touching any input.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast, get_args

from pydantic import BaseModel
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static, Switch, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from ...client import ExecutionCompleted, ExecutionFailed, TextDelta
from ...client._core import retry_after_seconds
from ...client.types import ExecutionResult
from ...exceptions import APIError, RateLimitError, StreamInterruptedError
from ...models import ModelSettings, ResponseFormat, SimulatedFailure, SimulateOptions
from ..errors import NotSent, describe_error, error_code
from .stream_view import OutputFormat, StreamView

if TYPE_CHECKING:
    from ..app import PeApp

RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
FAILURES: tuple[str, ...] = get_args(SimulatedFailure)
NUMERIC_SETTINGS = {"temperature": float, "top_p": float, "max_tokens": int}
# The simulator's knobs (model_config.simulate), shown only when the model is the simulator:
# authors use them to watch a slow stream or walk an error path.
SIMULATOR_SETTINGS = {"latency_ms": int, "tokens_per_second": float}
SIMULATOR = "simulator"


def _bounds(name: str, model: type[BaseModel] = ModelSettings) -> tuple[float, float, bool]:
    """The request model's own limits for a setting, so the console never disagrees: low,
    high, and whether low itself is refused (pydantic's Gt rather than Ge)."""
    low, high, above = 0.0, math.inf, False
    for limit in model.model_fields[name].metadata:
        if getattr(limit, "ge", None) is not None:
            low = float(limit.ge)
        if getattr(limit, "gt", None) is not None:
            low, above = float(limit.gt), True
        if getattr(limit, "le", None) is not None:
            high = float(limit.le)
    return low, high, above


@dataclass(frozen=True)
class RunRequest:
    """What the Playground sends; a column adds its model settings."""

    template_id: str | None = None
    template_version: str | None = None  # pinned (the Templates screen's Run this version)
    prompt: str | None = None
    variables: dict[str, Any] | None = None
    extra_model_config: dict[str, Any] = field(default_factory=dict)  # e.g. simulator knobs
    default_format: str = "text"  # the template's own response_format, used when unset here


def _number(value: float) -> str:
    return f"{int(value):,}" if value.is_integer() else f"{value:g}"


def parse_settings(raw: dict[str, str], fields: dict[str, type] = NUMERIC_SETTINGS,
                   model: type[BaseModel] = ModelSettings) -> tuple[dict[str, Any], list[str]]:
    """The column's model_config from its inputs; problems name the field and the fix."""
    config: dict[str, Any] = {}
    problems: list[str] = []
    for name, kind in fields.items():
        low, high, above = _bounds(name, model)
        text = raw.get(name, "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            problems.append(f"{name} must be {'a whole number' if kind is int else 'a number'}")
            continue
        if not (low < value if above else low <= value) or value > high:
            problems.append(f"{name} must be more than {_number(low)}" if high == math.inf
                            else f"{name} must be between {_number(low)} and {_number(high)}")
            continue
        config[name] = value
    return config, problems


def metadata_line(execution: ExecutionResult) -> str:
    """Five short lines, so that they fit a compare column: id; model and cost; tokens;
    timings; tokens per second (empty when too fast to measure)."""
    meta = execution.metadata
    if meta is None:
        return execution.execution_id
    tokens = f"{meta.tokens_used:,} tokens · {meta.input_tokens:,} in · {meta.output_tokens:,} out"
    timing = []
    generating = meta.execution_time
    if meta.time_to_first_token is not None:
        timing.append(f"TTFT {meta.time_to_first_token:.2f}s")
        generating -= meta.time_to_first_token
    timing.append(f"total {meta.execution_time:.2f}s")
    speed = (f"{meta.output_tokens / generating:,.0f} tokens/s"
             if generating >= 0.01 and meta.output_tokens else "")
    return "\n".join([execution.execution_id, f"{meta.model or '?'} · ${meta.cost:.6f}", tokens,
                      " · ".join(timing), speed])


def _wait_seconds(error: RateLimitError) -> float:
    """How long a 429 says to wait: the burst window's own reset for burst limits (the
    server's X-RateLimit-Burst-Reset-After), else Retry-After."""
    if error.limit_type == "burst":
        reset = retry_after_seconds(error.headers.get("x-ratelimit-burst-reset-after"))
        if reset is not None:
            return reset
    return error.retry_after


def _duration(seconds: int) -> str:
    """37 s, 4 min 05 s, 1 h 02 min: an hourly limit's wait reads as a time, not 3,412 s
    (a burst window's minute stays in seconds)."""
    if seconds <= 90:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _stored_as(error: APIError) -> str:
    """A failed execution is stored too: its id, so it can be found in history."""
    execution_id = (error.details or {}).get("execution_id")
    return f" · {execution_id}" if isinstance(execution_id, str) else ""


class OutputColumn(Vertical):
    """Settings on top, output tabs in the middle, the metadata line at the bottom."""

    def __init__(self, index: int, models: list[str], default_model: str | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=f"column-{index}", classes="output-column")
        self.index = index
        self._models = models
        self._default_model = default_model
        self._clock = clock
        self.last_execution: ExecutionResult | None = None
        self.error: BaseException | None = None
        self._worker: Worker[None] | None = None
        self._streaming_run = False
        self._countdown: Timer | None = None
        self.ran_on: str | None = None  # the profile the last run was sent on
        self._execution_id: str | None = None  # the stream's, known before its end

    def compose(self) -> ComposeResult:
        with Vertical(classes="settings"):
            with Horizontal(classes="settings-row"):
                yield Label("model", classes="setting-label")
                yield Select(self._model_options(), value=self._default_model or Select.NULL,
                             allow_blank=self._default_model is None, compact=True,
                             prompt="server default", id="model", classes="model")
            with Horizontal(classes="settings-row"):
                yield Label("temp", classes="setting-label")
                yield Input(placeholder="0-2", compact=True, id="temperature", classes="num")
                yield Label("top_p", classes="setting-label")
                yield Input(placeholder="0-1", compact=True, id="top_p", classes="num")
            with Horizontal(classes="settings-row"):
                yield Label("max tokens", classes="setting-label")
                yield Input(placeholder="auto", compact=True, id="max_tokens",
                            classes="num")
                yield Label("stream", classes="setting-label")
                yield Switch(value=True, id="stream", classes="stream")
            with Horizontal(classes="settings-row"):
                yield Label("format", classes="setting-label")
                yield Select([(f, f) for f in RESPONSE_FORMATS], compact=True,
                             prompt="template's", id="response_format", classes="format")
                yield Label("fail", classes="setting-label simulator-only")
                yield Select([(f, f) for f in FAILURES], compact=True, prompt="no",
                             id="fail", classes="format simulator-only")
            with Horizontal(classes="settings-row simulator-only"):
                yield Label("sim delay", classes="setting-label")
                yield Input(placeholder="ms", compact=True, id="latency_ms", classes="num")
                yield Label("tok/s", classes="setting-label")
                yield Input(placeholder="max", compact=True, id="tokens_per_second",
                            classes="num")
        yield Static("", classes="settings-problem")
        with TabbedContent(initial=f"output-{self.index}"):
            with TabPane("Output", id=f"output-{self.index}"):
                yield Static("", classes="error")
                yield StreamView(id=f"view-{self.index}")
            with TabPane("Rendered prompt", id=f"rendered-{self.index}"):
                yield StreamView(output_format="text", id=f"rendered-view-{self.index}")
        yield Static("", classes="metadata")

    def on_resize(self) -> None:
        """Below 30 rows the metadata keeps its first three lines (id, model and cost,
        tokens), so the output keeps its rows; the timings come back on a taller screen."""
        self.query_one(".metadata").styles.height = 6 if self.app.size.height >= 30 else 4

    def on_mount(self) -> None:
        self._set_meta(self.ready_line())
        self._show_simulator_row()

    @on(Select.Changed, "#model")
    def _show_simulator_row(self) -> None:
        simulator = self.query_one("#model", Select).value == SIMULATOR
        for widget in self.query(".simulator-only"):
            widget.display = simulator

    def ready_line(self) -> str:
        app = cast("PeApp", self.app)
        return f"ready · {app.hint_key('playground.run')} runs"

    def _model_options(self) -> list[tuple[str, str]]:
        return [(m, m) for m in self._models]

    def set_models(self, models: list[str], default_model: str | None) -> None:
        self._models, self._default_model = models, default_model
        select = self.query_one("#model", Select)
        current = select.value
        select.set_options(self._model_options())
        if current in models:
            select.value = current
        elif default_model in models:
            select.value = default_model
        self._show_simulator_row()

    # ------------------------------------------------------------------ state

    @property
    def view(self) -> StreamView:
        return self.query_one(f"#view-{self.index}", StreamView)

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.state in (WorkerState.PENDING,
                                                                    WorkerState.RUNNING)

    def toggle_output(self) -> None:
        tabs = self.query_one(TabbedContent)
        output = f"output-{self.index}"
        tabs.active = f"rendered-{self.index}" if tabs.active == output else output

    def model_config(self) -> tuple[dict[str, Any], list[str]]:
        raw = {name: self.query_one(f"#{name}", Input).value for name in NUMERIC_SETTINGS}
        config, problems = parse_settings(raw)
        model = self.query_one("#model", Select).value
        if isinstance(model, str):
            config["model"] = model
        if model == SIMULATOR:
            raw = {name: self.query_one(f"#{name}", Input).value for name in SIMULATOR_SETTINGS}
            simulate, more = parse_settings(raw, SIMULATOR_SETTINGS, SimulateOptions)
            problems += more
            fail = self.query_one("#fail", Select).value
            if isinstance(fail, str):
                simulate["fail"] = fail
            if simulate:
                config["simulate"] = simulate
        problem_line = self.query_one(".settings-problem", Static)
        problem_line.update("\n".join(f"✗ {p}" for p in problems))
        problem_line.set_class(bool(problems), "-shown")
        return config, problems

    @property
    def response_format(self) -> str | None:
        """The chosen format, or None: send none, the template's default applies."""
        value = self.query_one("#response_format", Select).value
        return value if isinstance(value, str) else None

    def show_defaults(self, defaults: dict[str, Any] | None) -> None:
        """A template's default_config shows as the placeholders of what it would set."""
        if not self.is_attached:
            return
        defaults = defaults or {}
        for name, fallback in (("temperature", "0-2"), ("top_p", "0-1"),
                               ("max_tokens", "auto")):
            value = defaults.get(name)
            self.query_one(f"#{name}", Input).placeholder = (
                f"{value} (template)" if value is not None else fallback)
        fmt = defaults.get("response_format")
        self.query_one("#response_format", Select).prompt = f"{fmt or 'text'} (default)"

    def apply_settings(self, model: str | None, settings: dict[str, Any],
                       response_format: str | None) -> None:
        """The settings a stored execution ran with (History's "run again"): the model,
        the numbers, the format and the simulator's knobs; what it did not set is cleared."""
        select = self.query_one("#model", Select)
        if model is not None and model in self._models:
            select.value = model
        for name in NUMERIC_SETTINGS:
            value = settings.get(name)
            self.query_one(f"#{name}", Input).value = "" if value is None else str(value)
        fmt = self.query_one("#response_format", Select)
        fmt.value = response_format if response_format in RESPONSE_FORMATS else Select.NULL
        simulate = settings.get("simulate") or {}
        for name in SIMULATOR_SETTINGS:
            value = simulate.get(name)
            self.query_one(f"#{name}", Input).value = "" if value is None else str(value)
        fail = simulate.get("fail")
        self.query_one("#fail", Select).value = fail if fail in FAILURES else Select.NULL
        self._show_simulator_row()

    @property
    def streaming(self) -> bool:
        return self.query_one("#stream", Switch).value

    def _set_meta(self, text: str, kind: str = "") -> None:
        meta = self.query_one(".metadata", Static)
        meta.update(escape(text))  # keys, profile names, ids: never markup
        for name in ("-done", "-failed", "-running", "-cancelled"):
            meta.set_class(name == kind, name)

    def _show_error(self, error: BaseException | None, extra: str = "") -> None:
        self.error = error
        if self._countdown is not None:
            self._countdown.stop()
            self._countdown = None
        box = self.query_one(".error", Static)
        text = describe_error(error) if error else ""
        box.update(escape(text + extra))
        box.set_class(error is not None, "-shown")
        if isinstance(error, RateLimitError):
            self._count_down(error)

    def _count_down(self, error: RateLimitError) -> None:
        """A 429 says how long to wait: the column counts it down, then says go."""
        ends = self._clock() + _wait_seconds(error)
        box = self.query_one(".error", Static)
        first = describe_error(error)

        def tick() -> None:
            left = ends - self._clock()
            if left <= 0:
                box.update(escape(f"{first}\nThe limit has reset: "
                                  f"{cast('PeApp', self.app).hint_key('playground.run')} runs "
                                  "again."))
                if self._countdown is not None:
                    self._countdown.stop()
                    self._countdown = None
                return
            box.update(escape(f"{first}\nRetry in {_duration(math.ceil(left))}"))

        tick()
        self._countdown = self.set_interval(1.0, tick)

    # ------------------------------------------------------------------ running

    def start(self, request: RunRequest, config: dict[str, Any]) -> None:
        fmt = self.response_format
        shown = fmt or request.default_format
        view_format: OutputFormat = "json" if shown in ("json", "structured") else "markdown"
        self.view.clear(view_format)
        self.query_one(f"#rendered-view-{self.index}", StreamView).clear()
        self._show_error(None)
        self.last_execution = None
        self._set_meta("starting…", "-running")
        self._worker = self._run(request, {**request.extra_model_config, **config}, fmt,
                                 self.streaming)

    def cancel(self) -> str | None:
        """Stops a run: "stream" (the server records it cancelled), "wait" (a non-streamed
        call: the server may still finish it), or None when nothing runs."""
        if not self.running or self._worker is None:
            return None
        self._worker.cancel()
        return "stream" if self._streaming_run else "wait"

    @work(exclusive=True, group="run", exit_on_error=False, name="running")
    async def _run(self, request: RunRequest, config: dict[str, Any], fmt: str | None,
                   stream: bool) -> None:
        app = cast("PeApp", self.app)
        client = app.client_or_none()
        self._streaming_run = stream
        self._execution_id = None
        self.ran_on = app.profile_name
        if client is None:
            self._show_error(NotSent(app.not_connected()))
            self._set_meta("not sent", "-failed")
            return
        args: dict[str, Any] = {"template_id": request.template_id, "prompt": request.prompt,
                                "variables": request.variables, "model_config": config or None,
                                "response_format": fmt}
        if request.template_version is not None:
            args["template_version"] = request.template_version
        started = self._clock()
        try:
            if stream:
                session = app.sessions[app.profile_name]
                with session.streaming():
                    async with client.stream(**args) as events:
                        self._execution_id = events.execution_id
                        self._set_meta("streaming…", "-running")
                        async for event in events:
                            session.heard()  # so the heartbeat need not ask mid-stream
                            if isinstance(event, TextDelta):
                                self.view.append(event.text)
                            elif isinstance(event, ExecutionCompleted):
                                self._finish(event.execution)
                            elif isinstance(event, ExecutionFailed):
                                raise event.error
            else:
                self._set_meta("waiting for the model…", "-running")
                self._finish(await client.execute(**args))
        except StreamInterruptedError as exc:
            self.view.finish()
            self._show_error(exc)
            self._set_meta(self._on_profile(f"cut off · {len(self.view.text):,} characters "
                                            f"kept{self._stored()}"), "-failed")
        except APIError as exc:
            self.view.finish()
            self._show_error(exc)
            stored = _stored_as(exc) or (f" · {self._execution_id}" if self._execution_id
                                         else "")
            self._set_meta(self._on_profile(f"failed · {error_code(exc)}{stored}"), "-failed")
        except asyncio.CancelledError:  # Esc, a removed column, or the app closing
            if self.is_attached:
                self.view.finish()
                kept = len(self.view.text)
                self._set_meta(self._on_profile(
                    f"cancelled after {self._clock() - started:.1f}s · {kept:,} characters "
                    f"kept{self._stored()}"), "-cancelled")
            raise
        except Exception as exc:  # anything else is shown in place too, never swallowed
            if self.is_attached:
                self.view.finish()
                self._show_error(exc)
                self._set_meta("failed", "-failed")

    def _finish(self, execution: ExecutionResult) -> None:
        self.last_execution = execution
        content = execution.content or ""
        fmt: OutputFormat = ("json" if execution.metadata is not None
                             and execution.metadata.response_format != "text" else "markdown")
        if content != self.view.text or fmt != self.view.output_format:
            self.view.set_text(content, fmt)
        else:
            self.view.finish()
        rendered = self.query_one(f"#rendered-view-{self.index}", StreamView)
        rendered.set_text(execution.rendered_prompt or "(not returned by the server)")
        self._set_meta(self._on_profile(metadata_line(execution)), "-done")

    def _stored(self) -> str:
        """A stopped or cut-off stream is stored too: its id, so it can be found."""
        return f"\n{self._execution_id} (stored)" if self._execution_id else ""

    def _on_profile(self, line: str) -> str:
        """A run that ends after a profile switch says whose it was (its cost is that
        profile's, in the header when that profile is shown)."""
        app = cast("PeApp", self.app)
        if self.ran_on is not None and self.ran_on != app.profile_name:
            return f"{line}\n(ran on profile {self.ran_on})"
        return line
