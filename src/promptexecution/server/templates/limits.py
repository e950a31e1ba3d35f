"""The bounds on one render, and the errors that name them (light: the server imports this,
while only the render workers import the sandbox itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import ApiError, template_error

MAX_OUTPUT_CHARS = 1_000_000

_WHY = {
    "time": "it ran longer than the render time limit",
    "memory": "it needed more memory than the render memory limit",
    "recursion": "it recursed too deeply",
    "process": "the render process stopped",
}


@dataclass(frozen=True)
class RenderLimits:
    """`render_timeout`, `render_memory_mib` and `render_workers` in server.toml."""

    timeout: float  # seconds of wall-clock time for one render or compile
    memory_mib: int  # address space a worker may grow by, beyond its own start-up size
    workers: int  # render processes kept running
    queue_timeout: float = 10.0  # seconds a render may wait for a free worker


def limit_error(limit: str, stage: str = "render", **details: Any) -> ApiError:
    """TEMPLATE_RENDER_LIMIT, naming the limit that was reached and the stage (compile or
    render) that reached it."""
    done = "compiled" if stage == "compile" else "rendered"
    return template_error(
        "TEMPLATE_RENDER_LIMIT",
        f"The template could not be {done}: {_WHY[limit]}; simplify it or its inputs",
        limit=limit,
        stage=stage,
        **details,
    )


def too_large() -> ApiError:
    return template_error(
        "RENDERED_PROMPT_TOO_LARGE",
        f"The rendered prompt exceeds {MAX_OUTPUT_CHARS:,} characters",
        limit=MAX_OUTPUT_CHARS,
    )
