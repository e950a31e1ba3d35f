"""Models behind any OpenAI-compatible chat-completions endpoint: OpenAI, Ollama, vLLM,
llama.cpp's server, LM Studio.

Streams are parsed with httpx-sse; closing the generator (the client went away) closes the
upstream response, which cancels the provider's work. Provider failures become
ProviderError kinds the execution service maps to the API's errors; the key never appears
in a message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from .base import Chunk, GenerationRequest, ProviderError, Usage, estimate_tokens


class OpenAICompatProvider:
    def __init__(self, name: str, base_url: str, api_key: str | None, timeout: float) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self._timeout, connect=min(10.0, self._timeout)),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        for name in ("temperature", "max_tokens", "top_p"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        body.update(request.options)
        if request.response_format == "structured" and (request.output_schema or {}).get(
            "properties"
        ):
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.output_schema},
            }
        elif request.response_format in ("json", "structured"):
            body["response_format"] = {"type": "json_object"}
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        body = self._body(request)
        try:
            if request.stream:
                async for chunk in self._stream(body, request):
                    yield chunk
            else:
                yield await self._complete(body, request)
        except httpx.TimeoutException:
            raise ProviderError(
                "timeout",
                f"Provider '{self.name}' did not answer within {self._timeout:g} s",
                {"provider": self.name},
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                "server_error",
                f"Could not reach provider '{self.name}' at {self.base_url}: "
                f"{type(exc).__name__}",
                {"provider": self.name},
            ) from None

    async def _complete(self, body: dict[str, Any], request: GenerationRequest) -> Chunk:
        response = await self._client().post("/chat/completions", json=body)
        if response.status_code >= 400:
            raise self._error(response.status_code, _json(response.content), response.headers)
        data = _json(response.content)
        if not isinstance(data, dict) or "error" in data:
            raise self._error(502, data, response.headers)
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                "server_error",
                f"Provider '{self.name}' sent a response without choices",
                {"provider": self.name},
            ) from None
        return Chunk(content, self._usage(data.get("usage"), request.prompt, content),
                     choice.get("finish_reason") or "stop")

    async def _stream(
        self, body: dict[str, Any], request: GenerationRequest
    ) -> AsyncIterator[Chunk]:
        parts: list[str] = []
        usage = None
        finish = None
        async with aconnect_sse(self._client(), "POST", "/chat/completions", json=body) as sse:
            response = sse.response
            if response.status_code >= 400:
                await response.aread()
                raise self._error(response.status_code, _json(response.content),
                                  response.headers)
            async for event in sse.aiter_sse():
                if event.data.strip() == "[DONE]":
                    break
                data = _json(event.data.encode())
                if not isinstance(data, dict):
                    continue
                if "error" in data:
                    raise self._error(502, data, response.headers)
                if data.get("usage"):
                    usage = data["usage"]
                for choice in data.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        yield Chunk(delta)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        yield Chunk("", self._usage(usage, request.prompt, "".join(parts)), finish or "stop")

    @staticmethod
    def _usage(raw: Any, prompt: str, content: str) -> Usage:
        if isinstance(raw, dict):
            try:
                return Usage(int(raw["prompt_tokens"]), int(raw["completion_tokens"]))
            except (KeyError, TypeError, ValueError):
                pass
        return Usage(estimate_tokens(prompt), estimate_tokens(content))

    def _error(self, status: int, data: Any, headers: httpx.Headers) -> ProviderError:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, str):
            error = {"message": error}
        if not isinstance(error, dict):
            error = {}
        message = str(error.get("message") or f"HTTP {status}")
        text = " ".join(str(error.get(k) or "") for k in ("code", "type")).lower()
        details: dict[str, Any] = {"provider": self.name, "status": status}
        where = f"Provider '{self.name}' answered {status}: {message}"
        if "content_policy" in text or "content_filter" in text:
            return ProviderError("content_policy", where, details)
        if status in (401, 403):
            return ProviderError("auth", where, details)
        if status == 429:
            retry_after = headers.get("retry-after")
            if retry_after:
                try:
                    details["retry_after"] = float(retry_after)
                except ValueError:
                    pass
            return ProviderError("rate_limited", where, details)
        if status in (400, 404, 422):
            return ProviderError("bad_request", where, details)
        return ProviderError("server_error", where, details)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
