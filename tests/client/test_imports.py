"""The SDK stays light: it never imports the server, the console or their frameworks, and
`import promptexecution` alone loads neither httpx nor pydantic (the clients load lazily)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FORBIDDEN = ("textual", "promptexecution.server", "promptexecution.cli", "fastapi", "uvicorn",
             "jinja2", "starlette")


def loaded_modules(code: str) -> set[str]:
    """Runs `code` in a fresh interpreter and returns the modules it left loaded."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def offending(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if any(m == name or m.startswith(name + ".") for name in FORBIDDEN))


def test_the_sdk_imports_neither_the_server_nor_the_console() -> None:
    modules = loaded_modules("""
        import asyncio
        import promptexecution
        import promptexecution.client
        import promptexecution.exceptions
        from promptexecution import (
            AsyncPromptExecutionClient, PromptExecutionClient, SyncPromptExecutionClient,
        )
        from promptexecution.client import ExecutionResult, RateLimitState, RequestEvent

        url = "http://127.0.0.1:9/v2"
        sync = PromptExecutionClient(api_key="pe_sk_test_x", base_url=url, max_retries=0)
        blocking = SyncPromptExecutionClient(api_key="pe_sk_test_x", base_url=url)
        try:
            sync.models.list()
        except promptexecution.exceptions.APIConnectionError:
            pass
        sync.close()
        blocking.close()

        async def main():
            async with AsyncPromptExecutionClient(api_key="pe_sk_test_x", base_url=url,
                                                  max_retries=0) as client:
                async with client.stream(prompt="x") as stream:
                    pass

        try:
            asyncio.run(main())
        except promptexecution.exceptions.APIConnectionError:
            pass
        ExecutionResult.model_validate(
            {"execution_id": "e", "status": "completed", "created_at": "now"})
    """)
    assert "promptexecution.client" in modules and "httpx" in modules  # it did run
    assert "promptexecution.client.streaming" in modules
    assert offending(modules) == []


def test_import_promptexecution_alone_is_light() -> None:
    modules = loaded_modules("import promptexecution\nassert promptexecution.__version__")
    assert "promptexecution" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in ("httpx", "pydantic", "httpx_sse",
                                                             "pydantic_core", "anyio"))
    assert heavy == []
    assert offending(modules) == []
    assert "promptexecution.client" not in modules


def test_a_lazy_name_loads_on_first_use() -> None:
    modules = loaded_modules("""
        import promptexecution
        assert promptexecution.APIError.__name__ == "APIError"
        assert promptexecution.RateLimitState().limit is None
    """)
    assert "promptexecution.exceptions" in modules and "promptexecution.client" in modules
    assert offending(modules) == []
