"""The spec's Python examples run as written (key and base URL aside) against our server."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest

from tests.conftest import ServerHandle
from tests.sdk import spec_examples

SAMPLE_KEY = "pe_sk_live_abc123def456ghi789"
HOSTED = "https://api.promptexecution.com/v2"


def _run(code: str, server: ServerHandle, namespace: dict[str, Any] | None = None) -> Any:
    """Executes a spec example; returns a coroutine when it uses top-level await."""
    source = code.replace(SAMPLE_KEY, server.local_key).replace(HOSTED, server.base_url)
    namespace = {"__name__": "spec_example", **(namespace or {})}
    compiled = compile(source, "spec-example", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # noqa: S307 - the spec's own example code
    return (result, namespace)


@pytest.fixture(autouse=True)
def base_url(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PE_BASE_URL", server.base_url)


def test_sdk_quick_start(server: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    _run(spec_examples.QUICK_START, server)
    assert "Alice" in capsys.readouterr().out


def test_use_case_1_content_pipeline(server: ServerHandle,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, namespace = _run(spec_examples.USE_CASE_1, server)
    assert namespace["result"].status == "completed"
    assert namespace["result"].content in capsys.readouterr().out
    assert "AI in Healthcare" in namespace["result"].rendered_prompt


async def test_use_case_2_support_automation(server: ServerHandle) -> None:
    coroutine, namespace = _run(spec_examples.USE_CASE_2, server)
    assert inspect.iscoroutine(coroutine)
    await coroutine
    result = namespace["result"]
    assert result["classification"]["category"] in {"billing", "shipping", "technical",
                                                    "general"}
    client = namespace["support"].client
    latest = client.executions.get(client.executions.list(limit=1).executions[0].execution_id)
    assert "Sarah Johnson" in latest.rendered_prompt  # step 2 ran with the customer's name
    assert latest.template_id is not None
    assert result["response"] == latest.content
    assert result["escalate"] == (result["classification"]["urgency"] == "high")


def test_use_case_2_raw_http(server: ServerHandle) -> None:
    _, namespace = _run(spec_examples.USE_CASE_2_RAW, server)
    result = namespace["result"]
    assert result["classification"]["status"] == "completed"
    assert result["classification"]["category"] in {"billing", "shipping", "technical",
                                                    "general"}
    with server.client() as c:
        latest_id = c.get("/executions", params={"limit": 1}).json()["executions"][0][
            "execution_id"]
        latest = c.get(f"/executions/{latest_id}").json()
    assert "Sarah Johnson" in latest["rendered_prompt"]
    assert result["response"] == latest["content"]


def test_section_6_backoff(server: ServerHandle) -> None:
    import requests

    _, namespace = _run(spec_examples.BACKOFF_SECTION_6, server,
                        {"requests": requests, "api_key": server.local_key})
    body = namespace["execute_with_backoff"]({"template_id": "greeting_template",
                                              "variables": {"name": "Ada"}})
    assert body["status"] == "completed" and "Ada" in body["rendered_prompt"]


def test_section_8_optimized_client(server: ServerHandle) -> None:
    _, namespace = _run(spec_examples.OPTIMIZED_CLIENT_SECTION_8, server)
    client = namespace["OptimizedAPIClient"](server.local_key)
    body = client.execute_prompt({"template_id": "customer_response_template",
                                  "variables": {"message": "How do I reset my password?",
                                                "tone": "helpful"}})
    assert body["status"] == "completed"
