"""The interface every model provider implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FailureKind = Literal[
    "content_policy", "server_error", "timeout", "bad_request", "auth", "rate_limited"
]


@dataclass
class GenerationRequest:
    model: str
    prompt: str
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    response_format: str = "text"
    output_schema: dict[str, Any] | None = None
    stream: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # provider-specific knobs
    simulate: dict[str, Any] | None = None


@dataclass
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass
class Chunk:
    """A piece of generated text; the last chunk of a generation may carry usage and no text."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


class ProviderError(Exception):
    def __init__(
        self, kind: FailureKind, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}


class Provider(Protocol):
    name: str

    def generate(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Yields text chunks as they are produced; raises ProviderError on model failures."""
        ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """The spec's estimate: one token is about four characters."""
    return -(-len(text) // 4)
