"""The sync client, and `PromptExecutionClient`: the spec's Python SDK surface."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from time import sleep
from typing import Any, TypeVar, Unpack

import httpx
from httpx_sse import EventSource
from pydantic import BaseModel

from ..models import (
    AuthVerify,
    BatchItemResult,
    BatchList,
    BatchProgress,
    BatchResults,
    BatchSubmitted,
    BatchSummary,
    BatchThroughput,
    ExecutionList,
    ExecutionSummary,
    ModelList,
    RateLimits,
    Template,
    TemplateLabel,
    TemplateLabels,
    TemplateList,
    TemplatePreview,
    TemplateStats,
    TemplateVersions,
)
from . import _requests as rq
from ._async import AsyncPromptExecutionClient
from ._core import (
    ClientCore,
    Observer,
    Plan,
    RateLimitState,
    RequestSpec,
    Send,
    connection_error,
    resolve_config,
)
from ._paging import iterate_pages
from .streaming import ExecutionStream, batch_event
from .types import BatchEvent, ExecutionResult, HistoryFilters

M = TypeVar("M", bound=BaseModel)


def drive_sync(plan: Plan, http: httpx.Client, core: ClientCore) -> Any:
    """Performs a plan's I/O with a blocking HTTP client (see ClientCore.plan)."""
    result: Any = None
    try:
        while True:
            action = plan.send(result)
            if isinstance(action, Send):
                try:
                    request = http.build_request(
                        action.spec.method,
                        core.url(action.spec.path),
                        json=action.spec.json,
                        params=core.params(action.spec),
                        headers=action.headers,
                        timeout=core.timeout(stream=action.stream),
                    )
                    result = http.send(request, stream=action.stream)
                    if action.stream and result.status_code >= 400:
                        result.read()
                except httpx.TransportError as exc:
                    result = exc
            else:
                sleep(action.seconds)
                result = None
    except StopIteration as stop:
        return stop.value


class SyncPromptExecutionClient:
    """Blocking client with the same resources as the async one."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        stream_chunk_timeout: float | None = None,
        max_retries: int | None = None,
        pace_requests: bool | None = None,
        max_connections: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        config = resolve_config(
            api_key, base_url, timeout=timeout, connect_timeout=connect_timeout,
            stream_chunk_timeout=stream_chunk_timeout, max_retries=max_retries,
            pace_requests=pace_requests, max_connections=max_connections,
            default_headers=dict(default_headers) if default_headers else None,
        )
        self._core = ClientCore(config)
        self._http = http_client or httpx.Client(
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
            timeout=self._core.timeout(),
        )
        self.templates = Templates(self)
        self.executions = Executions(self)
        self.rate_limits = RateLimitsResource(self)
        self.auth = Auth(self)
        self.models = Models(self)
        self.batches = Batches(self)

    @property
    def base_url(self) -> str:
        return self._core.config.base_url

    @property
    def rate_limit(self) -> RateLimitState:
        return self._core.rate_limit

    def add_observer(self, observer: Observer) -> Any:
        return self._core.add_observer(observer)

    def _request(self, spec: RequestSpec) -> Any:
        return drive_sync(self._core.plan(spec), self._http, self._core)

    def _call(self, spec: RequestSpec, model: type[M]) -> M:
        return model.model_validate(self._request(spec))

    def _open_stream(self, spec: RequestSpec) -> httpx.Response:
        response: httpx.Response = drive_sync(
            self._core.plan(spec, stream=True), self._http, self._core
        )
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncPromptExecutionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(
        self,
        template_id: str | None = None,
        *,
        prompt: str | None = None,
        variables: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | BaseModel | None = None,
        response_format: str | None = None,
        template_version: str | None = None,
        template_label: str | None = None,
        idempotency_key: str | None = None,
    ) -> ExecutionResult:
        spec = rq.execute(
            template_id=template_id, prompt=prompt, variables=variables,
            model_config=model_config, response_format=response_format,
            template_version=template_version, template_label=template_label,
            idempotency_key=idempotency_key,
        )
        return self._call(spec, ExecutionResult)

    def stream(
        self,
        template_id: str | None = None,
        *,
        prompt: str | None = None,
        variables: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | BaseModel | None = None,
        response_format: str | None = None,
        template_version: str | None = None,
        template_label: str | None = None,
        idempotency_key: str | None = None,
    ) -> ExecutionStream:
        spec = rq.execute(
            template_id=template_id, prompt=prompt, variables=variables,
            model_config=model_config, response_format=response_format,
            template_version=template_version, template_label=template_label, stream=True,
            idempotency_key=idempotency_key,
        )
        return ExecutionStream(self, spec)


class PromptExecutionClient(SyncPromptExecutionClient):
    """The spec's Python SDK: `PromptExecutionClient(api_key=..., timeout=30, max_retries=3)`.

    Blocking calls (`execute`, `templates.*`, ...) plus `await execute_async(...)`, which runs
    on an async client sharing this one's settings (one per event loop).
    """

    def __init__(self, api_key: str | None = None, timeout: float | None = None,
                 max_retries: int | None = None, **options: Any) -> None:
        super().__init__(api_key, timeout=timeout, max_retries=max_retries, **options)
        self._async: AsyncPromptExecutionClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    @property
    def async_client(self) -> AsyncPromptExecutionClient:
        """An async client with the same key and settings, bound to the running loop."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # One core for both sides: the same rate-limit state, observers and settings.
            self._async = AsyncPromptExecutionClient(_core=self._core)
            self._async_loop = loop
        return self._async

    async def execute_async(self, template_id: str | None = None, **kwargs: Any
                            ) -> ExecutionResult:
        return await self.async_client.execute(template_id, **kwargs)

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
        self.close()


