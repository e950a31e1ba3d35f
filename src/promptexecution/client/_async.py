"""`AsyncPromptExecutionClient`: the async client every screen and script runs on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
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
from ._paging import aiterate_pages
from .streaming import AsyncExecutionStream, batch_event
from .types import BatchEvent, ExecutionResult, HistoryFilters

M = TypeVar("M", bound=BaseModel)


async def drive_async(plan: Plan, http: httpx.AsyncClient, core: ClientCore) -> Any:
    """Performs a plan's I/O with an async HTTP client (see ClientCore.plan)."""
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
                    result = await http.send(request, stream=action.stream)
                    if action.stream and result.status_code >= 400:
                        await result.aread()
                except httpx.TransportError as exc:
                    result = exc
            else:
                await asyncio.sleep(action.seconds)
                result = None
    except StopIteration as stop:
        return stop.value


class AsyncPromptExecutionClient:
    """Async client for the Prompt Execution API v2.1.

    The key comes from `api_key`, else `PE_API_KEY`, else `PROMPT_EXECUTION_API_KEY`; the base
    URL from `base_url`, else `PE_BASE_URL`, else the hosted API. Use it as
    `async with AsyncPromptExecutionClient() as client: ...` so its connections close.
    """

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
        http_client: httpx.AsyncClient | None = None,
        _core: ClientCore | None = None,
    ) -> None:
        if _core is None:
            _core = ClientCore(resolve_config(
                api_key, base_url, timeout=timeout, connect_timeout=connect_timeout,
                stream_chunk_timeout=stream_chunk_timeout, max_retries=max_retries,
                pace_requests=pace_requests, max_connections=max_connections,
                default_headers=dict(default_headers) if default_headers else None,
            ))
        self._core = _core  # shared with PromptExecutionClient's sync side, when it made us
        config = _core.config
        self._http = http_client or httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
            timeout=self._core.timeout(),
        )
        self.templates = AsyncTemplates(self)
        self.executions = AsyncExecutions(self)
        self.rate_limits = AsyncRateLimits(self)
        self.auth = AsyncAuth(self)
        self.models = AsyncModels(self)
        self.batches = AsyncBatches(self)

    # -------------------------------------------------------------- plumbing

    @property
    def base_url(self) -> str:
        return self._core.config.base_url

    @property
    def rate_limit(self) -> RateLimitState:
        """What the latest response's `X-RateLimit-*` headers said (no request needed)."""
        return self._core.rate_limit

    def add_observer(self, observer: Observer) -> Any:
        """Calls `observer(RequestEvent)` after every HTTP exchange; returns a remover."""
        return self._core.add_observer(observer)

    async def _request(self, spec: RequestSpec) -> Any:
        return await drive_async(self._core.plan(spec), self._http, self._core)

    async def _call(self, spec: RequestSpec, model: type[M]) -> M:
        return model.model_validate(await self._request(spec))

    async def _open_stream(self, spec: RequestSpec) -> httpx.Response:
        response: httpx.Response = await drive_async(
            self._core.plan(spec, stream=True), self._http, self._core
        )
        return response

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPromptExecutionClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -------------------------------------------------------------- executions

    async def execute(
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
        """Runs a template (by id or name) or a raw prompt and returns the finished execution."""
        spec = rq.execute(
            template_id=template_id, prompt=prompt, variables=variables,
            model_config=model_config, response_format=response_format,
            template_version=template_version, template_label=template_label,
            idempotency_key=idempotency_key,
        )
        return await self._call(spec, ExecutionResult)

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
    ) -> AsyncExecutionStream:
        """`async with client.stream(...) as s: async for event in s` (or `await s.get_text()`)."""
        spec = rq.execute(
            template_id=template_id, prompt=prompt, variables=variables,
            model_config=model_config, response_format=response_format,
            template_version=template_version, template_label=template_label, stream=True,
            idempotency_key=idempotency_key,
        )
        return AsyncExecutionStream(self, spec)


class _AsyncResource:
    def __init__(self, client: AsyncPromptExecutionClient) -> None:
        self._client = client


