"""Wire models of the Prompt Execution API v2.1, shared by the SDK and the server.

Requests are strict (the server rejects wrong types and unknown fields with a clear 400);
responses are lenient and keep unknown fields, so an SDK talking to a newer server never breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ResponseFormat = Literal["text", "json", "structured"]
ExecutionStatus = Literal["processing", "completed", "failed", "cancelled"]
VariableType = Literal["string", "number", "integer", "boolean", "array", "object"]
Plan = Literal["basic", "professional", "enterprise"]
Permission = Literal["execute", "batch", "templates"]
SimulatedFailure = Literal["content_policy", "server_error", "timeout"]

VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

_VARIABLE_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def is_variable_type(value: Any, kind: str) -> bool:
    """Whether a JSON value is of a template variable's type (a boolean is no number). The
    server's check before rendering, the editor's and a batch file's, in one place."""
    check = _VARIABLE_TYPE_CHECKS.get(kind)
    return check is None or check(value)
TEMPLATE_NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
# Labels (`production`, `staging`) name one version each; `latest` always means the current one.
LABEL_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,49}$"
LATEST_LABEL = "latest"


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", protected_namespaces=())


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


# --------------------------------------------------------------------------- requests


class SimulateOptions(_Request):
    """Knobs of the built-in `simulator` model, so every path can be exercised offline."""

    latency_ms: int = Field(0, ge=0, le=600_000)
    tokens_per_second: float | None = Field(None, gt=0)
    fail: SimulatedFailure | None = None
    # Only prompts containing this text fail (with `fail`), so one batch can mix successes
    # and failures deterministically.
    fail_when: str | None = Field(None, min_length=1, max_length=200)
    # Only prompts containing this text wait `latency_ms` (the others answer at once): a
    # batch that stays part-way through, for screenshots and cancellation.
    latency_when: str | None = Field(None, min_length=1, max_length=200)
    output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    # Streams this many tokens, then holds the stream open until the client leaves: a
    # reproducible "mid-stream" for screenshots and cancellation tests.
    hold_after_tokens: int | None = Field(None, ge=0, le=1_000_000)


