"""The SDK stays light: no textual, no server code, and nothing heavy on `import`."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("textual", "promptexecution.server", "fastapi", "uvicorn", "jinja2", "starlette")


def _modules(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_sdk_imports_no_console_or_server() -> None:
    loaded = _modules(
        "import promptexecution, promptexecution.client, promptexecution.exceptions\n"
        "from promptexecution import AsyncPromptExecutionClient, PromptExecutionClient\n"
        "PromptExecutionClient(api_key='pe_sk_test_x', base_url='http://127.0.0.1:9/v2')\n"
        "AsyncPromptExecutionClient(api_key='pe_sk_test_x', base_url='http://127.0.0.1:9/v2')"
    )
    offenders = [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert offenders == []


def test_bare_import_defers_the_clients() -> None:
    loaded = _modules("import promptexecution")
    assert "httpx" not in loaded and "pydantic" not in loaded
