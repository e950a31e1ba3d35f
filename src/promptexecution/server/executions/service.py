"""Running one execution: resolve the template, render, call the model, price and store it.

Both `POST /v2/execute` and the batch runner go through `prepare` and `run`, so an execution
means the same thing wherever it comes from. Failed and cancelled executions are stored too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ...models import ExecuteRequest, ModelSettings
from ..core.clock import Clock, IdSource, iso, to_micros
from ..core.errors import ApiError, not_found, permission, validation
from ..core.jsonfast import dumps, dumps_bytes
from ..core.plans import PlanLimits
from ..db.connection import Database
from ..providers.base import Chunk, GenerationRequest, ProviderError, Usage, estimate_tokens
from ..providers.catalog import ModelCatalog, ModelEntry
from ..templates.labels import labelled_version
from ..templates.rendering import Renderer, check_text, resolve_variables
from ..templates.store import TemplateRecord, TemplateStore
from .store import ExecutionStore
from .writer import ExecutionWriter

log = logging.getLogger("promptexecution.server")

_PROVIDER_ERRORS: dict[str, tuple[str, str, int, bool]] = {
    # kind: (type, code, status, retry_eligible)
    "content_policy": ("execution_error", "CONTENT_POLICY_VIOLATION", 400, False),
    "server_error": ("execution_error", "MODEL_PROVIDER_ERROR", 500, True),
    "timeout": ("execution_error", "MODEL_TIMEOUT", 500, True),
    "bad_request": ("execution_error", "MODEL_REJECTED_REQUEST", 400, False),
    "auth": ("execution_error", "PROVIDER_AUTH_FAILED", 500, False),
    "rate_limited": ("service_unavailable", "PROVIDER_RATE_LIMITED", 503, True),
}


def check_source(template_id: str | None, prompt: str | None) -> None:
    """A request runs a template or a raw prompt: exactly one of them."""
    if template_id is None and prompt is None:
        raise validation(
            "MISSING_REQUIRED_FIELD",
            "The 'template_id' or 'prompt' field is required",
            field="template_id",
            provided_value=None,
            expected_type="string",
        )
    if template_id is not None and prompt is not None:
        raise validation(
            "CONFLICTING_FIELDS",
            "Send either 'template_id' or 'prompt', not both",
            fields=["template_id", "prompt"],
        )


def provider_api_error(exc: ProviderError, execution_id: str) -> ApiError:
    type_, code, status, retry_eligible = _PROVIDER_ERRORS[exc.kind]
    details = {**exc.details, "execution_id": execution_id, "retry_eligible": retry_eligible}
    headers = {}
    if exc.kind == "rate_limited" and "retry_after" in exc.details:
        headers["Retry-After"] = str(int(exc.details["retry_after"]))
    return ApiError(type_, code, exc.message, details=details, status=status, headers=headers)


@dataclass
class Prepared:
    """Everything decided before the model is called; no I/O has happened yet."""

    account_id: str
    execution_id: str
    template: TemplateRecord | None
    model: ModelEntry
    generation: GenerationRequest
    variables_used: dict[str, Any] | None
    created_us: int
    created_at: str
    # Fields the stored execution carries beyond the standard ones (a batch item's batch).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Received:
    """What a provider has produced so far."""

    started: float
    parts: list[str] = field(default_factory=list)
    first_at: float | None = None
    usage: Usage | None = None
    finish: str | None = None

    def add(self, chunk: Chunk, now: Callable[[], float]) -> bool:
        """Takes one chunk; True when it carried text."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason
        if not chunk.text:
            return False
        if self.first_at is None:
            self.first_at = now()
        self.parts.append(chunk.text)
        return True


@dataclass
class Outcome:
    record: dict[str, Any]
    error: ApiError | None = None
    body: str = ""