class ModelSettings(_Request):
    """The request's `model_config` object."""

    model: str | None = Field(None, min_length=1, max_length=200)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    top_p: float | None = Field(None, ge=0, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    stop: list[str] | None = Field(None, max_length=4)
    seed: int | None = None
    response_format: ResponseFormat | None = None
    simulate: SimulateOptions | None = None


class ExecuteRequest(_Request):
    template_id: str | None = Field(None, min_length=1, max_length=200)
    template_version: str | None = Field(None, min_length=1, max_length=20)
    template_label: str | None = Field(None, min_length=1, max_length=50)
    prompt: str | None = Field(None, min_length=1)
    variables: dict[str, Any] | None = None
    model_settings: ModelSettings | None = Field(None, alias="model_config")
    response_format: ResponseFormat | None = None
    stream: bool = False


class TemplateVariable(_Request):
    name: str = Field(pattern=VARIABLE_NAME_PATTERN, max_length=100)
    type: VariableType = "string"
    required: bool = False
    description: str | None = Field(None, max_length=2000)
    default: Any = None


class TemplateCreate(_Request):
    name: str = Field(min_length=1, max_length=200, pattern=TEMPLATE_NAME_PATTERN)
    description: str | None = Field(None, max_length=5000)
    prompt: str = Field(min_length=1, max_length=200_000)
    variables: list[TemplateVariable] = Field(default_factory=list, max_length=200)
    default_config: ModelSettings | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    output_schema: dict[str, Any] | None = None
    change_note: str | None = Field(None, max_length=1000)


class TemplateUpdate(_Request):
    """PUT body: every field optional; what is absent is carried over from the current version."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=TEMPLATE_NAME_PATTERN)
    description: str | None = Field(None, max_length=5000)
    prompt: str | None = Field(None, min_length=1, max_length=200_000)
    variables: list[TemplateVariable] | None = Field(None, max_length=200)
    default_config: ModelSettings | None = None
    tags: list[str] | None = Field(None, max_length=50)
    output_schema: dict[str, Any] | None = None
    change_note: str | None = Field(None, max_length=1000, description="Kept with the new version")
    base_version: str | None = Field(
        None, min_length=1, max_length=20,
        description="The version this edit began from: when the template has moved on since, "
                    "the PUT is refused with 409 VERSION_CONFLICT instead of overwriting it")


class LabelSet(_Request):
    """PUT /v2/templates/{id}/labels/{label}: the version the label points at from now."""

    version: str = Field(min_length=1, max_length=20)


class TemplatePreviewRequest(_Request):
    """A stored template (`template_id`, optionally pinned) or an unsaved body (`prompt` with
    its `template_variables`), rendered with `variables` as execute would, without a model."""

    template_id: str | None = Field(None, min_length=1, max_length=200)
    template_version: str | None = Field(None, min_length=1, max_length=20)
    template_label: str | None = Field(None, min_length=1, max_length=50)
    prompt: str | None = Field(None, min_length=1, max_length=200_000)
    template_variables: list[TemplateVariable] | None = Field(None, max_length=200)
    variables: dict[str, Any] | None = None


MAX_BATCH_ITEMS = 50_000
MAX_BATCH_BODY_BYTES = 32 * 1024 * 1024  # a batch request's body, at most (413 beyond)
BatchPriority = Literal["low", "normal", "high"]
BatchStatus = Literal["queued", "processing", "completed", "failed", "cancelling", "cancelled"]


class BatchInput(_Request):
    id: str | None = Field(None, min_length=1, max_length=200)
    variables: dict[str, Any] = Field(default_factory=dict)


class BatchOptions(_Request):
    """`processing_options` (the spec also spells it `options`, and puts `callback_url` at
    the top level in one example: all three are accepted)."""

    priority: BatchPriority = "normal"
    callback_url: str | None = Field(None, max_length=2000)
    progress_updates: bool = False
    max_concurrent: int | None = Field(None, ge=1, le=500)
    retry_failed: bool = False


class BatchRequest(_Request):
    template_id: str | None = Field(None, min_length=1, max_length=200)
    template_version: str | None = Field(None, min_length=1, max_length=20)
    template_label: str | None = Field(None, min_length=1, max_length=50)
    prompt: str | None = Field(None, min_length=1)
    inputs: list[BatchInput] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)
    model_settings: ModelSettings | None = Field(None, alias="model_config")
    response_format: ResponseFormat | None = None
    processing_options: BatchOptions | None = None
    options: BatchOptions | None = None
    callback_url: str | None = Field(None, max_length=2000)


# --------------------------------------------------------------------------- responses


class ErrorBody(_Response):
    type: str
    code: str
    message: str
    details: dict[str, Any] | None = None
    request_id: str | None = None
    timestamp: str | None = None


class ErrorResponse(_Response):
    error: ErrorBody


class ExecutionMetadata(_Response):
    tokens_used: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    execution_time: float = 0.0
    time_to_first_token: float | None = None
    model: str = ""
    provider: str | None = None
    cost: float = 0.0
    finish_reason: str | None = None
    response_format: ResponseFormat = "text"
    variables_used: dict[str, Any] | None = None
    # Beyond the spec: the settings the run used (request and template defaults merged).
    model_settings: dict[str, Any] | None = Field(None, alias="model_config")


class Execution(_Response):
    execution_id: str
    template_id: str | None = None
    template_version: str | None = None
    status: ExecutionStatus
    content: str | None = None
    rendered_prompt: str | None = None
    metadata: ExecutionMetadata | None = None
    error: ErrorBody | None = None
    created_at: str
    completed_at: str | None = None
    batch_id: str | None = None  # a batch item's execution: its batch and item
    batch_item_id: str | None = None
    request_id: str | None = None  # beyond the spec: the request that ran it


class ExecutionSummary(_Response):
    execution_id: str
    template_id: str | None = None
    status: ExecutionStatus
    model: str | None = None
    tokens_used: int = 0
    cost: float = 0.0
    created_at: str
    batch_id: str | None = None
    # Beyond the spec, for history views: what ran, how long, the output's first line, the
    # error code of a failure, and this row's keyset cursor.
    template_version: str | None = None
    execution_time: float | None = None
    output_preview: str | None = None
    error_code: str | None = None
    cursor: str | None = None


class Pagination(_Response):
    total: int
    limit: int
    offset: int
    has_more: bool
    # Beyond the spec: a total past 10,000 that would cost a scan is a lower bound, and
    # keyset cursors for the pages below (next) and above (prev) this one.
    total_is_lower_bound: bool = False
    next_cursor: str | None = None
    prev_cursor: str | None = None


class ExecutionList(_Response):
    executions: list[ExecutionSummary]
    pagination: Pagination


class Template(_Response):
    template_id: str
    name: str
    description: str | None = None
    version: str
    status: Literal["active", "archived"]
    prompt: str
    variables: list[dict[str, Any]] = Field(default_factory=list)
    default_config: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    change_note: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="label -> version")
    created_at: str
    updated_at: str
    url: str


class TemplateList(_Response):
    templates: list[Template]
    pagination: Pagination


class TemplateVersionSummary(_Response):
    version: str
    created_at: str
    name: str
    description: str | None = None
    change_note: str | None = None
    labels: list[str] = Field(default_factory=list)


class TemplateVersions(_Response):
    template_id: str
    current_version: str
    versions: list[TemplateVersionSummary]


class TemplateLabel(_Response):
    label: str
    version: str
    previous_version: str | None = None
    updated_at: str


class TemplateLabels(_Response):
    template_id: str
    labels: list[TemplateLabel]


class PreviewProblem(_Response):
    code: str
    message: str
    line: int | None = None
    column: int | None = None
    variable: str | None = None


class TemplatePreview(_Response):
    valid: bool
    rendered_prompt: str | None = None
    problems: list[PreviewProblem] = Field(default_factory=list)
    variables_used: list[str] = Field(default_factory=list)
    undeclared_variables: list[str] = Field(default_factory=list)
    unused_variables: list[str] = Field(default_factory=list)
    missing_variables: list[str] = Field(default_factory=list)


class VersionStats(_Response):
    version: str
    executions: int
    completed: int
    failed: int
    cancelled: int = 0
    failure_rate: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    average_cost: float | None = None


class TemplateStats(_Response):
    template_id: str
    versions: list[VersionStats]


class HourlyLimit(_Response):
    limit: int | None
    used: int
    remaining: int | None
    reset_time: str


class BurstLimit(_Response):
    limit: int
    used: int
    remaining: int
    window: str = "1_minute"


class ConcurrentLimit(_Response):
    limit: int
    active: int
    available: int


class RateLimits(_Response):
    hourly: HourlyLimit
    burst: BurstLimit
    concurrent: ConcurrentLimit


class VerifyRateLimit(_Response):
    requests_per_hour: int | None
    remaining: int | None


class AuthVerify(_Response):
    valid: bool
    account_id: str
    plan: Plan
    permissions: list[str]
    rate_limit: VerifyRateLimit
    key: dict[str, Any] | None = None


class ModelInfo(_Response):
    id: str
    provider: str
    streaming: bool = True
    input_price_per_million: float
    output_price_per_million: float
    default: bool = False
    custom: bool = False


class ModelList(_Response):
    models: list[ModelInfo]
    default_model: str


class BatchSubmitted(_Response):
    batch_id: str
    status: BatchStatus
    total_items: int
    estimated_completion: str | None = None
    progress_url: str | None = None
    results_url: str | None = None
    webhook_url: str | None = None


class BatchCounts(_Response):
    completed: int = 0
    failed: int = 0
    pending: int = 0
    total: int = 0
    cancelled: int = 0


class BatchSummary(_Response):
    batch_id: str
    status: BatchStatus
    total_items: int
    progress: BatchCounts
    priority: str | None = None
    webhook_url: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
    finished_at: str | None = None
    template_id: str | None = None
    started_at: str | None = None


class BatchList(_Response):
    batches: list[BatchSummary]
    pagination: Pagination


class BatchItemError(_Response):
    item_id: str
    error_code: str | None = None
    retry_eligible: bool = False


class BatchErrorGroup(_Response):
    error_code: str
    count: int
    retry_eligible: int = 0  # how many of them a retry would run again


class BatchProgress(_Response):
    """The spec's progress object; `.completed`, `.total`, ... read through to `progress`."""

    batch_id: str
    status: BatchStatus
    progress: BatchCounts
    performance: dict[str, Any] = Field(default_factory=dict)
    errors: list[BatchItemError] = Field(default_factory=list)
    # Beyond the spec: every failure counted by code, the cost so far, and when it started.
    errors_by_code: list[BatchErrorGroup] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
    started_at: str | None = None

    @property
    def completed(self) -> int:
        return self.progress.completed

    @property
    def failed(self) -> int:
        return self.progress.failed

    @property
    def pending(self) -> int:
        return self.progress.pending

    @property
    def total(self) -> int:
        return self.progress.total

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


class BatchThroughput(_Response):
    """Items finished in each equal slice of a batch's life (beyond the spec)."""

    batch_id: str
    started_at: str | None = None
    bucket_seconds: float | None = None
    finished: list[int] = Field(default_factory=list)


class BatchItemResult(_Response):
    item_id: str
    status: str
    content: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    execution_id: str | None = None
    attempts: int | None = None
    retry_eligible: bool | None = None
    # Beyond the spec: what each run before a retry said, oldest first ({status, error_code,
    # attempts, retried_at, result}); a retried item keeps its earlier failure.
    earlier_attempts: list[dict[str, Any]] = Field(default_factory=list)


class BatchResults(_Response):
    batch_id: str
    status: BatchStatus
    results: list[BatchItemResult]
    summary: dict[str, Any] = Field(default_factory=dict)
    pagination: Pagination | None = None
