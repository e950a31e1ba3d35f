"""Every SDK method, async and sync, against the real server."""

from __future__ import annotations

import pytest

from promptexecution import AsyncPromptExecutionClient, PromptExecutionClient
from promptexecution.client import (
    ExecutionCompleted,
    ExecutionFailed,
    SyncPromptExecutionClient,
    TextDelta,
)
from promptexecution.exceptions import APIError, ExecutionError
from tests.conftest import ServerHandle

TEMPLATE = {
    "name": "sdk_greeting",
    "prompt": "Greet {{ who }} in a {{ tone }} way",
    "variables": [{"name": "who", "type": "string", "required": True},
                  {"name": "tone", "type": "string", "default": "warm"}],
    "tags": ["sdk"],
}


async def test_async_client_covers_every_method(server: ServerHandle) -> None:
    key = server.make_key("professional")
    events = []
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as client:
        remove = client.add_observer(events.append)
        verify = await client.auth.verify()
        assert verify.valid and verify.plan == "professional"
        models = await client.models.list()
        assert models.default_model == "simulator"

        created = await client.templates.create(**TEMPLATE)
        assert created.version == "1.0" and created.name == "sdk_greeting"
        assert (await client.templates.get("sdk_greeting")).template_id == created.template_id
        listed = await client.templates.list(tag="sdk")
        assert [t.name for t in listed.templates] == ["sdk_greeting"]
        updated = await client.templates.update(created.template_id, description="v2")
        assert updated.version == "1.1"
        versions = await client.templates.versions(created.template_id)
        assert [v.version for v in versions.versions] == ["1.0", "1.1"]
        assert (await client.templates.get_version(created.template_id, "1.0")).description \
            is None

        result = await client.execute("sdk_greeting", variables={"who": "Ann"})
        assert result.status == "completed" and result.content
        assert result.rendered_prompt == "Greet Ann in a warm way"
        assert result.metadata is not None and result.metadata.cost > 0
        fetched = await client.executions.get(result.execution_id)
        assert fetched.content == result.content
        slim = await client.executions.get(result.execution_id, include_content=False)
        assert slim.content is None

        async with client.stream(prompt="Stream to me",
                                 model_config={"simulate": {"tokens_per_second": 5000}}) as s:
            kinds = [type(event) async for event in s]
            final = await s.final_execution()
        assert kinds[-1] is ExecutionCompleted and TextDelta in kinds
        assert s.text == final.content

        async with client.stream(prompt="x", model_config={"simulate": {
                "fail": "content_policy"}}) as failing:
            kinds = [type(event) async for event in failing]
            with pytest.raises(ExecutionError) as caught:
                await failing.final_execution()
        assert kinds == [ExecutionFailed]
        assert caught.value.code == "CONTENT_POLICY_VIOLATION"

        for i in range(5):
            await client.execute(prompt=f"page {i}")
        page = await client.executions.list(limit=2)
        assert page.pagination.has_more and len(page.executions) == 2
        every = [e async for e in client.executions.iterate(page_size=2)]
        assert len(every) == page.pagination.total
        assert len({e.execution_id for e in every}) == len(every)

        limits = await client.rate_limits.get()
        assert limits.burst.used >= 8
        assert client.rate_limit.burst_limit == 500
        assert client.rate_limit.burst_remaining is not None
        deleted = await client.templates.delete(created.template_id)
        assert deleted.status == "archived"
        remove()
    executes = [e for e in events if e.path == "/execute"]
    assert len(executes) == 8  # 6 whole executions and 2 streams
    assert len([e for e in executes if e.cost is not None and e.cost > 0]) == 6
    assert all(e.request_id and e.request_id.startswith("req_") for e in events)
    assert all(e.latency >= 0 and e.attempt == 1 for e in events)


def test_sync_client_covers_every_method(server: ServerHandle) -> None:
    key = server.make_key("professional")
    with SyncPromptExecutionClient(api_key=key, base_url=server.base_url) as client:
        assert client.auth.verify().account_id.startswith("acc_")
        assert client.models.list().models
        created = client.templates.create(**TEMPLATE)
        assert client.templates.list().pagination.total == 1
        assert client.templates.update(created.template_id, prompt="Hi {{ who }}").version == "1.1"
        assert len(client.templates.versions(created.template_id).versions) == 2
        assert client.templates.get_version(created.template_id, "1.1").prompt == "Hi {{ who }}"
        result = client.execute(created.template_id, variables={"who": "Bo"})
        assert result.rendered_prompt == "Hi Bo"
        assert client.executions.get(result.execution_id).status == "completed"
        with client.stream(prompt="sync stream") as stream:
            text = stream.get_text()
        assert text and text == stream.text
        assert len(list(client.executions.iterate(page_size=1))) == 2
        assert client.executions.list(limit=1).pagination.total == 2
        assert client.rate_limits.get().hourly.limit == 10_000
        assert client.rate_limit.remaining is not None
        assert client.templates.delete("sdk_greeting").status == "archived"


async def test_spec_surface_execute_and_execute_async(server: ServerHandle) -> None:
    client = PromptExecutionClient(api_key=server.local_key, timeout=30, max_retries=3,
                                   base_url=server.base_url)
    result = client.execute(template_id="greeting_template", variables={"name": "Alice"})
    assert "Alice" in result.rendered_prompt
    classification = await client.execute_async(
        template_id="support_classification_v3",
        variables={"message": "Where is my parcel?", "customer_tier": "premium"},
        model_config={"temperature": 0.1},
    )
    assert classification["category"] in {"billing", "shipping", "technical", "general"}
    assert classification.get("urgency") in {"low", "medium", "high"}
    assert classification["status"] == "completed"
    with pytest.raises(KeyError):
        classification["no_such_key"]
    await client.aclose()


def test_key_and_base_url_from_the_environment(server: ServerHandle,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PE_API_KEY", raising=False)
    monkeypatch.delenv("PROMPT_EXECUTION_API_KEY", raising=False)
    monkeypatch.delenv("PE_BASE_URL", raising=False)
    with pytest.raises(APIError, match="PE_API_KEY"):
        PromptExecutionClient()
    monkeypatch.setenv("PROMPT_EXECUTION_API_KEY", server.local_key)
    assert PromptExecutionClient().base_url == "https://api.promptexecution.com/v2"
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    with PromptExecutionClient() as client:
        assert client.auth.verify().plan == "enterprise"
    monkeypatch.setenv("PE_API_KEY", "pe_sk_live_wrong")
    with PromptExecutionClient() as client, pytest.raises(APIError):
        client.auth.verify()  # PE_API_KEY wins over PROMPT_EXECUTION_API_KEY


def test_unknown_fields_from_a_newer_server_are_kept(server: ServerHandle) -> None:
    with PromptExecutionClient(api_key=server.local_key, base_url=server.base_url) as client:
        result = client.execute(template_id="support_classification_v3",
                                variables={"message": "refund please"})
    assert result.model_extra and "category" in result.model_extra
    assert result.metadata is not None and result.metadata.variables_used == {
        "message": "refund please", "customer_tier": "standard"}