class _Resource:
    def __init__(self, client: SyncPromptExecutionClient) -> None:
        self._client = client


class Templates(_Resource):
    def create(self, name: str, prompt: str, **fields: Any) -> Template:
        return self._client._call(rq.create_template(name=name, prompt=prompt, **fields),
                                  Template)

    def get(self, template_id: str) -> Template:
        return self._client._call(rq.get_template(template_id), Template)

    def list(self, **filters: Any) -> TemplateList:
        return self._client._call(rq.list_templates(**filters), TemplateList)

    def iterate(self, *, page_size: int = 100, **filters: Any) -> Iterator[Template]:
        """Every matching template, fetching page after page as you go."""
        return iterate_pages(lambda offset: self.list(limit=page_size, offset=offset, **filters),
                             lambda page: page.templates)

    def update(self, template_id: str, **fields: Any) -> Template:
        return self._client._call(rq.update_template(template_id, **fields), Template)

    def delete(self, template_id: str) -> Template:
        return self._client._call(rq.delete_template(template_id), Template)

    def versions(self, template_id: str) -> TemplateVersions:
        return self._client._call(rq.template_versions(template_id), TemplateVersions)

    def get_version(self, template_id: str, version: str) -> Template:
        return self._client._call(rq.template_version(template_id, version), Template)

    def preview(self, template_id: str | None = None, **fields: Any) -> TemplatePreview:
        """Renders a stored template (optionally `template_version` / `template_label`) or an
        unsaved `prompt` with its `template_variables`, with `variables`: no model, no quota."""
        spec = rq.preview_template(template_id=template_id, **fields)
        return self._client._call(spec, TemplatePreview)

    def labels(self, template_id: str) -> TemplateLabels:
        return self._client._call(rq.template_labels(template_id), TemplateLabels)

    def set_label(self, template_id: str, label: str, version: str) -> TemplateLabel:
        """Points `label` at `version` (setting or moving it)."""
        spec = rq.set_template_label(template_id, label, version)
        return self._client._call(spec, TemplateLabel)

    def remove_label(self, template_id: str, label: str) -> TemplateLabel:
        return self._client._call(rq.remove_template_label(template_id, label), TemplateLabel)

    def stats(self, template_id: str) -> TemplateStats:
        """Per-version executions, failure rate, p50/p95 latency and average cost."""
        return self._client._call(rq.template_stats(template_id), TemplateStats)


