# ruff: noqa: E501  (the spec's examples are pasted verbatim, long lines included)
"""The spec's Python examples, run as written against our server.

The example code below is pasted verbatim from `prompt-execution-api-v2.1.md` (only trailing
whitespace dropped; `test_the_examples_are_verbatim` checks it against the spec when the spec
is at hand). At run time only the placeholder key `pe_sk_live_abc123def456ghi789` and the
hosted URL `https://api.promptexecution.com/v2` are substituted; the SDK examples, which pass
no base URL, find our server through `PE_BASE_URL`. The raw-HTTP examples run on `requests`
when it is installed and also on a thin `requests` stand-in over httpx (`requests_shim`), so
they run either way. The seeded templates they call live on the server's local account.
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptexecution.client import ExecutionResult
from tests.client.faultproxy import Fault, FaultProxy
from tests.conftest import ServerHandle

# shared/ sits beside the repository, here and in CI.
SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "prompt-execution-api-v2.1.md"
PLACEHOLDER_KEY = "pe_sk_live_abc123def456ghi789"
HOSTED_URL = "https://api.promptexecution.com/v2"
CATEGORIES = {"billing", "shipping", "technical", "general"}

QUICK_START = '''\
from promptexecution import PromptExecutionClient

client = PromptExecutionClient(
    api_key='pe_sk_live_abc123def456ghi789',
    timeout=30,
    max_retries=3
)

# Simple execution
result = client.execute(
    template_id="greeting_template",
    variables={"name": "Alice"}
)
print(result.content)
'''

USE_CASE_1_SDK = '''\
from promptexecution import PromptExecutionClient
from promptexecution.exceptions import APIError

client = PromptExecutionClient(api_key='pe_sk_live_abc123def456ghi789')

def generate_blog_post(topic: str, keywords: list) -> dict:
    """Generate SEO-optimized blog post using template"""
    try:
        result = client.execute(
            template_id="blog_post_seo_v2",
            variables={
                "topic": topic,
                "keywords": keywords,
                "tone": "professional",
                "word_count": 1500
            },
            model_config={
                "temperature": 0.7,
                "max_tokens": 2000
            }
        )
        return result
    except APIError as e:
        print(f"Blog generation failed: {e}")
        raise

# Usage example
result = generate_blog_post(
    "AI in Healthcare",
    ["artificial intelligence", "medical diagnosis", "patient care"]
)
print(result.content)
'''

USE_CASE_2_SDK = '''\
from promptexecution import PromptExecutionClient
from promptexecution.exceptions import APIError, RateLimitError
import asyncio

class SupportAutomation:
    def __init__(self, api_key):
        self.client = PromptExecutionClient(api_key=api_key)

    async def classify_and_respond(self, customer_message, context):
        """Classify customer query and generate appropriate response"""

        try:
            # Step 1: Classify the query using async execution
            classification = await self.client.execute_async(
                template_id="support_classification_v3",
                variables={
                    "message": customer_message,
                    "customer_tier": context.get("tier", "standard")
                },
                model_config={
                    "temperature": 0.1  # Low temperature for consistent classification
                }
            )

            # Step 2: Generate response based on classification
            response = await self.client.execute_async(
                template_id=f"support_response_{classification['category']}",
                variables={
                    "message": customer_message,
                    "urgency": classification["urgency"],
                    "customer_name": context.get("name", "valued customer")
                }
            )

            return {
                "classification": classification,
                "response": response.content,
                "escalate": classification["urgency"] == "high"
            }

        except RateLimitError as e:
            # Handle rate limiting gracefully
            await asyncio.sleep(e.retry_after)
            return await self.classify_and_respond(customer_message, context)
        except APIError as e:
            print(f"Support automation error: {e}")
            return self._fallback_response(customer_message)

    def _fallback_response(self, message):
        """Fallback for API failures"""
        return {
            "classification": {"category": "general", "urgency": "medium"},
            "response": "Thank you for contacting us. A support representative will respond within 2 hours.",
            "escalate": True
        }

# Usage example
support = SupportAutomation("pe_sk_live_abc123def456ghi789")
result = await support.classify_and_respond(
    "My order hasn't arrived and I need it urgently for tomorrow",
    {"tier": "premium", "name": "Sarah Johnson"}
)
'''

USE_CASE_2_RAW_HTTP = '''\
import requests
import json

class SupportAutomation:
    def __init__(self, api_key):
        self.api_key = api_key
        self.base_url = "https://api.promptexecution.com/v2"

    def classify_and_respond(self, customer_message, context):
        """Classify customer query and generate appropriate response"""

        # Step 1: Classify the query
        classification = self.execute_prompt({
            "template_id": "support_classification_v3",
            "variables": {
                "message": customer_message,
                "customer_tier": context.get("tier", "standard")
            },
            "model_config": {
                "temperature": 0.1  # Low temperature for consistent classification
            }
        })

        # Step 2: Generate response based on classification
        response = self.execute_prompt({
            "template_id": f"support_response_{classification['category']}",
            "variables": {
                "message": customer_message,
                "urgency": classification["urgency"],
                "customer_name": context.get("name", "valued customer")
            }
        })

        return {
            "classification": classification,
            "response": response["content"],
            "escalate": classification["urgency"] == "high"
        }

    def execute_prompt(self, payload):
        """Helper method for API calls"""
        response = requests.post(
            f"{self.base_url}/execute",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json"
            },
            json=payload
        )
        return response.json()

# Usage example
support = SupportAutomation("pe_sk_live_abc123def456ghi789")
result = support.classify_and_respond(
    "My order hasn't arrived and I need it urgently for tomorrow",
    {"tier": "premium", "name": "Sarah Johnson"}
)
'''

EXECUTE_WITH_BACKOFF = '''\
import time
import random

def execute_with_backoff(payload, max_retries=5):
    """Execute API request with exponential backoff"""

    for attempt in range(max_retries):
        try:
            response = requests.post(
                "https://api.promptexecution.com/v2/execute",
                headers={"Authorization": f"Bearer {api_key}"},
                json=payload
            )

            if response.status_code == 429:
                # Rate limited - implement exponential backoff with jitter
                retry_after = int(response.headers.get('Retry-After', 60))
                jitter = random.uniform(0.1, 0.3) * retry_after
                sleep_time = min(retry_after + jitter, 300)  # Max 5 minutes

                print(f"Rate limited. Waiting {sleep_time:.1f} seconds...")
                time.sleep(sleep_time)
                continue

            response.raise_for_status()
            return response.json()

        except requests.exceptions.RequestException as e:
            if attempt == max_retries - 1:
                raise e

            # Exponential backoff for other errors
            wait_time = min(2 ** attempt + random.uniform(0, 1), 60)
            time.sleep(wait_time)
'''

OPTIMIZED_API_CLIENT = '''\
import requests
from requests.adapters import HTTPAdapter
from requests.packages.urllib3.util.retry import Retry

class OptimizedAPIClient:
    def __init__(self, api_key):
        self.api_key = api_key
        self.base_url = "https://api.promptexecution.com/v2"

        # Configure connection pooling and retries
        self.session = requests.Session()

        # Retry strategy for transient failures
        retry_strategy = Retry(
            total=3,
            backoff_factor=1,
            status_forcelist=[429, 500, 502, 503, 504],
            allowed_methods=["GET", "POST"]
        )

        adapter = HTTPAdapter(
            pool_connections=20,  # Number of connection pools
            pool_maxsize=20,      # Connections per pool
            max_retries=retry_strategy
        )

        self.session.mount("https://", adapter)
        self.session.headers.update({
            'Authorization': f'Bearer {api_key}',
            'Content-Type': 'application/json',
            'Connection': 'keep-alive'
        })

    def execute_prompt(self, payload):
        """Execute prompt with optimized connection handling"""
        response = self.session.post(
            f"{self.base_url}/execute",
            json=payload,
            timeout=(5, 30)  # (connect timeout, read timeout)
        )
        response.raise_for_status()
        return response.json()
'''

EXAMPLES = {
    "QUICK_START": QUICK_START,
    "USE_CASE_1_SDK": USE_CASE_1_SDK,
    "USE_CASE_2_SDK": USE_CASE_2_SDK,
    "USE_CASE_2_RAW_HTTP": USE_CASE_2_RAW_HTTP,
    "EXECUTE_WITH_BACKOFF": EXECUTE_WITH_BACKOFF,
    "OPTIMIZED_API_CLIENT": OPTIMIZED_API_CLIENT,
}


# ---------------------------------------------------------------------------- helpers


def prepare(example: str, *, key: str, url: str | None = None) -> str:
    """The example with only the placeholder key and the hosted URL replaced."""
    assert PLACEHOLDER_KEY in example or url is not None
    source = example.replace(PLACEHOLDER_KEY, key)
    if url is not None:
        assert HOSTED_URL in source
        source = source.replace(HOSTED_URL, url)
    return source


def run(source: str, name: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    namespace = {"__name__": f"spec_example_{name}", **(namespace or {})}
    exec(compile(source, f"<spec example {name}>", "exec"), namespace)
    return namespace


async def run_async(source: str, name: str) -> dict[str, Any]:
    """Runs an example with top-level `await` (as the spec writes it) on the running loop."""
    namespace: dict[str, Any] = {"__name__": f"spec_example_{name}"}
    code = compile(source, f"<spec example {name}>", "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    pending = eval(code, namespace)
    if inspect.iscoroutine(pending):
        await pending
    return namespace


def requests_shim() -> dict[str, types.ModuleType]:
    """A thin stand-in for `requests` over httpx: just what the spec's examples use.

    Retry and HTTPAdapter only record their settings (the examples mount them on https://,
    which a loopback test server never uses).
    """
    exceptions = types.ModuleType("requests.exceptions")

    class RequestException(OSError):
        def __init__(self, *args: Any, response: Any = None) -> None:
            super().__init__(*args)
            self.response = response

    class HTTPError(RequestException):
        pass

    class ConnectionError(RequestException):  # the name requests uses
        pass

    class Timeout(RequestException):
        pass

    for cls in (RequestException, HTTPError, ConnectionError, Timeout):
        setattr(exceptions, cls.__name__, cls)

    class Response:
        def __init__(self, response: httpx.Response) -> None:
            self._response = response
            self.status_code = response.status_code
            self.headers = response.headers
            self.text = response.text
            self.content = response.content
            self.url = str(response.url)

        @property
        def ok(self) -> bool:
            return self.status_code < 400

        def json(self) -> Any:
            return self._response.json()

        def raise_for_status(self) -> None:
            if self.status_code >= 400:
                raise HTTPError(f"{self.status_code} Error for url: {self.url}", response=self)

    def send(method: str, url: str, *, client: httpx.Client | None = None,
             headers: dict[str, str] | None = None, json: Any = None,
             timeout: float | tuple[float, float] | None = None) -> Response:
        if isinstance(timeout, tuple):
            limits = httpx.Timeout(timeout[1], connect=timeout[0])
        else:
            limits = httpx.Timeout(timeout)
        try:
            if client is not None:
                answer = client.request(method, url, headers=headers, json=json, timeout=limits)
            else:
                answer = httpx.request(method, url, headers=headers, json=json, timeout=limits)
        except httpx.TimeoutException as exc:
            raise Timeout(str(exc)) from exc
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc)) from exc
        return Response(answer)

    class HTTPAdapter:
        def __init__(self, pool_connections: int = 10, pool_maxsize: int = 10,
                     max_retries: Any = 0, pool_block: bool = False) -> None:
            self.pool_connections = pool_connections
            self.pool_maxsize = pool_maxsize
            self.max_retries = max_retries

    class Retry:
        def __init__(self, total: int = 10, backoff_factor: float = 0,
                     status_forcelist: Any = None, allowed_methods: Any = None,
                     **options: Any) -> None:
            self.total = total
            self.backoff_factor = backoff_factor
            self.status_forcelist = status_forcelist
            self.allowed_methods = allowed_methods

    class Session:
        def __init__(self) -> None:
            self.headers: dict[str, str] = {}
            self.adapters: dict[str, HTTPAdapter] = {}
            self._client = httpx.Client()

        def mount(self, prefix: str, adapter: HTTPAdapter) -> None:
            self.adapters[prefix] = adapter

        def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                    **options: Any) -> Response:
            merged = {**self.headers, **(headers or {})}
            return send(method, url, client=self._client, headers=merged, **options)

        def get(self, url: str, **options: Any) -> Response:
            return self.request("GET", url, **options)

        def post(self, url: str, **options: Any) -> Response:
            return self.request("POST", url, **options)

        def close(self) -> None:
            self._client.close()

    requests = types.ModuleType("requests")
    requests.post = lambda url, **options: send("POST", url, **options)  # type: ignore[attr-defined]
    requests.get = lambda url, **options: send("GET", url, **options)  # type: ignore[attr-defined]
    requests.Session = Session  # type: ignore[attr-defined]
    requests.Response = Response  # type: ignore[attr-defined]
    requests.RequestException = RequestException  # type: ignore[attr-defined]
    requests.HTTPError = HTTPError  # type: ignore[attr-defined]
    requests.exceptions = exceptions  # type: ignore[attr-defined]
    adapters = types.ModuleType("requests.adapters")
    adapters.HTTPAdapter = HTTPAdapter  # type: ignore[attr-defined]
    requests.adapters = adapters  # type: ignore[attr-defined]
    retry = types.ModuleType("requests.packages.urllib3.util.retry")
    retry.Retry = Retry  # type: ignore[attr-defined]
    util = types.ModuleType("requests.packages.urllib3.util")
    util.retry = retry  # type: ignore[attr-defined]
    util.Retry = Retry  # type: ignore[attr-defined]
    urllib3 = types.ModuleType("requests.packages.urllib3")
    urllib3.util = util  # type: ignore[attr-defined]
    packages = types.ModuleType("requests.packages")
    packages.urllib3 = urllib3  # type: ignore[attr-defined]
    requests.packages = packages  # type: ignore[attr-defined]
    return {
        "requests": requests,
        "requests.exceptions": exceptions,
        "requests.adapters": adapters,
        "requests.packages": packages,
        "requests.packages.urllib3": urllib3,
        "requests.packages.urllib3.util": util,
        "requests.packages.urllib3.util.retry": retry,
    }


@pytest.fixture(params=["requests", "shim"])
def requests_module(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                    ) -> Iterator[types.ModuleType]:
    """The `requests` the raw-HTTP examples import: the real one, or the stand-in."""
    if request.param == "requests":
        yield pytest.importorskip("requests")
        return
    modules = requests_shim()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    yield modules["requests"]


@pytest.fixture
def sdk_env(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> ServerHandle:
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    monkeypatch.delenv("PE_API_KEY", raising=False)
    monkeypatch.delenv("PROMPT_EXECUTION_API_KEY", raising=False)
    return server


# ---------------------------------------------------------------------------- the text


def test_the_examples_are_verbatim() -> None:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not here")
    spec = "\n".join(line.rstrip() for line in SPEC.read_text().splitlines())
    for name, example in EXAMPLES.items():
        assert "```python\n" + example + "```" in spec, f"{name} differs from the spec"


# ---------------------------------------------------------------------------- SDK examples


def test_sdk_quick_start(sdk_env: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = run(prepare(QUICK_START, key=sdk_env.local_key), "quick_start")
    result = namespace["result"]
    try:
        assert isinstance(result, ExecutionResult) and result.status == "completed"
        assert result.rendered_prompt is not None and "Alice" in result.rendered_prompt
        assert result.content and capsys.readouterr().out == result.content + "\n"
        assert namespace["client"].base_url == sdk_env.base_url
    finally:
        namespace["client"].close()


def test_use_case_1_sdk(sdk_env: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = run(prepare(USE_CASE_1_SDK, key=sdk_env.local_key), "use_case_1")
    result = namespace["result"]
    try:
        assert isinstance(result, ExecutionResult) and result.status == "completed"
        assert result.metadata is not None
        assert result.metadata.variables_used is not None
        assert result.metadata.variables_used["word_count"] == 1500
        assert result.rendered_prompt is not None
        assert "1500-word blog post about AI in Healthcare" in result.rendered_prompt
        assert "medical diagnosis" in result.rendered_prompt
        out = capsys.readouterr().out
        assert "Blog generation failed" not in out
        assert result.content and out == result.content + "\n"
    finally:
        namespace["client"].close()


async def test_use_case_2_sdk(sdk_env: ServerHandle, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = await run_async(prepare(USE_CASE_2_SDK, key=sdk_env.local_key), "use_case_2")
    try:
        assert "Support automation error" not in capsys.readouterr().out
        result = namespace["result"]
        classification = result["classification"]
        assert isinstance(classification, ExecutionResult), "the example fell back"
        assert classification.template_id is not None
        assert classification["category"] in CATEGORIES
        assert isinstance(result["response"], str) and result["response"]
        assert result["escalate"] is (classification["urgency"] == "high")
    finally:
        await namespace["support"].client.aclose()


# ---------------------------------------------------------------------------- raw HTTP examples


def test_use_case_2_raw_http(server: ServerHandle, requests_module: types.ModuleType) -> None:
    source = prepare(USE_CASE_2_RAW_HTTP, key=server.local_key, url=server.base_url)
    namespace = run(source, "use_case_2_raw")
    assert namespace["requests"] is requests_module
    result = namespace["result"]
    classification = result["classification"]
    assert isinstance(classification, dict) and classification["status"] == "completed"
    assert classification["category"] in CATEGORIES
    assert classification["urgency"] in {"low", "medium", "high"}
    assert isinstance(result["response"], str) and result["response"]
    assert result["escalate"] is (classification["urgency"] == "high")


def test_execute_with_backoff(server: ServerHandle, requests_module: types.ModuleType,
                              capsys: pytest.CaptureFixture[str]) -> None:
    payload = {"template_id": "greeting_template", "variables": {"name": "Alice"}}
    with FaultProxy(server.url) as proxy:
        proxy.then(Fault("status", 429, headers={"Retry-After": "0"}))
        source = prepare(EXECUTE_WITH_BACKOFF, key=server.local_key, url=proxy.url)
        namespace = run(source, "execute_with_backoff",
                        {"requests": requests_module, "api_key": server.local_key})
        result = namespace["execute_with_backoff"](payload)
        assert [s.response_status for s in proxy.requests("POST", "/execute")] == [429, 200]
        assert "Rate limited. Waiting 0.0 seconds..." in capsys.readouterr().out
        assert result["status"] == "completed" and result["content"]
        again = namespace["execute_with_backoff"]({"prompt": "Plain prompt"})
        assert again["rendered_prompt"] == "Plain prompt"


def test_optimized_api_client(server: ServerHandle, requests_module: types.ModuleType) -> None:
    source = prepare(OPTIMIZED_API_CLIENT, key=server.local_key, url=server.base_url)
    namespace = run(source, "optimized_api_client")
    client = namespace["OptimizedAPIClient"](server.local_key)
    try:
        result = client.execute_prompt({
            "template_id": "customer_response_template",
            "variables": {"message": "How do I reset my password?", "tone": "helpful"},
        })
        assert result["status"] == "completed" and result["content"]
        assert result["rendered_prompt"].startswith("Answer this customer question")
        with pytest.raises(requests_module.exceptions.RequestException) as info:
            client.execute_prompt({"template_id": "no_such_template"})
        assert info.value.response.status_code == 404
    finally:
        client.session.close()
