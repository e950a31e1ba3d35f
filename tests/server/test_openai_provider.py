"""OpenAI-compatible providers, through the server, against a small fake endpoint that
speaks the chat-completions protocol (a fake of a third party, not of our own API)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx_sse import connect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from promptexecution.server.core.config import ProviderConfig, ServerConfig
from tests.conftest import ServerHandle, assert_error, running_server, serve_in_thread


class FakeOpenAI:
    """Answers by model name: `echo` works, `err500`/`err429`/`filtered`/`bad` fail."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.disconnected = threading.Event()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append((body, dict(request.headers)))
        model = body["model"]
        prompt = body["messages"][0]["content"]
        if model == "err500":
            return JSONResponse({"error": {"message": "overloaded", "type": "server_error"}},
                                status_code=500)
        if model == "err429":
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429,
                                headers={"Retry-After": "7"})
        if model == "filtered":
            return JSONResponse({"error": {"message": "flagged", "type": "invalid_request_error",
                                           "code": "content_policy_violation"}},
                                status_code=400)
        answer = f"echo: {prompt}"
        if not body.get("stream"):
            return JSONResponse({
                "choices": [{"message": {"role": "assistant", "content": answer},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 22},
            })

        async def events() -> AsyncIterator[bytes]:
            try:
                words = answer.split(" ") * (200 if model == "slow" else 1)
                for word in words:
                    chunk = {"choices": [{"delta": {"content": word + " "}}]}
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                    if model == "slow":
                        await asyncio.sleep(0.02)
                yield b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\n'
                yield b'data: {"choices": [], "usage": {"prompt_tokens": 3, ' \
                      b'"completion_tokens": 4}}\n\n'
                yield b"data: [DONE]\n\n"
            finally:
                if model == "slow":
                    self.disconnected.set()

        return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve_in_thread(fake.app) as (url, _):
        yield fake, f"{url}/v1"


@pytest.fixture(scope="module")
def provider_server(fake: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory,
                    ) -> Iterator[ServerHandle]:
    _, url = fake
    os.environ["FAKE_PROVIDER_KEY"] = "sk-fake-123"  # read once, when the server starts
    config = ServerConfig(
        providers=[
            ProviderConfig(name="fakeai", base_url=url, api_key_env="FAKE_PROVIDER_KEY",
                           models=["echo", "slow", "err500", "err429", "filtered"], timeout=5),
            ProviderConfig(name="nowhere", base_url="http://127.0.0.1:9/v1", models=["gone"],
                           timeout=2),
        ],
        pricing={"echo": (1.0, 2.0)},
    )
    try:
        with running_server(tmp_path_factory.mktemp("providers"), config=config) as srv:
            yield srv
    finally:
        del os.environ["FAKE_PROVIDER_KEY"]


def test_models_list_names_the_provider(provider_server: ServerHandle) -> None:
    with provider_server.client() as c:
        models = {m["id"]: m for m in c.get("/models").json()["models"]}
    assert models["echo"]["provider"] == "fakeai"
    assert models["echo"]["input_price_per_million"] == 1.0
    assert models["simulator"]["default"] is True


def test_execute_uses_the_provider_and_its_usage(
    provider_server: ServerHandle, fake: tuple[FakeOpenAI, str]
) -> None:
    with provider_server.client() as c:
        body = c.post("/execute", json={
            "prompt": "hello", "response_format": "json",
            "model_config": {"model": "echo", "temperature": 0.2, "max_tokens": 50},
        }).json()
    assert body["content"] == "echo: hello"
    meta = body["metadata"]
    assert (meta["input_tokens"], meta["output_tokens"]) == (11, 22)
    assert meta["provider"] == "fakeai"
    assert meta["cost"] == pytest.approx((11 * 1.0 + 22 * 2.0) / 1e6)
    sent, headers = fake[0].requests[-1]
    assert sent["model"] == "echo" and sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert sent["response_format"] == {"type": "json_object"}
    assert "top_p" not in sent
    assert headers["authorization"] == "Bearer sk-fake-123"


def test_streaming_through_the_provider(provider_server: ServerHandle) -> None:
    with provider_server.client() as c, connect_sse(
        c, "POST", "/execute",
        json={"prompt": "a b c", "stream": True, "model_config": {"model": "echo"}},
    ) as source:
        events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
    text = "".join(d["delta"] for kind, d in events if kind == "delta")
    assert text == "echo: a b c "
    assert events[-1][0] == "completed"
    assert events[-1][1]["metadata"]["output_tokens"] == 4


def test_disconnect_cancels_the_upstream_call(
    provider_server: ServerHandle, fake: tuple[FakeOpenAI, str]
) -> None:
    fake[0].disconnected.clear()
    with provider_server.client() as c, connect_sse(
        c, "POST", "/execute",
        json={"prompt": "long", "stream": True, "model_config": {"model": "slow"}},
    ) as source:
        for _ in source.iter_sse():
            break
    assert fake[0].disconnected.wait(5), "the provider's stream was not closed"


@pytest.mark.parametrize(
    ("model", "status", "type_", "code"),
    [
        ("err500", 500, "execution_error", "MODEL_PROVIDER_ERROR"),
        ("err429", 503, "service_unavailable", "PROVIDER_RATE_LIMITED"),
        ("filtered", 400, "execution_error", "CONTENT_POLICY_VIOLATION"),
        ("gone", 500, "execution_error", "MODEL_PROVIDER_ERROR"),
    ],
)
def test_provider_failures_map_to_api_errors(
    provider_server: ServerHandle, model: str, status: int, type_: str, code: str
) -> None:
    with provider_server.client() as c:
        response = c.post("/execute", json={"prompt": "x", "model_config": {"model": model}})
    error = assert_error(response, status, type_, code)
    assert "sk-fake-123" not in response.text
    if model == "err429":
        assert response.headers["retry-after"] == "7"
    if model == "gone":
        assert "127.0.0.1:9" in error["message"]


def test_basic_plan_gets_only_the_default_model(provider_server: ServerHandle) -> None:
    with provider_server.client(provider_server.make_key("basic")) as c:
        response = c.post("/execute", json={"prompt": "x", "model_config": {"model": "echo"}})
        error = assert_error(response, 403, "permission_error", "CUSTOM_MODEL_NOT_ALLOWED")
        assert error["details"]["default_model"] == "simulator"
        assert c.post("/execute", json={"prompt": "x"}).status_code == 200


def test_server_toml_configures_providers(tmp_path: Path, fake: tuple[FakeOpenAI, str]) -> None:
    (tmp_path / "server.toml").write_text(
        f'default_model = "echo"\n\n[[providers]]\nname = "fakeai"\nbase_url = "{fake[1]}"\n'
        'models = ["echo"]\n\n[pricing."echo"]\ninput = 3.0\noutput = 4.0\n'
    )
    with running_server(tmp_path) as srv, srv.client() as c:
        listing = c.get("/models").json()
        body = c.post("/execute", json={"prompt": "toml"}).json()
    assert listing["default_model"] == "echo"
    assert body["content"] == "echo: toml"
    assert body["metadata"]["cost"] == pytest.approx((11 * 3.0 + 22 * 4.0) / 1e6)
