"""AsyncPromptExecutionClient against the real server: every method, streams, history
pagination, key and URL resolution, rate-limit state, observers and lenient models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promptexecution.client import (
    AsyncPromptExecutionClient,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionResult,
    RateLimitState,
    RequestEvent,
    TextDelta,
)
from promptexecution.exceptions import APIError, ExecutionError, NotFoundError
from promptexecution.models import (
    AuthVerify,
    ExecutionList,
    ExecutionSummary,
    ModelList,
    ModelSettings,
    RateLimits,
    Template,
    TemplateLabel,
    TemplateList,
    TemplatePreview,
    TemplateStats,
    TemplateVersions,
)
from promptexecution.server.core.clock import FixedClock
from tests.conftest import ServerHandle, running_server

HOSTED_URL = "https://api.promptexecution.com/v2"
FIXED_START = datetime(2030, 1, 15, 9, 30, 30, tzinfo=UTC)


def unique(prefix: str = "sdk") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def client_for(server: ServerHandle, key: str | None = None, **options: Any
               ) -> AsyncPromptExecutionClient:
    return AsyncPromptExecutionClient(api_key=key or server.make_key(),
                                      base_url=server.base_url, **options)


@pytest.fixture
def fixed_server(tmp_path: Path) -> Iterator[ServerHandle]:
    """A server whose clock stands still, so rate-limit windows never roll over mid-test."""
    with running_server(tmp_path / "fixed", clock=FixedClock(FIXED_START)) as handle:
        yield handle


# ---------------------------------------------------------------------------- templates


async def test_templates_every_method(server: ServerHandle) -> None:
    name = unique()
    async with client_for(server) as client:
        created = await client.templates.create(
            name,
            "Say hello to {{ name }} about {{ topic }}.",
            description="first",
            variables=[{"name": "name", "type": "string", "required": True},
                       {"name": "topic", "type": "string", "default": "testing"}],
            tags=["alpha", "beta"],
            default_config={"temperature": 0.2},
        )
        assert isinstance(created, Template)
        assert created.template_id.startswith("tmpl_")
        assert (created.name, created.version, created.status) == (name, "1.0", "active")
        assert created.tags == ["alpha", "beta"]
        assert created.default_config == {"temperature": 0.2}
        assert created.url == f"{server.base_url}/templates/{created.template_id}"

        by_id = await client.templates.get(created.template_id)
        by_name = await client.templates.get(name)
        assert by_id == by_name == created

        listed = await client.templates.list()
        assert isinstance(listed, TemplateList)
        assert [t.template_id for t in listed.templates] == [created.template_id]
        assert listed.pagination.total == 1 and listed.pagination.has_more is False
        assert (await client.templates.list(tag="beta")).pagination.total == 1
        assert (await client.templates.list(tag="gamma")).pagination.total == 0
        assert (await client.templates.list(q="first")).pagination.total == 1
        assert (await client.templates.list(limit=1, offset=1)).templates == []

        updated = await client.templates.update(
            created.template_id, prompt="Hi {{ name }}!", description="second"
        )
        assert updated.version == "1.1"
        assert (updated.prompt, updated.description) == ("Hi {{ name }}!", "second")
        assert updated.tags == ["alpha", "beta"]  # carried over

        versions = await client.templates.versions(name)
        assert isinstance(versions, TemplateVersions)
        assert versions.template_id == created.template_id
        assert versions.current_version == "1.1"
        assert sorted(v.version for v in versions.versions) == ["1.0", "1.1"]

        first = await client.templates.get_version(created.template_id, "1.0")
        assert first.version == "1.0"
        assert first.prompt == "Say hello to {{ name }} about {{ topic }}."
        assert first.description == "first"

        deleted = await client.templates.delete(created.template_id)
        assert deleted.status == "archived"
        assert (await client.templates.list()).pagination.total == 0
        assert (await client.templates.list(status="all")).pagination.total == 1
        assert (await client.templates.get(created.template_id)).status == "archived"
        with pytest.raises(NotFoundError) as info:
            await client.execute(name, variables={"name": "Ann"})
        assert info.value.code == "TEMPLATE_ARCHIVED"


async def test_template_authoring_methods(server: ServerHandle) -> None:
    name = unique()
    async with client_for(server, server.make_key("professional")) as client:
        await client.templates.create(name, "Hi {{ who }}", variables=[{"name": "who"}],
                                      change_note="first")
        second = await client.templates.update(name, prompt="Hey {{ who }}",
                                               change_note="warmer")
        assert (second.version, second.change_note) == ("1.1", "warmer")
        preview = await client.templates.preview(name, template_version="1.0",
                                                 variables={"who": "Ada"})
        assert isinstance(preview, TemplatePreview) and preview.rendered_prompt == "Hi Ada"
        broken = await client.templates.preview(prompt="{% if %}")
        assert not broken.valid and broken.problems[0].line == 1
        await client.templates.set_label(name, "staging", "1.0")
        run = await client.execute(name, template_label="staging", variables={"who": "Bo"})
        assert run.rendered_prompt == "Hi Bo"
        async with client.stream(name, template_label="latest", variables={"who": "Cy"}) as s:
            assert (await s.get_text()) == (await s.final_execution()).content
        batch = await client.batches.submit([{"variables": {"who": "Di"}}], template_id=name,
                                            template_label="staging")
        assert batch.batch_id
        stats = await client.templates.stats(name)
        assert isinstance(stats, TemplateStats) and stats.versions[0].executions >= 1
        labels = await client.templates.labels(name)
        assert [(x.label, x.version) for x in labels.labels] == [("staging", "1.0")]
        removed = await client.templates.remove_label(name, "staging")
        assert isinstance(removed, TemplateLabel)


# ---------------------------------------------------------------------------- execute


async def test_templates_iterate_across_pages(server: ServerHandle) -> None:
    async with client_for(server, server.make_key()) as client:
        for n in range(5):
            await client.templates.create(f"paged_{n}", f"Page {n}")
        listed = [t.name for t in (await client.templates.list(limit=100)).templates]
        walked = [t.name async for t in client.templates.iterate(page_size=2)]
        assert walked == listed and len(walked) == 5


async def test_execute_a_prompt_and_a_template(server: ServerHandle) -> None:
    name = unique()
    async with client_for(server) as client:
        raw = await client.execute(prompt="Write a haiku about terminals")
        assert isinstance(raw, ExecutionResult)
        assert raw.status == "completed"
        assert raw.execution_id.startswith("exec_")
        assert raw.template_id is None
        assert raw.content and raw.rendered_prompt == "Write a haiku about terminals"
        assert raw.metadata is not None
        assert raw.metadata.model == "simulator" and raw.metadata.cost > 0
        assert raw.metadata.tokens_used == raw.metadata.input_tokens + raw.metadata.output_tokens

        template = await client.templates.create(
            name, "Greet {{ who }} in a {{ tone }} tone.",
            variables=[{"name": "who", "required": True}, {"name": "tone", "default": "warm"}],
        )
        result = await client.execute(name, variables={"who": "Ann"})
        assert result.template_id == template.template_id
        assert result.template_version == "1.0"
        assert result.rendered_prompt == "Greet Ann in a warm tone."
        assert result.metadata is not None
        assert result.metadata.variables_used == {"who": "Ann", "tone": "warm"}

        await client.templates.update(name, prompt="Wave at {{ who }}.")
        latest = await client.execute(template.template_id, variables={"who": "Ann"})
        assert (latest.template_version, latest.rendered_prompt) == ("1.1", "Wave at Ann.")
        pinned = await client.execute(name, variables={"who": "Ann"}, template_version="1.0")
        assert pinned.template_version == "1.0"
        assert pinned.rendered_prompt == "Greet Ann in a warm tone."

        as_json = await client.execute(prompt="Rate this product review", response_format="json")
        assert as_json.metadata is not None and as_json.metadata.response_format == "json"
        parsed = as_json.parsed_content()
        assert isinstance(parsed, dict) and as_json["sentiment"] == parsed["sentiment"]

        short = await client.execute(prompt="Tell me everything", model_config={"max_tokens": 3})
        assert short.metadata is not None and short.metadata.finish_reason == "length"
        typed = await client.execute(prompt="Tell me everything",
                                     model_config=ModelSettings.model_validate(
                                         {"max_tokens": 3, "temperature": 0.1}))
        assert typed.content == short.content


async def test_an_explicit_idempotency_key_replays_the_same_execution(
    server: ServerHandle,
) -> None:
    key = f"test-{uuid.uuid4()}"
    async with client_for(server) as client:
        first = await client.execute(prompt="Once only", idempotency_key=key)
        second = await client.execute(prompt="Once only", idempotency_key=key)
        assert second.execution_id == first.execution_id
        assert second.content == first.content
        assert (await client.executions.list()).pagination.total == 1


# ---------------------------------------------------------------------------- executions


async def test_executions_get_list_and_iterate_across_pages(server: ServerHandle) -> None:
    name = unique()
    events: list[RequestEvent] = []
    async with client_for(server) as client:
        await client.templates.create(name, "Summarise {{ text }}")
        ids = [(await client.execute(prompt=f"Prompt number {i}")).execution_id
               for i in range(3)]
        ids.append((await client.execute(name, variables={"text": "a report"})).execution_id)
        with pytest.raises(ExecutionError) as info:
            await client.execute(prompt="bad",
                                 model_config={"simulate": {"fail": "content_policy"}})
        failed_id = info.value.execution_id
        assert failed_id is not None
        ids.append(failed_id)

        full = await client.executions.get(ids[0])
        assert isinstance(full, ExecutionResult)
        assert full.content and full.metadata is not None
        bare = await client.executions.get(ids[0], include_content=False, include_metadata=False)
        assert bare.execution_id == ids[0]
        assert bare.content is None and bare.rendered_prompt is None and bare.metadata is None
        failed = await client.executions.get(failed_id)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.code == "CONTENT_POLICY_VIOLATION"

        page = await client.executions.list(limit=2)
        assert isinstance(page, ExecutionList)
        assert len(page.executions) == 2
        assert (page.pagination.total, page.pagination.has_more) == (5, True)
        assert isinstance(page.executions[0], ExecutionSummary)
        assert (await client.executions.list(status="failed")).pagination.total == 1
        assert (await client.executions.list(status="completed")).pagination.total == 4
        assert (await client.executions.list(template_id=name)).pagination.total == 1
        future = datetime.now(UTC) + timedelta(days=1)
        assert (await client.executions.list(date_from=future)).pagination.total == 0
        assert (await client.executions.list(date_to=future)).pagination.total == 5

        client.add_observer(events.append)
        seen = [item.execution_id async for item in client.executions.iterate(page_size=2)]
        assert seen == list(reversed(ids))  # every execution once, newest first
        pages = [e for e in events if e.path == "/executions"]
        assert len(pages) == 3 and len(events) == 3

        only_completed = [item.status async for item in
                          client.executions.iterate(page_size=3, status="completed")]
        assert only_completed == ["completed"] * 4


# ---------------------------------------------------------------------------- meta


async def test_rate_limits_auth_and_models(server: ServerHandle) -> None:
    key = server.make_key("basic", ("execute",))
    async with client_for(server, key) as client:
        limits = await client.rate_limits.get()
        assert isinstance(limits, RateLimits)
        assert (limits.hourly.limit, limits.burst.limit, limits.concurrent.limit) == (1000, 100, 5)
        assert limits.concurrent.active == 0 and limits.burst.window == "1_minute"

        verified = await client.auth.verify()
        assert isinstance(verified, AuthVerify)
        assert verified.valid is True
        assert verified.account_id.startswith("acc_")
        assert verified.plan == "basic"
        assert verified.permissions == ["execute"]
        assert verified.rate_limit.requests_per_hour == 1000
        assert verified.key is not None and verified.key["mode"] == "test"
        # A field the SDK's model does not declare is kept, not dropped or fatal.
        assert "server_time" in (verified.model_extra or {})

        models = await client.models.list()
        assert isinstance(models, ModelList)
        assert models.default_model == "simulator"
        simulator = next(m for m in models.models if m.id == "simulator")
        assert simulator.default is True and simulator.streaming is True


# ---------------------------------------------------------------------------- streams


async def test_stream_yields_deltas_then_the_completed_execution(server: ServerHandle) -> None:
    settings = {"simulate": {"output_tokens": 300, "tokens_per_second": 6000}}
    async with client_for(server) as client:
        async with client.stream(prompt="Write about terminals", model_config=settings) as stream:
            started_as = stream.execution_id  # known before any event
            events = [event async for event in stream]
            assert stream.text == "".join(e.text for e in events if isinstance(e, TextDelta))
            final = await stream.final_execution()
        assert len(events) >= 3
        assert all(isinstance(e, TextDelta) for e in events[:-1])
        last = events[-1]
        assert isinstance(last, ExecutionCompleted)
        assert last.execution == final
        assert isinstance(final, ExecutionResult) and final.status == "completed"
        assert started_as == final.execution_id
        assert final.content == stream.text and final.content
        stored = await client.executions.get(final.execution_id)
        assert stored.status == "completed" and stored.content == final.content
        non_streamed = await client.execute(prompt="Write about terminals",
                                            model_config=settings)
        assert non_streamed.content == final.content


async def test_stream_get_text_and_final_execution_without_iterating(
    server: ServerHandle,
) -> None:
    name = unique()
    async with client_for(server) as client:
        await client.templates.create(name, "A short note for {{ who }}")
        async with client.stream(name, variables={"who": "Bo"}) as stream:
            text = await stream.get_text()
        assert text and text == stream.text
        async with client.stream(name, variables={"who": "Bo"}) as stream:
            final = await stream.final_execution()
        assert final.content == text
        assert final.template_id is not None and final.rendered_prompt == "A short note for Bo"


async def test_a_failed_stream_ends_with_execution_failed(server: ServerHandle) -> None:
    settings = {"simulate": {"fail": "content_policy"}}
    async with client_for(server) as client:
        async with client.stream(prompt="bad", model_config=settings) as stream:
            events = [event async for event in stream]
            with pytest.raises(ExecutionError) as info:
                await stream.final_execution()
        assert len(events) == 1 and isinstance(events[0], ExecutionFailed)
        error = events[0].error
        assert isinstance(error, ExecutionError)
        assert info.value is error
        assert error.code == "CONTENT_POLICY_VIOLATION"
        assert error.retry_eligible is False
        assert error.request_id and error.request_id.startswith("req_")
        assert error.execution_id is not None
        assert (await client.executions.get(error.execution_id)).status == "failed"

        async with client.stream(prompt="bad", model_config=settings) as stream:
            with pytest.raises(ExecutionError):
                await stream.get_text()


# ---------------------------------------------------------------------------- configuration


async def test_key_and_base_url_come_from_argument_then_env(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = (server.make_key() for _ in range(3))
    accounts = {}
    for key in (first, second, third):
        async with client_for(server, key) as client:
            accounts[key] = (await client.auth.verify()).account_id
    assert len(set(accounts.values())) == 3

    monkeypatch.delenv("PE_API_KEY", raising=False)
    monkeypatch.delenv("PROMPT_EXECUTION_API_KEY", raising=False)
    monkeypatch.setenv("PE_BASE_URL", server.base_url + "/")
    monkeypatch.setenv("PROMPT_EXECUTION_API_KEY", second)
    async with AsyncPromptExecutionClient() as client:
        assert client.base_url == server.base_url
        assert (await client.auth.verify()).account_id == accounts[second]
    monkeypatch.setenv("PE_API_KEY", first)
    async with AsyncPromptExecutionClient() as client:
        assert (await client.auth.verify()).account_id == accounts[first]
    async with AsyncPromptExecutionClient(api_key=third) as client:
        assert (await client.auth.verify()).account_id == accounts[third]

    monkeypatch.delenv("PE_BASE_URL")
    async with AsyncPromptExecutionClient() as client:
        assert client.base_url == HOSTED_URL
    async with AsyncPromptExecutionClient(base_url=server.base_url) as client:
        assert client.base_url == server.base_url

    monkeypatch.delenv("PE_API_KEY")
    monkeypatch.delenv("PROMPT_EXECUTION_API_KEY")
    with pytest.raises(APIError) as info:
        AsyncPromptExecutionClient(base_url=server.base_url)
    assert "PE_API_KEY" in str(info.value)
    assert info.value.status_code is None


# ---------------------------------------------------------------------------- rate limits


async def test_rate_limit_state_follows_the_headers(fixed_server: ServerHandle) -> None:
    async with client_for(fixed_server) as client:
        assert client.rate_limit == RateLimitState()
        await client.auth.verify()
        state = client.rate_limit
        assert (state.limit, state.remaining) == (10_000, 10_000)
        assert (state.burst_limit, state.burst_remaining) == (500, 500)
        assert state.reset == datetime(2030, 1, 15, 10, 0, 0, tzinfo=UTC)
        assert state.updated_at is not None and state.server_time is not None
        seen = []
        for _ in range(3):
            await client.execute(prompt="count me")
            seen.append((client.rate_limit.remaining, client.rate_limit.burst_remaining))
        assert seen == [(9_999, 499), (9_998, 498), (9_997, 497)]
        await client.models.list()  # reads don't spend the budget
        assert client.rate_limit.burst_remaining == 497
        assert client.rate_limit.updated_at is not None
        assert state.updated_at is not None and client.rate_limit.updated_at > state.updated_at

    async with client_for(fixed_server, fixed_server.local_key) as client:
        await client.execute(prompt="unlimited")
        state = client.rate_limit
        assert state.limit is None and state.remaining is None  # "unlimited"
        assert state.burst_limit == 2000 and state.burst_remaining == 1999


# ---------------------------------------------------------------------------- observers


async def test_observers_get_one_event_per_exchange(fixed_server: ServerHandle) -> None:
    server = fixed_server  # a clock that stands still: no burst window rolls over mid-test
    events: list[RequestEvent] = []

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("an observer's bug")

    async with client_for(server) as client:
        client.add_observer(broken)
        remove = client.add_observer(events.append)
        result = await client.execute(prompt="observe me")
        templates = await client.templates.list()
        async with client.stream(prompt="observe the stream") as stream:
            final = await stream.final_execution()
        with pytest.raises(NotFoundError) as info:
            await client.executions.get("exec_missing")
        assert result.execution_id is not None
        await client.executions.get(result.execution_id)  # reading a run again costs nothing
        assert isinstance(templates, TemplateList)

        assert [(e.method, e.path, e.status, e.stream_completed) for e in events] == [
            ("POST", "/execute", 200, False),
            ("GET", "/templates", 200, False),
            ("POST", "/execute", 200, False),  # the stream's headers
            ("POST", "/execute", 200, True),  # its final event, which carries the cost
            ("GET", "/executions/exec_missing", 404, False),
            ("GET", f"/executions/{result.execution_id}", 200, False),
        ]
        for event in events:
            assert event.attempt == 1 and event.will_retry is False
            assert 0 < event.latency < 10
            assert event.request_id and event.request_id.startswith("req_")
            assert isinstance(event.rate_limit, RateLimitState)
            assert event.rate_limit.burst_limit == 500
        executed, listed, streamed, stream_end, missing, read_again = events
        assert read_again.cost is None
        assert result.metadata is not None
        assert executed.cost == result.metadata.cost and executed.cost > 0
        assert listed.cost is None and streamed.cost is None
        assert stream_end.cost == final.metadata.cost > 0  # type: ignore[union-attr]
        assert stream_end.request_id == streamed.request_id
        assert executed.rate_limit.burst_remaining == 499
        assert streamed.rate_limit.burst_remaining == 498
        assert missing.error_code == "EXECUTION_NOT_FOUND"
        assert missing.request_id == info.value.request_id
        assert events[-1].rate_limit == client.rate_limit

        remove()
        await client.models.list()
        assert len(events) == 6


async def test_observers_see_each_attempt_of_a_retried_request(server: ServerHandle) -> None:
    events: list[RequestEvent] = []
    async with client_for(server, max_retries=2) as client:
        client._core.config.initial_backoff = 0.01
        client.add_observer(events.append)
        with pytest.raises(ExecutionError) as info:
            await client.execute(prompt="flaky",
                                 model_config={"simulate": {"fail": "server_error"}})
    assert info.value.code == "MODEL_PROVIDER_ERROR" and info.value.retry_eligible is True
    assert [(e.attempt, e.status, e.will_retry) for e in events] == [
        (1, 500, True), (2, 500, True), (3, 500, False),
    ]
    assert {e.error_code for e in events} == {"MODEL_PROVIDER_ERROR"}
    assert len({e.request_id for e in events}) == 3
    assert info.value.request_id == events[-1].request_id


# ---------------------------------------------------------------------------- models


async def test_execution_result_keeps_extra_fields_from_the_server(server: ServerHandle) -> None:
    async with client_for(server, server.local_key) as client:
        result = await client.execute(
            "support_classification_v3",
            variables={"message": "My order hasn't arrived", "customer_tier": "premium"},
        )
    content = result.parsed_content()
    extra = result.model_extra or {}
    assert extra["category"] == content["category"]
    assert content["category"] in {"billing", "shipping", "technical", "general"}
    assert result["category"] == content["category"]
    assert result["urgency"] in {"low", "medium", "high"}
    assert result["status"] == "completed"  # declared fields first
    assert result.get("no_such_field") is None
    with pytest.raises(KeyError):
        result["no_such_field"]
    assert ExecutionResult.model_validate(result.model_dump()).model_extra == extra


def test_unknown_fields_from_a_newer_server_are_never_fatal() -> None:
    payload = {
        "execution_id": "exec_1", "status": "completed", "content": "{\"a\": 1}",
        "created_at": "2024-01-15T09:15:30Z", "shiny_new_field": {"x": 1},
        "metadata": {"model": "simulator", "cost": 0.5, "carbon_grams": 0.2},
    }
    result = ExecutionResult.model_validate(payload)
    assert result["shiny_new_field"] == {"x": 1}
    assert result.metadata is not None
    assert (result.metadata.model_extra or {})["carbon_grams"] == 0.2
    assert result["a"] == 1