class ExecutionService:
    def __init__(
        self,
        database: Database,
        templates: TemplateStore,
        store: ExecutionStore,
        catalog: ModelCatalog,
        renderer: Renderer,
        clock: Clock,
        ids: IdSource,
        monotonic: Callable[[], float],
    ) -> None:
        self.database = database
        self.renderer = renderer
        self.templates = templates
        self.store = store
        self.writer = ExecutionWriter(store)
        self.catalog = catalog
        self.clock = clock
        self.ids = ids
        self.monotonic = monotonic
        # (account, id or name, version) -> active template; cleared when the store's
        # generation moves, so an edit or archive is seen by the very next request.
        self._template_cache: dict[tuple[str, str, str | None, str | None], TemplateRecord] = {}
        self._template_cache_generation = -1

    # ------------------------------------------------------------------ preparation

    async def prepare(self, account_id: str, plan: PlanLimits, request: ExecuteRequest
                      ) -> Prepared:
        check_source(request.template_id, request.prompt)
        provided = request.variables or {}
        template = None
        renderer = self.renderer
        if request.template_id is not None:
            template = self.find_template(
                account_id, request.template_id, request.template_version, request.template_label
            )
            referenced = await renderer.referenced(template.prompt, account_id)
            values = resolve_variables(template.variables, provided, referenced)
            rendered = await renderer.render(template.prompt, values, account_id)
            defaults = {
                v["name"]: v["default"]
                for v in template.variables
                if v["name"] not in provided and v.get("default") is not None
            }
            variables_used: dict[str, Any] | None = {**provided, **defaults}
        else:
            for pin in ("template_version", "template_label"):
                if getattr(request, pin) is not None:
                    raise validation("INVALID_FIELD", f"'{pin}' needs a 'template_id'",
                                     field=pin)
            assert request.prompt is not None
            if provided:
                referenced = await renderer.referenced(request.prompt, account_id)
                values = resolve_variables([], provided, referenced)
                rendered = await renderer.render(request.prompt, values, account_id)
            else:
                rendered = request.prompt  # no variables: the prompt is sent exactly as written
            variables_used = provided or None

        check_text(rendered)
        settings = self._settings(template, request.model_settings)
        model = self.model_for(settings.get("model"), plan)
        simulate = settings.get("simulate")
        if simulate and model.id != "simulator":
            raise validation(
                "INVALID_FIELD",
                "'model_config.simulate' applies only to the 'simulator' model",
                field="model_config.simulate",
            )
        response_format = (
            request.response_format or settings.get("response_format") or "text"
        )
        now = self.clock()
        generation = GenerationRequest(
            model=model.id,
            prompt=rendered,
            temperature=settings.get("temperature"),
            max_tokens=settings.get("max_tokens"),
            top_p=settings.get("top_p"),
            response_format=response_format,
            output_schema=template.output_schema if template else None,
            stream=request.stream,
            options={
                k: settings[k]
                for k in ("frequency_penalty", "presence_penalty", "stop", "seed")
                if settings.get(k) is not None
            },
            simulate=simulate,
        )
        return Prepared(
            account_id=account_id,
            execution_id=self.ids.new("exec"),
            template=template,
            model=model,
            generation=generation,
            variables_used=variables_used,
            created_us=to_micros(now),
            created_at=iso(now),
        )

    def model_for(self, model_id: str | None, plan: PlanLimits) -> ModelEntry:
        """The model a request names (or the default), if the plan may use it."""
        model = self.catalog.get(model_id or self.catalog.default)
        if model.id != self.catalog.default and not plan.custom_models:
            raise permission(
                "CUSTOM_MODEL_NOT_ALLOWED",
                f"The {plan.name} plan runs only the default model "
                f"'{self.catalog.default}'; upgrade to choose another",
                requested_model=model.id,
                default_model=self.catalog.default,
            )
        return model

    def find_template(
        self, account_id: str, id_or_name: str, version: str | None = None,
        label: str | None = None,
    ) -> TemplateRecord:
        """The active template, at `version` or at the version `label` points at (moving a
        label moves the store's generation, so the cache never answers for the old one)."""
        if version is not None and label is not None:
            raise validation("CONFLICTING_FIELDS",
                             "Give 'template_version' or 'template_label', not both",
                             field="template_label")
        generation = self.database.generation()
        if generation != self._template_cache_generation:
            self._template_cache.clear()
            self._template_cache_generation = generation
        key = (account_id, id_or_name, version, label)
        cached = self._template_cache.get(key)
        if cached is None:
            cached = self._load_template(account_id, id_or_name, version, label)
            if len(self._template_cache) < 10_000:
                self._template_cache[key] = cached
        return cached

    def _load_template(
        self, account_id: str, id_or_name: str, version: str | None, label: str | None
    ) -> TemplateRecord:
        row = self.templates.find_template_row(account_id, id_or_name)
        if row is None:
            raise not_found(
                "TEMPLATE_NOT_FOUND",
                f"Template '{id_or_name}' was not found",
                template_id=id_or_name,
            )
        if row["status"] != "active":
            raise not_found(
                "TEMPLATE_ARCHIVED",
                f"Template '{id_or_name}' was deleted (archived); its history is still "
                "readable but it can no longer run",
                template_id=row["id"],
            )
        if label is not None:
            current = self.templates.get_template(account_id, row["id"])
            assert current is not None
            version = labelled_version(self.templates, current, label)
        template = self.templates.get_template(account_id, row["id"], version)
        if template is None:
            raise not_found(
                "TEMPLATE_VERSION_NOT_FOUND",
                f"Template '{id_or_name}' has no version '{version}'",
                template_id=row["id"],
                version=version,
            )
        return template

    @staticmethod
    def _settings(
        template: TemplateRecord | None, overrides: ModelSettings | None
    ) -> dict[str, Any]:
        settings: dict[str, Any] = dict(template.default_config or {}) if template else {}
        if overrides is not None:
            settings.update(overrides.model_dump(exclude_none=True))
        return settings

    # ------------------------------------------------------------------ records

    def _record(
        self,
        p: Prepared,
        *,
        status: str,
        content: str | None,
        started: float,
        first_token_at: float | None,
        input_tokens: int,
        output_tokens: int,
        finish_reason: str | None,
        error: ApiError | None = None,
    ) -> dict[str, Any]:
        now = self.monotonic()
        record: dict[str, Any] = {
            "execution_id": p.execution_id,
            "template_id": p.template.id if p.template else None,
            "template_version": p.template.version if p.template else None,
            "status": status,
            "content": content,
            "rendered_prompt": p.generation.prompt,
            "metadata": {
                "tokens_used": input_tokens + output_tokens,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "execution_time": round(now - started, 4),
                "time_to_first_token": (
                    round(first_token_at - started, 4) if first_token_at is not None else None
                ),
                "model": p.model.id,
                "provider": p.model.provider.name,
                "cost": self.catalog.prices.cost(p.model.id, input_tokens, output_tokens),
                "finish_reason": finish_reason,
                "response_format": p.generation.response_format,
                "variables_used": p.variables_used,
                "model_config": _settings_used(p.generation),
            },
            "created_at": p.created_at,
            "completed_at": iso(self.clock()) if status != "processing" else None,
            **p.extra,
        }
        if status == "completed" and content and p.generation.response_format != "text":
            _expose_json_fields(record, content)
        if error is not None:
            record["error"] = {
                "type": error.type,
                "code": error.code,
                "message": error.message,
                "details": error.details,
            }
        return record

    def processing_record(self, p: Prepared) -> dict[str, Any]:
        return self._record(
            p,
            status="processing",
            content=None,
            started=self.monotonic(),
            first_token_at=None,
            input_tokens=estimate_tokens(p.generation.prompt),
            output_tokens=0,
            finish_reason=None,
        )

    # ------------------------------------------------------------------ running

    async def run(self, p: Prepared, *, store: bool = True) -> Outcome:
        """Runs to the end without streaming; stores and returns the outcome (with the
        record already serialised in `Outcome.body`)."""
        got = _Received(self.monotonic())
        try:
            async for chunk in p.model.provider.generate(p.generation):
                got.add(chunk, self.monotonic)
        except ProviderError as exc:
            error = provider_api_error(exc, p.execution_id)
            record = self._finish(p, "failed", got, error)
            return await self._stored(p, Outcome(record, error), store)
        except asyncio.CancelledError:  # the client left, or the server is stopping
            if store:
                self._store_cancelled(p, got)
            raise
        return await self._stored(p, Outcome(self._finish(p, "completed", got)), store)

    async def _stored(self, p: Prepared, outcome: Outcome, store: bool) -> Outcome:
        outcome.body = dumps(outcome.record)
        if store:
            await self.writer.insert(p.account_id, p.created_us, outcome.record,
                                     outcome.body)
        return outcome

    def _finish(
        self, p: Prepared, status: str, got: _Received, error: ApiError | None = None
    ) -> dict[str, Any]:
        content = "".join(got.parts)
        if got.usage is not None:
            input_tokens, output_tokens = got.usage.input_tokens, got.usage.output_tokens
        else:
            input_tokens = estimate_tokens(p.generation.prompt)
            output_tokens = estimate_tokens(content)
        return self._record(
            p,
            status=status,
            content=content if (content or status == "completed") else None,
            started=got.started,
            first_token_at=got.first_at,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=got.finish if status == "completed" else status,
            error=error,
        )

    async def stream(self, p: Prepared, request_id: str) -> AsyncIterator[bytes]:
        """Server-sent events: `delta`s, then one `completed` or one `error`.

        The execution is stored `processing` first; if the client goes away mid-stream the
        generator is closed or cancelled and the execution is stored `cancelled` with the
        text produced so far.
        """
        account_id = p.account_id
        self.store.insert_execution(account_id, p.created_us, self.processing_record(p))
        got = _Received(self.monotonic())
        done = False
        generator = p.model.provider.generate(p.generation)
        try:
            try:
                async for chunk in generator:
                    if got.add(chunk, self.monotonic):
                        yield sse("delta", {"delta": chunk.text})
            except ProviderError as exc:
                error = provider_api_error(exc, p.execution_id)
                self.store.update_execution(account_id, self._finish(p, "failed", got, error))
                done = True
                yield sse("error", error.body(request_id, iso(self.clock())))
                return
            record = self._finish(p, "completed", got)
            self.store.update_execution(account_id, record)
            done = True
            yield sse("completed", record)
        finally:
            if not done:
                self._store_cancelled(p, got, update=True)
            await generator.aclose()  # type: ignore[attr-defined]

    def _store_cancelled(self, p: Prepared, got: _Received, update: bool = False) -> None:
        record = self._finish(p, "cancelled", got)
        try:
            if update:
                self.store.update_execution(p.account_id, record)
            else:
                self.store.insert_execution(p.account_id, p.created_us, record)
        except Exception:  # never let bookkeeping hide the original exit
            log.exception("could not store cancelled execution %s", p.execution_id)


def _expose_json_fields(record: dict[str, Any], content: str) -> None:
    """JSON output's fields also appear at the top level (never replacing a standard field),
    so the spec's raw-HTTP example can read `response.json()["category"]` as written."""
    try:
        parsed = json.loads(content)
    except ValueError:
        return
    if isinstance(parsed, dict):
        for key, value in parsed.items():
            record.setdefault(key, value)


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dumps_bytes(data) + b"\n\n"


def _settings_used(generation: GenerationRequest) -> dict[str, Any]:
    """The model settings the run used (request and template defaults merged), kept with it
    so History can run it again exactly."""
    used = {"temperature": generation.temperature, "max_tokens": generation.max_tokens,
            "top_p": generation.top_p, **generation.options, "simulate": generation.simulate}
    return {key: value for key, value in used.items() if value is not None}