class Executions(_Resource):
    def get(self, execution_id: str, *, include_content: bool | None = None,
              include_metadata: bool | None = None) -> ExecutionResult:
        spec = rq.get_execution(execution_id, include_content=include_content,
                                include_metadata=include_metadata)
        return self._client._call(spec, ExecutionResult)

    def list(
        self, *, limit: int | None = None, offset: int | None = None,
        before: str | None = None, after: str | None = None, order: str | None = None,
        **filters: Unpack[HistoryFilters],
    ) -> ExecutionList:
        """One page of history, newest first. `before` / `after` take a page's
        `pagination.next_cursor` / `prev_cursor` (keyset pages: as fast deep as on top);
        `order="oldest"` gives the oldest page."""
        spec = rq.list_executions(limit=limit, offset=offset, before=before, after=after,
                                  order=order, **filters)
        return self._client._call(spec, ExecutionList)

    def iterate(self, *, page_size: int = 100,
                **filters: Unpack[HistoryFilters]) -> Iterator[ExecutionSummary]:
        """Every matching execution, newest first, a keyset page at a time."""
        cursor: str | None = None
        while True:
            page = self.list(limit=page_size, before=cursor, **filters)
            yield from page.executions
            cursor = page.pagination.next_cursor
            if not page.executions or not page.pagination.has_more or cursor is None:
                return

    def export(self, *, format: str = "jsonl", limit: int | None = None,
               **filters: Unpack[HistoryFilters]) -> Iterator[bytes]:
        """Every matching execution (or the newest `limit`) as the server streams it: JSON
        lines (each a whole execution) or CSV, newest first, in chunks of bytes; constant
        memory both ends."""
        spec = rq.export_executions(format=format, limit=limit, **filters)
        response = self._client._open_stream(spec)
        try:
            yield from response.iter_bytes()
        except httpx.HTTPError as exc:  # cut mid-way: the SDK's error, not httpx's
            raise connection_error(exc, spec) from exc
        finally:
            response.close()


class RateLimitsResource(_Resource):
    def get(self) -> RateLimits:
        return self._client._call(rq.rate_limits(), RateLimits)


class Auth(_Resource):
    def verify(self) -> AuthVerify:
        return self._client._call(rq.verify(), AuthVerify)


class Models(_Resource):
    def list(self) -> ModelList:
        return self._client._call(rq.models(), ModelList)


class Batches(_Resource):
    def submit(self, inputs: Any, *, template_id: str | None = None,
               prompt: str | None = None, **fields: Any) -> BatchSubmitted:
        spec = rq.submit_batch(inputs=inputs, template_id=template_id, prompt=prompt, **fields)
        return self._client._call(spec, BatchSubmitted)

    def list(self, **filters: Any) -> BatchList:
        return self._client._call(rq.list_batches(**filters), BatchList)

    def get(self, batch_id: str) -> BatchSummary:
        return self._client._call(rq.get_batch(batch_id), BatchSummary)

    def progress(self, batch_id: str) -> BatchProgress:
        return self._client._call(rq.get_batch(batch_id, "/progress"), BatchProgress)

    def throughput(self, batch_id: str, buckets: int = 60) -> BatchThroughput:
        """How many items finished in each of `buckets` slices of the batch's life."""
        return self._client._call(rq.batch_throughput(batch_id, buckets), BatchThroughput)

    def results(self, batch_id: str, **page: Any) -> BatchResults:
        return self._client._call(rq.batch_results(batch_id, **page), BatchResults)

    def iterate_results(self, batch_id: str, *, status: str | None = None,
                        page_size: int = 1000) -> Iterator[BatchItemResult]:
        """Every result in input order, a page at a time."""
        return iterate_pages(
            lambda offset: self.results(batch_id, status=status, limit=page_size, offset=offset),
            lambda page: page.results)

    def watch(self, batch_id: str | None = None) -> Iterator[BatchEvent]:
        """A batch's progress as the server pushes it (no polling): `progress` events on
        every change, then `finished`, and the stream ends. Without an id: every running
        batch of the account, on one stream that stays open."""
        spec = rq.watch_batches(batch_id)
        response = self._client._open_stream(spec)
        try:
            for event in EventSource(response).iter_sse():
                found = batch_event(event)
                if found is not None:
                    yield found
        except httpx.HTTPError as exc:
            raise connection_error(exc, spec) from exc
        finally:
            response.close()

    def cancel(self, batch_id: str) -> BatchSummary:
        return self._client._call(rq.batch_action(batch_id, "cancel"), BatchSummary)

    def retry(self, batch_id: str) -> BatchSummary:
        return self._client._call(rq.batch_action(batch_id, "retry"), BatchSummary)
