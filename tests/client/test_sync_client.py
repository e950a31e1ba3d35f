"""SyncPromptExecutionClient and PromptExecutionClient (the spec's surface, with
`execute_async`) against the real server: every method, streams, pagination, key and URL
resolution, rate-limit state, observers and lenient models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from promptexecution import PromptExecutionClient, SyncPromptExecutionClient
from promptexecution.client import (
    AsyncPromptExecutionClient,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionResult,
    ExecutionStream,
    RateLimitState,
    RequestEvent,
    TextDelta,
)
from promptexecution.exceptions import APIError, ExecutionError, NotFoundError
from promptexecution.models import (
    AuthVerify,
    ExecutionList,
    ModelList,
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


def unique(prefix: str = "sync") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def client_for(server: ServerHandle, key: str | None = None, **options: Any
               ) -> SyncPromptExecutionClient:
    return SyncPromptExecutionClient(api_key=key or server.make_key(),
                                     base_url=server.base_url, **options)


@pytest.fixture
def fixed_server(tmp_path: Path) -> Iterator[ServerHandle]:
    with running_server(tmp_path / "fixed", clock=FixedClock(FIXED_START)) as handle:
        yield handle


# ---------------------------------------------------------------------------- templates


def test_templates_every_method(server: ServerHandle) -> None:
    name = unique()
    with client_for(server) as client:
        created = client.templates.create(
            name, "Dear {{ who }}, about {{ topic }}",
            variables=[{"name": "who", "required": True}, {"name": "topic", "default": "x"}],
            tags=["one"], description="v1", output_schema={"properties": {"a": {}}},
        )
        assert isinstance(created, Template)
        assert (created.version, created.status, created.tags) == ("1.0", "active", ["one"])
        assert created.output_schema == {"properties": {"a": {}}}
        assert client.templates.get(name) == client.templates.get(created.template_id) == created
        listed = client.templates.list()
        assert isinstance(listed, TemplateList) and listed.pagination.total == 1
        assert client.templates.list(tag="one").templates[0].template_id == created.template_id
        assert client.templates.list(q="nothing-like-this").pagination.total == 0

        updated = client.templates.update(name, tags=["one", "two"])
        assert updated.version == "1.1" and updated.tags == ["one", "two"]
        same = client.templates.update(name, tags=["one", "two"])
        assert same.version == "1.1"  # an identical PUT stores no new version
        versions = client.templates.versions(created.template_id)
        assert isinstance(versions, TemplateVersions)
        assert versions.current_version == "1.1" and len(versions.versions) == 2
        assert client.templates.get_version(name, "1.0").tags == ["one"]
        with pytest.raises(NotFoundError) as info:
            client.templates.get_version(name, "9.9")
        assert info.value.code == "TEMPLATE_VERSION_NOT_FOUND"

        assert client.templates.delete(name).status == "archived"
        assert client.templates.list().pagination.total == 0
        assert client.templates.list(status="archived").pagination.total == 1


def test_template_authoring_methods(server: ServerHandle) -> None:
    name = unique()
    with client_for(server, server.make_key("professional")) as client:
        client.templates.create(name, "Hi {{ who }}", variables=[{"name": "who"}],
                                change_note="first")
        second = client.templates.update(name, prompt="Hey {{ who }}", change_note="warmer")
        assert (second.version, second.change_note) == ("1.1", "warmer")
        assert [v.change_note for v in client.templates.versions(name).versions] == [
            "first", "warmer"]
        preview = client.templates.preview(prompt="Yo {{ who }} {{ extra }}",
                                           template_variables=[{"name": "who"}],
                                           variables={"who": "Ada", "extra": "!"})
        assert isinstance(preview, TemplatePreview)
        assert preview.rendered_prompt == "Yo Ada !"
        assert preview.undeclared_variables == ["extra"]
        label = client.templates.set_label(name, "production", "1.0")
        assert isinstance(label, TemplateLabel) and label.version == "1.0"
        assert client.templates.labels(name).labels[0].label == "production"
        run = client.execute(name, template_label="production", variables={"who": "Bo"})
        assert run.rendered_prompt == "Hi Bo"
        with client.stream(name, template_label="production", variables={"who": "Cy"}) as stream:
            assert stream.get_text() == client.executions.get(
                stream.final_execution().execution_id).content
        stats = client.templates.stats(name)
        assert isinstance(stats, TemplateStats)
        assert [v.executions for v in stats.versions] == [2, 0]
        assert client.templates.remove_label(name, "production").label == "production"
        with pytest.raises(NotFoundError) as info:
            client.execute(name, template_label="production", variables={"who": "Bo"})
        assert info.value.code == "TEMPLATE_LABEL_NOT_FOUND"


# ---------------------------------------------------------------------------- execute


def test_templates_iterate_across_pages(server: ServerHandle) -> None:
    with client_for(server, server.make_key()) as client:
        for n in range(5):
            client.templates.create(f"paged_{n}", f"Page {n}")
        listed = [t.name for t in client.templates.list(limit=100).templates]
        walked = [t.name for t in client.templates.iterate(page_size=2)]
        assert walked == listed and len(walked) == 5


def test_execute_prompt_template_and_idempotency_key(server: ServerHandle) -> None:
    name = unique()
    with client_for(server) as client:
        result = client.execute(prompt="Explain pagination")
        assert isinstance(result, ExecutionResult) and result.status == "completed"
        assert result.content and result.metadata is not None and result.metadata.cost > 0

        client.templates.create(name, "Hello {{ who }}")
        templated = client.execute(name, variables={"who": "Zed"})
        assert templated.rendered_prompt == "Hello Zed" and templated.template_version == "1.0"

        key = f"sync-{uuid.uuid4()}"
        first = client.execute(prompt="Just once", idempotency_key=key)
        again = client.execute(prompt="Just once", idempotency_key=key)
        assert again.execution_id == first.execution_id
        assert client.executions.list().pagination.total == 3


def test_executions_get_list_and_iterate(server: ServerHandle) -> None:
    events: list[RequestEvent] = []
    with client_for(server) as client:
        ids = [client.execute(prompt=f"item {i}").execution_id for i in range(7)]
        got = client.executions.get(ids[3])
        assert got.execution_id == ids[3] and got.rendered_prompt == "item 3"
        assert client.executions.get(ids[3], include_metadata=False).metadata is None
        page = client.executions.list(limit=3, offset=3)
        assert isinstance(page, ExecutionList)
        assert [e.execution_id for e in page.executions] == list(reversed(ids))[3:6]
        assert (page.pagination.total, page.pagination.has_more) == (7, True)

        client.add_observer(events.append)
        everything = [item.execution_id for item in client.executions.iterate(page_size=3)]
        assert everything == list(reversed(ids))
        assert [e.path for e in events] == ["/executions"] * 3
        assert [e.status for e in events] == [200] * 3


def test_rate_limits_auth_and_models(server: ServerHandle) -> None:
    with client_for(server) as client:
        limits = client.rate_limits.get()
        assert isinstance(limits, RateLimits)
        assert (limits.hourly.limit, limits.burst.limit, limits.concurrent.limit) == (
            10_000, 500, 50)
        verified = client.auth.verify()
        assert isinstance(verified, AuthVerify)
        assert verified.plan == "professional"
        assert sorted(verified.permissions) == ["batch", "execute", "templates"]
        models = client.models.list()
        assert isinstance(models, ModelList) and "simulator" in [m.id for m in models.models]


# ---------------------------------------------------------------------------- streams


def test_stream_events_text_and_final_execution(server: ServerHandle) -> None:
    settings = {"simulate": {"output_tokens": 200, "tokens_per_second": 6000}}
    with client_for(server) as client:
        with client.stream(prompt="Stream me", model_config=settings) as stream:
            assert isinstance(stream, ExecutionStream)
            started_as = stream.execution_id  # known before any event
            events = list(stream)
            final = stream.final_execution()
            assert stream.get_text() == final.content
        assert len(events) >= 3
        assert all(isinstance(e, TextDelta) for e in events[:-1])
        assert isinstance(events[-1], ExecutionCompleted) and events[-1].execution == final
        assert stream.text == final.content == "".join(
            e.text for e in events if isinstance(e, TextDelta))
        assert client.executions.get(final.execution_id).content == final.content
        assert started_as == final.execution_id

        with client.stream(prompt="Stream me", model_config=settings) as stream:
            assert stream.get_text() == final.content


def test_a_failed_stream_raises_execution_error(server: ServerHandle) -> None:
    with client_for(server) as client:
        with client.stream(prompt="x", model_config={"simulate": {"fail": "timeout"}}) as stream:
            events = list(stream)
            with pytest.raises(ExecutionError) as info:
                stream.final_execution()
    assert len(events) == 1 and isinstance(events[0], ExecutionFailed)
    assert events[0].error is info.value
    assert info.value.code == "MODEL_TIMEOUT" and info.value.retry_eligible is True
    assert info.value.status_code == 500


# ---------------------------------------------------------------------------- configuration


def test_key_and_base_url_resolution(server: ServerHandle, monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    pe_key, long_key = server.make_key(), server.make_key()
    with client_for(server, pe_key) as client:
        pe_account = client.auth.verify().account_id
    with client_for(server, long_key) as client:
        long_account = client.auth.verify().account_id

    monkeypatch.delenv("PE_API_KEY", raising=False)
    monkeypatch.setenv("PROMPT_EXECUTION_API_KEY", long_key)
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    with SyncPromptExecutionClient() as client:
        assert client.auth.verify().account_id == long_account
    monkeypatch.setenv("PE_API_KEY", pe_key)
    with PromptExecutionClient() as client:
        assert client.base_url == server.base_url
        assert client.auth.verify().account_id == pe_account

    monkeypatch.delenv("PE_BASE_URL")
    with PromptExecutionClient() as client:
        assert client.base_url == HOSTED_URL

    monkeypatch.delenv("PE_API_KEY")
    monkeypatch.delenv("PROMPT_EXECUTION_API_KEY")
    with pytest.raises(APIError):
        SyncPromptExecutionClient(base_url=server.base_url)
    with pytest.raises(APIError):
        PromptExecutionClient()


def test_spec_constructor_arguments(server: ServerHandle) -> None:
    with PromptExecutionClient(api_key=server.make_key(), timeout=30, max_retries=3,
                               base_url=server.base_url) as client:
        assert client._core.config.timeout == 30
        assert client._core.config.max_retries == 3
        assert client.execute(prompt="spec surface").status == "completed"


async def test_execute_async_shares_settings_and_observers(server: ServerHandle) -> None:
    events: list[RequestEvent] = []
    client = PromptExecutionClient(api_key=server.make_key(), max_retries=1,
                                   base_url=server.base_url)
    try:
        client.add_observer(events.append)
        result = await client.execute_async(prompt="async from the sync client")
        assert isinstance(result, ExecutionResult) and result.status == "completed"
        inner = client.async_client
        assert isinstance(inner, AsyncPromptExecutionClient)
        assert inner.base_url == server.base_url
        assert inner._core.config.max_retries == 1
        assert client.async_client is inner  # one per event loop, reused
        assert [(e.method, e.path, e.status) for e in events] == [("POST", "/execute", 200)]
        with pytest.raises(NotFoundError):
            await client.execute_async("no_such_template")
        assert client.execute(prompt="and a blocking one").status == "completed"
        assert len(events) == 3
    finally:
        await client.aclose()


async def test_an_observer_added_after_the_first_execute_async_sees_later_calls(
    server: ServerHandle,
) -> None:
    client = PromptExecutionClient(api_key=server.make_key(), base_url=server.base_url)
    try:
        await client.execute_async(prompt="first async call")
        late: list[RequestEvent] = []
        client.add_observer(late.append)
        await client.execute_async(prompt="second async call")
        assert [(e.method, e.path) for e in late] == [("POST", "/execute")], (
            "an observer added after the first execute_async saw none of its later calls"
        )
    finally:
        await client.aclose()


async def test_rate_limit_state_reflects_execute_async_responses(server: ServerHandle) -> None:
    client = PromptExecutionClient(api_key=server.make_key(), base_url=server.base_url)
    try:
        client.models.list()
        before = client.rate_limit.burst_remaining
        await client.execute_async(prompt="spend one")
        after = client.rate_limit.burst_remaining
        assert before is not None and after == before - 1, (
            f"client.rate_limit.burst_remaining stayed {after} after execute_async"
        )
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------- rate limits


def test_rate_limit_state_and_observers(fixed_server: ServerHandle) -> None:
    events: list[RequestEvent] = []
    with client_for(fixed_server, fixed_server.make_key("basic")) as client:
        client.add_observer(events.append)
        assert client.rate_limit.burst_remaining is None
        for expected in (99, 98, 97):
            result = client.execute(prompt="sync count")
            assert client.rate_limit.burst_remaining == expected
        assert (client.rate_limit.limit, client.rate_limit.remaining) == (1000, 997)
        assert client.rate_limit.reset == datetime(2030, 1, 15, 10, tzinfo=UTC)
        assert [e.rate_limit.burst_remaining for e in events] == [99, 98, 97]
        assert [e.attempt for e in events] == [1, 1, 1]
        assert result.metadata is not None and events[-1].cost == result.metadata.cost
        assert all(e.request_id and e.request_id.startswith("req_") for e in events)
    with client_for(fixed_server, fixed_server.local_key) as client:
        client.templates.list()
        assert client.rate_limit.limit is None and client.rate_limit.remaining is None
        state = client.rate_limit
        assert isinstance(state, RateLimitState)
        assert (state.burst_limit, state.burst_remaining) == (2000, 2000)
        assert state.reset == datetime(2030, 1, 15, 10, tzinfo=UTC)


def test_observers_see_retry_attempts(server: ServerHandle) -> None:
    events: list[RequestEvent] = []
    with client_for(server, max_retries=1) as client:
        client._core.config.initial_backoff = 0.01
        client.add_observer(events.append)
        with pytest.raises(ExecutionError):
            client.execute(prompt="x", model_config={"simulate": {"fail": "timeout"}})
    assert [(e.attempt, e.status, e.will_retry, e.error_code) for e in events] == [
        (1, 500, True, "MODEL_TIMEOUT"), (2, 500, False, "MODEL_TIMEOUT"),
    ]


# ---------------------------------------------------------------------------- models


def test_result_item_access_and_extra_fields(server: ServerHandle) -> None:
    with client_for(server, server.local_key) as client:
        classification = client.execute(
            template_id="support_classification_v3",
            variables={"message": "I was charged twice", "customer_tier": "standard"},
            model_config={"temperature": 0.1},
        )
    assert classification.metadata is not None
    assert classification.metadata.response_format == "json"
    assert (classification.model_extra or {})["category"] == classification["category"]
    assert classification["category"] == classification.parsed_content()["category"]
    assert classification["urgency"] in {"low", "medium", "high"}
    assert isinstance(classification["confidence"], float)
