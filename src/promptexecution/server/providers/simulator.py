"""The built-in `simulator` model: offline, deterministic, and scriptable.

Its output derives only from the rendered prompt (and response format), so the same request
gives the same answer on every machine. `model_config.simulate` sets first-token latency,
token rate, an approximate output length, a hold after N streamed tokens, and failures
(`content_policy`, `server_error`, `timeout`), so authors and tests can walk every path
without a real model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from .base import Chunk, GenerationRequest, ProviderError, Usage, estimate_tokens

_WORDS = (
    "signal context insight pattern detail result approach balance clarity measure outcome "
    "quality method value focus review summary evidence trend factor option impact scope "
    "priority feedback process change metric target baseline experience response"
).split()
_STOPWORDS = set(
    "the a an and or of to in on for with is are be this that these those it as at by from "
    "your you our we their they his her its into about over under than then them there here "
    "provide write generate using use based please following".split()
)
_PIECE = re.compile(r"\S+\s*|\s+")
_UNLIMITED_CHUNK_CHARS = 4096


class SimulatorProvider:
    name = "simulator"

    async def aclose(self) -> None:
        return None

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        knobs = request.simulate or {}
        latency = knobs.get("latency_ms", 0) / 1000
        slow_when = knobs.get("latency_when")
        if latency and (slow_when is None or slow_when in request.prompt):
            await asyncio.sleep(latency)
        when = knobs.get("fail_when")
        if when is None or when in request.prompt:
            _maybe_fail(knobs.get("fail"))
        content, finish = compose(request, knobs.get("output_tokens"))
        usage = Usage(estimate_tokens(request.prompt), estimate_tokens(content))
        rate = knobs.get("tokens_per_second")
        if not request.stream:
            if rate:
                await asyncio.sleep(usage.output_tokens / rate)
            yield Chunk(content, usage, finish)
            return
        pieces = _PIECE.findall(content)
        hold = knobs.get("hold_after_tokens")
        if hold is not None:
            yield Chunk("".join(_first_tokens(pieces, hold)))
            await asyncio.sleep(3600)  # until the client leaves (the task is cancelled)
            raise ProviderError("timeout", "The simulator held the stream for an hour")
        if not rate:
            buffer: list[str] = []
            size = 0
            for piece in pieces:
                buffer.append(piece)
                size += len(piece)
                if size >= _UNLIMITED_CHUNK_CHARS:
                    yield Chunk("".join(buffer))
                    buffer, size = [], 0
            if buffer:
                yield Chunk("".join(buffer))
        else:
            async for text in _paced(pieces, rate):
                yield Chunk(text)
        yield Chunk("", usage, finish)


async def _paced(pieces: list[str], rate: float) -> AsyncIterator[str]:
    """Yields pieces on a schedule of `rate` tokens/s, joining those already due."""
    start = time.monotonic()
    tokens = 0
    i = 0
    while i < len(pieces):
        now = time.monotonic()
        due: list[str] = []
        while i < len(pieces) and start + tokens / rate <= now:
            due.append(pieces[i])
            tokens += max(1, estimate_tokens(pieces[i]))
            i += 1
        if due:
            yield "".join(due)
        if i < len(pieces):
            await asyncio.sleep(max(0.0, start + tokens / rate - time.monotonic()))


def _first_tokens(pieces: list[str], tokens: int) -> list[str]:
    taken: list[str] = []
    count = 0
    for piece in pieces:
        if count >= tokens:
            break
        taken.append(piece)
        count += max(1, estimate_tokens(piece))
    return taken


def _maybe_fail(kind: str | None) -> None:
    if kind == "content_policy":
        raise ProviderError(
            "content_policy",
            "The prompt violates content policy guidelines",
            {
                "violation_type": "harmful_content",
                "suggestion": "Modify prompt to remove potentially harmful instructions",
            },
        )
    if kind == "server_error":
        raise ProviderError("server_error", "The model failed with an internal error")
    if kind == "timeout":
        raise ProviderError("timeout", "The model did not answer in time")


def compose(request: GenerationRequest, output_tokens: int | None) -> tuple[str, str]:
    """The deterministic answer to a prompt, and its finish reason (`stop` or `length`)."""
    schema = json.dumps(request.output_schema, sort_keys=True) if request.output_schema else ""
    return _compose(request.prompt, request.response_format, schema, output_tokens,
                    request.max_tokens)


@lru_cache(maxsize=512)  # deterministic, and repeated prompts are common (tests, batches)
def _compose(prompt: str, response_format: str, schema_json: str, output_tokens: int | None,
             max_tokens: int | None) -> tuple[str, str]:
    seed = int.from_bytes(
        hashlib.sha256(f"{response_format}\0{prompt}".encode()).digest()[:8], "big"
    )
    rng = random.Random(seed)
    keywords = _keywords(prompt)
    if response_format in ("json", "structured"):
        schema = json.loads(schema_json) if schema_json else None
        content = json.dumps(_json_answer(prompt, schema, rng, keywords), indent=2)
    else:
        target = output_tokens or 48 + seed % 160
        content = _markdown_answer(prompt, rng, keywords, target * 4)
    if max_tokens is not None and estimate_tokens(content) > max_tokens:
        return content[: max_tokens * 4], "length"
    return content, "stop"


def _keywords(prompt: str, limit: int = 8) -> list[str]:
    seen: dict[str, int] = {}
    for word in re.findall(r"[A-Za-z][A-Za-z\-]{3,}", prompt):
        lowered = word.lower()
        if lowered not in _STOPWORDS:
            seen[lowered] = seen.get(lowered, 0) + 1
    ranked = sorted(seen, key=lambda w: (-seen[w], w))
    return ranked[:limit] or ["prompt"]


def _sentence(rng: random.Random, keywords: list[str]) -> str:
    pool = keywords + _WORDS
    words = [rng.choice(pool) for _ in range(rng.randint(8, 16))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def _markdown_answer(prompt: str, rng: random.Random, keywords: list[str], chars: int) -> str:
    first_line = prompt.strip().splitlines()[0] if prompt.strip() else "your prompt"
    title = " ".join(first_line.split()[:8]).rstrip(":.,")
    blocks = [f"## {title}"]
    size = len(blocks[0])
    section = 0
    while size < chars:
        kind = section % 4
        if kind == 0 or kind == 2:
            block = " ".join(_sentence(rng, keywords) for _ in range(rng.randint(2, 4)))
        elif kind == 1:
            block = "\n".join(
                f"- **{rng.choice(keywords)}**: {_sentence(rng, keywords)}"
                for _ in range(rng.randint(2, 4))
            )
        else:
            if section % 8 == 3:
                name = rng.choice(keywords).replace("-", "_")
                block = (
                    f"```python\ndef {name}(value):\n    return value * {rng.randint(2, 9)}\n```"
                )
            else:
                block = f"### {rng.choice(keywords).capitalize()} {rng.choice(_WORDS)}"
        blocks.append(block)
        size += len(block) + 2
        section += 1
    return "\n\n".join(blocks) + "\n"


def _json_answer(
    prompt: str, schema: dict[str, Any] | None, rng: random.Random, keywords: list[str]
) -> dict[str, Any]:
    if schema and isinstance(schema.get("properties"), dict):
        return {
            name: _value_for(spec if isinstance(spec, dict) else {}, rng, keywords)
            for name, spec in schema["properties"].items()
        }
    return {
        "summary": _sentence(rng, keywords),
        "sentiment": rng.choice(["positive", "neutral", "negative"]),
        "confidence": round(rng.uniform(0.6, 0.99), 2),
        "keywords": keywords[:5],
        "prompt_tokens": estimate_tokens(prompt),
    }


def _value_for(spec: dict[str, Any], rng: random.Random, keywords: list[str]) -> Any:
    enum = spec.get("enum")  # a user's schema: anything may be in it
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    kind = spec.get("type", "string")
    if kind == "number":
        return round(rng.uniform(0, 1), 2)
    if kind == "integer":
        return rng.randint(1, 5)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return keywords[: rng.randint(1, 3)]
    if kind == "object":
        props = spec.get("properties")
        if not isinstance(props, dict):
            return {}
        return {str(k): _value_for(v if isinstance(v, dict) else {}, rng, keywords)
                for k, v in props.items()}
    return _sentence(rng, keywords)