class AsyncTemplates(_AsyncResource):
    async def create(self, name: str, prompt: str, **fields: Any) -> Template:
        return await self._client._call(rq.create_template(name=name, prompt=prompt, **fields),
                                        Template)

    async def get(self, template_id: str) -> Template:
        return await self._client._call(rq.get_template(template_id), Template)

    async def list(self, **filters: Any) -> TemplateList:
        return await self._client._call(rq.list_templates(**filters), TemplateList)

    def iterate(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[Template]:
        """Every matching template, fetching page after page as you go."""
        return aiterate_pages(lambda offset: self.list(limit=page_size, offset=offset, **filters),
                              lambda page: page.templates)

    async def update(self, template_id: str, **fields: Any) -> Template:
        return await self._client._call(rq.update_template(template_id, **fields), Template)

    async def delete(self, template_id: str) -> Template:
        return await self._client._call(rq.delete_template(template_id), Template)

    async def versions(self, template_id: str) -> TemplateVersions:
        return await self._client._call(rq.template_versions(template_id), TemplateVersions)

    async def get_version(self, template_id: str, version: str) -> Template:
        return await self._client._call(rq.template_version(template_id, version), Template)

    async def preview(self, template_id: str | None = None, **fields: Any) -> TemplatePreview:
        """Renders a stored template (optionally `template_version` / `template_label`) or an
        unsaved `prompt` with its `template_variables`, with `variables`: no model, no quota."""
        spec = rq.preview_template(template_id=template_id, **fields)
        return await self._client._call(spec, TemplatePreview)

    async def labels(self, template_id: str) -> TemplateLabels:
        return await self._client._call(rq.template_labels(template_id), TemplateLabels)

    async def set_label(self, template_id: str, label: str, version: str) -> TemplateLabel:
        """Points `label` at `version` (setting or moving it)."""
        spec = rq.set_template_label(template_id, label, version)
        return await self._client._call(spec, TemplateLabel)

    async def remove_label(self, template_id: str, label: str) -> TemplateLabel:
        return await self._client._call(rq.remove_template_label(template_id, label), TemplateLabel)

    async def stats(self, template_id: str) -> TemplateStats:
        """Per-version executions, failure rate, p50/p95 latency and average cost."""
        return await self._client._call(rq.template_stats(template_id), TemplateStats)


class AsyncExecutions(_AsyncResource):
    async def get(self, execution_id: str, *, include_content: bool | None = None,
                    include_metadata: bool | None = None) -> ExecutionResult:
        spec = rq.get_execution(execution_id, include_content=include_content,
                                include_metadata=include_metadata)
        return await self._client._call(spec, ExecutionResult)

    async def list(
        self, *, limit: int | None = None, offset: int | None = None,
        before: str | None = None, after: str | None = None, order: str | None = None,
        **filters: Unpack[HistoryFilters],
    ) -> ExecutionList:
        """One page of history, newest first. `before` / `after` take a page's
        `pagination.next_cursor` / `prev_cursor` (keyset pages: as fast deep as on top);
        `order="oldest"` gives the oldest page."""
        spec = rq.list_executions(limit=limit, offset=offset, before=before, after=after,
                                  order=order, **filters)
        return await self._client._call(spec, ExecutionList)

    async def iterate(self, *, page_size: int = 100,
                    **filters: Unpack[HistoryFilters]) -> AsyncIterator[ExecutionSummary]:
        """Every matching execution, newest first, a keyset page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list(limit=page_size, before=cursor, **filters)
            for item in page.executions:
                yield item
            cursor = page.pagination.next_cursor
            if not page.executions or not page.pagination.has_more or cursor is None:
                return

    async def export(self, *, format: str = "jsonl", limit: int | None = None,
                     **filters: Unpack[HistoryFilters]) -> AsyncGenerator[bytes, None]:
        """Every matching execution (or the newest `limit`) as the server streams it: JSON
        lines (each a whole execution) or CSV, newest first, in chunks of bytes; constant
        memory both ends."""
        spec = rq.export_executions(format=format, limit=limit, **filters)
        response = await self._client._open_stream(spec)
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:  # cut mid-way: the SDK's error, not httpx's
            raise connection_error(exc, spec) from exc
        finally:
            await response.aclose()


class AsyncRateLimits(_AsyncResource):
    async def get(self) -> RateLimits:
        return await self._client._call(rq.rate_limits(), RateLimits)


class AsyncAuth(_AsyncResource):
    async def verify(self) -> AuthVerify:
        return await self._client._call(rq.verify(), AuthVerify)


class AsyncModels(_AsyncResource):
    async def list(self) -> ModelList:
        return await self._client._call(rq.models(), ModelList)


class AsyncBatches(_AsyncResource):
    async def submit(self, inputs: Any, *, template_id: str | None = None,
                     prompt: str | None = None, **fields: Any) -> BatchSubmitted:
        """Submits `inputs` ([{"id": ..., "variables": {...}}, ...]); returns at once."""
        spec = rq.submit_batch(inputs=inputs, template_id=template_id, prompt=prompt, **fields)
        return await self._client._call(spec, BatchSubmitted)

    async def list(self, **filters: Any) -> BatchList:
        return await self._client._call(rq.list_batches(**filters), BatchList)

    async def get(self, batch_id: str) -> BatchSummary:
        return await self._client._call(rq.get_batch(batch_id), BatchSummary)

    async def progress(self, batch_id: str) -> BatchProgress:
        return await self._client._call(rq.get_batch(batch_id, "/progress"), BatchProgress)

    async def throughput(self, batch_id: str, buckets: int = 60) -> BatchThroughput:
        """How many items finished in each of `buckets` slices of the batch's life."""
        return await self._client._call(rq.batch_throughput(batch_id, buckets), BatchThroughput)

    async def results(self, batch_id: str, **page: Any) -> BatchResults:
        return await self._client._call(rq.batch_results(batch_id, **page), BatchResults)

    def iterate_results(self, batch_id: str, *, status: str | None = None,
                        page_size: int = 1000) -> AsyncIterator[BatchItemResult]:
        """Every result in input order, a page at a time."""
        return aiterate_pages(
            lambda offset: self.results(batch_id, status=status, limit=page_size, offset=offset),
            lambda page: page.results)

    async def watch(self, batch_id: str | None = None) -> AsyncGenerator[BatchEvent, None]:
        """A batch's progress as the server pushes it (no polling): `progress` events on
        every change, then `finished`, and the stream ends. Without an id: every running
        batch of the account, on one stream that stays open."""
        spec = rq.watch_batches(batch_id)
        response = await self._client._open_stream(spec)
        try:
            async for event in EventSource(response).aiter_sse():
                found = batch_event(event)
                if found is not None:
                    yield found
        except httpx.HTTPError as exc:
            raise connection_error(exc, spec) from exc
        finally:
            await response.aclose()

    async def cancel(self, batch_id: str) -> BatchSummary:
        return await self._client._call(rq.batch_action(batch_id, "cancel"), BatchSummary)

    async def retry(self, batch_id: str) -> BatchSummary:
        return await self._client._call(rq.batch_action(batch_id, "retry"), BatchSummary)
