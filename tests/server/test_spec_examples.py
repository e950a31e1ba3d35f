"""Every request the spec shows, sent as written (only the key and the base URL replaced), and
every field of the spec's example responses checked: presence, type, and the value wherever it
is deterministic.

The spec's raw-HTTP Python examples use `requests`, which is not a dependency: the same calls
(same URLs, headers and JSON bodies) are made with httpx.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, assert_error, running_server

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Burst-Limit",
    "X-RateLimit-Burst-Remaining",
)
SPEC_KEY = "pe_sk_live_abc123def456ghi789"  # the key every spec example uses
# shared/ sits beside the repository, here and in CI.
SPEC_PATH = Path(os.environ.get("PE_SPEC_PATH", Path(__file__).resolve().parents[3] / "shared"
                                / "spec" / "prompt-execution-api-v2.1.md"))
SUPPORT_CATEGORIES = {"billing", "shipping", "technical", "general"}

# --------------------------------------------------------------------------- the spec's bodies

# Section 4.1, "Complete Request Example" (the curl -d body, as written).
EXECUTE_4_1 = """{
    "template_id": "product_description_v3",
    "variables": {
      "product_name": "Wireless Noise-Canceling Headphones",
      "key_features": ["Active noise cancellation", "30-hour battery", "Premium sound quality"],
      "target_audience": "music enthusiasts",
      "tone": "professional yet engaging"
    },
    "model_config": {
      "temperature": 0.8,
      "max_tokens": 500,
      "top_p": 0.9
    },
    "response_format": "structured"
  }"""

# Section 4.2, "Request Example" (the curl -d body, as written: `\n` are JSON escapes).
TEMPLATE_4_2 = r"""{
    "name": "product_review_summary",
    "description": "Summarizes product reviews with sentiment analysis",
    "prompt": "Analyze these product reviews for {{product_name}}:\n\n{{reviews}}\n\nProvide:\n1. Overall sentiment (positive/negative/neutral)\n2. Key themes\n3. Improvement suggestions\n4. Rating prediction (1-5 stars)",
    "variables": [
      {
        "name": "product_name",
        "type": "string",
        "required": true,
        "description": "Name of the product being reviewed"
      },
      {
        "name": "reviews", 
        "type": "string",
        "required": true,
        "description": "Concatenated customer reviews"
      }
    ],
    "default_config": {
      "temperature": 0.3,
      "max_tokens": 800,
      "response_format": "structured"
    },
    "tags": ["analytics", "reviews", "sentiment"]
  }"""  # noqa: E501 - the spec's line, as written

# Section 4.3: the variables its example execution reports in `metadata.variables_used`.
VARIABLES_4_3 = {
    "product_name": "Wireless Noise-Canceling Headphones",
    "reviews": "[247 reviews processed]",
}

# Section 3, use case 1, "Raw HTTP Example" (fetch body), with the usage example's arguments
# ("AI in Healthcare" and its three keywords) in place of `topic` and `keywords`.
USE_CASE_1_TOPIC = "AI in Healthcare"
USE_CASE_1_KEYWORDS = ["artificial intelligence", "medical diagnosis", "patient care"]
USE_CASE_1 = {
    "template_id": "blog_post_seo_v2",
    "variables": {
        "topic": USE_CASE_1_TOPIC,
        "keywords": USE_CASE_1_KEYWORDS,
        "tone": "professional",
        "word_count": 1500,
    },
    "model_config": {
        "temperature": 0.7,
        "max_tokens": 2000,
    },
}

# Section 3, use case 2: the usage example's arguments.
USE_CASE_2_MESSAGE = "My order hasn't arrived and I need it urgently for tomorrow"
USE_CASE_2_CONTEXT = {"tier": "premium", "name": "Sarah Johnson"}

# Section 8, "Caching Strategies": the body of the cached call.
SECTION_8_CUSTOMER_RESPONSE = {
    "template_id": "customer_response_template",
    "variables": {"message": "How do I reset my password?", "tone": "helpful"},
}
# Section 8, "Asynchronous Processing Patterns": one payload per review. The spec leaves
# `customer_reviews` undefined; these are the reviews of use case 3.
CUSTOMER_REVIEWS = ["Great product, fast shipping!", "Poor quality, disappointed"]
# Section 8, "Performance Metrics Collection": `analysisData` is undefined in the spec.
ANALYSIS_DATA = "Q1 revenue 120k, Q2 revenue 135k, churn 3.1%, NPS 41"
SECTION_8_ANALYSIS = {"template_id": "analysis_template", "variables": {"data": ANALYSIS_DATA}}

# The SDK quick starts (PHP array / Go struct spell the wire names): greeting_template.
QUICK_START = {"template_id": "greeting_template", "variables": {"name": "Alice"}}

# A request that counts against the limits on any account (new accounts have no templates).
RAW_PROMPT = {"prompt": "Write a warm, two-sentence greeting for Alice."}

# Section 5, "Standard error responses": the expected error.
MISSING_FIELD_MESSAGE = "The 'template_id' or 'prompt' field is required"
# Section 5, "Authentication Errors (401)".
INVALID_KEY_MESSAGE = "The provided API key is invalid or expired"
# Section 5, "Validation Errors (400)".
VARIABLE_MISSING_MESSAGE = "Required template variable 'customer_name' not provided"
# Section 5, "Rate Limiting Errors (429)".
HOURLY_LIMIT_MESSAGE = "You have exceeded your hourly rate limit of 1,000 requests"
# Section 5, "Model Execution Failures".
CONTENT_POLICY = {
    "message": "The prompt violates content policy guidelines",
    "violation_type": "harmful_content",
    "suggestion": "Modify prompt to remove potentially harmful instructions",
}


# --------------------------------------------------------------------------- helpers


def post_raw(c: httpx.Client, path: str, raw: str) -> httpx.Response:
    """Like curl -d: the body exactly as written, with the spec's Content-Type header."""
    return c.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})


def check_iso(value: Any) -> datetime:
    assert isinstance(value, str) and ISO_Z.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def check_rate_headers(response: httpx.Response) -> None:
    for header in RATE_HEADERS:
        assert header in response.headers, (header, dict(response.headers))
    int(response.headers["X-RateLimit-Reset"])  # an epoch second, like 1705312800
    int(response.headers["X-RateLimit-Burst-Limit"])
    int(response.headers["X-RateLimit-Burst-Remaining"])


def check_execution(body: dict[str, Any]) -> None:
    """The fields of section 4.1's response example, with their types."""
    assert isinstance(body["execution_id"], str) and body["execution_id"].startswith("exec_")
    assert body["status"] == "completed"
    assert isinstance(body["content"], str) and body["content"]
    metadata = body["metadata"]
    assert isinstance(metadata["tokens_used"], int) and not isinstance(
        metadata["tokens_used"], bool
    )
    assert metadata["tokens_used"] > 0
    assert isinstance(metadata["execution_time"], int | float) and metadata["execution_time"] >= 0
    assert isinstance(metadata["model"], str) and metadata["model"]
    assert isinstance(metadata["cost"], int | float) and metadata["cost"] >= 0
    check_iso(body["created_at"])


def wait_for_fresh_window(seconds_needed: float) -> None:
    """Rate windows are fixed UTC minutes and hours: start a counting test early enough in a
    minute (and hour) that the window cannot roll over under it."""
    now = time.time()
    if 60 - now % 60 < seconds_needed:
        time.sleep(60 - now % 60 + 0.05)


# --------------------------------------------------------------------------- the literals


@pytest.mark.skipif(not SPEC_PATH.exists(), reason="the spec document is not available here")
def test_raw_bodies_are_copied_verbatim_from_the_spec() -> None:
    spec = SPEC_PATH.read_text()
    for raw in (EXECUTE_4_1, TEMPLATE_4_2):
        assert f"-d '{raw}'" in spec
    for message in (MISSING_FIELD_MESSAGE, INVALID_KEY_MESSAGE, VARIABLE_MISSING_MESSAGE,
                    HOURLY_LIMIT_MESSAGE, *CONTENT_POLICY.values()):
        assert f'"{message}"' in spec, message


# --------------------------------------------------------------------------- section 2


def test_auth_verify_section_2(server: ServerHandle) -> None:
    key = server.make_key("professional")
    # Section 2, "Testing authentication": a GET with both headers of the curl example.
    response = httpx.get(
        f"{server.base_url}/auth/verify",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert isinstance(body["account_id"], str) and body["account_id"].startswith("acc_")
    assert body["plan"] == "professional"
    assert body["permissions"] == ["execute", "batch", "templates"]
    assert body["rate_limit"] == {"requests_per_hour": 10000, "remaining": 10000}
    check_rate_headers(response)

    with server.client(key) as c:
        counted = c.post("/execute", json=RAW_PROMPT)  # counts against the hour
        assert counted.status_code == 200, counted.text
        again = c.get("/auth/verify").json()
    assert again["account_id"] == body["account_id"]
    assert again["rate_limit"] == {"requests_per_hour": 10000, "remaining": 9999}


def test_auth_verify_other_plans(server: ServerHandle, client: httpx.Client) -> None:
    with server.client(server.make_key("basic", ("execute",))) as c:
        body = c.get("/auth/verify").json()
    assert body["plan"] == "basic" and body["permissions"] == ["execute"]
    assert body["rate_limit"] == {"requests_per_hour": 1000, "remaining": 1000}
    local = client.get("/auth/verify").json()
    assert local["valid"] is True and local["plan"] == "enterprise"
    assert local["account_id"].startswith("acc_")
    assert set(local["rate_limit"]) == {"requests_per_hour", "remaining"}


# --------------------------------------------------------------------------- section 4.1


def test_execute_section_4_1(client: httpx.Client) -> None:
    response = post_raw(client, "/execute", EXECUTE_4_1)
    assert response.status_code == 200, response.text
    body = response.json()
    check_execution(body)
    # "structured": the content is a JSON document.
    parsed = json.loads(body["content"])
    assert isinstance(parsed, dict) and parsed
    assert body["metadata"]["response_format"] == "structured"
    assert body["metadata"]["output_tokens"] <= 500  # model_config.max_tokens
    sent = json.loads(EXECUTE_4_1)["variables"]
    assert body["metadata"]["variables_used"] == sent
    assert "Wireless Noise-Canceling Headphones" in body["rendered_prompt"]
    assert "professional yet engaging" in body["rendered_prompt"]
    for feature in sent["key_features"]:
        assert feature in body["rendered_prompt"]
    check_rate_headers(response)

    # The same execution is now in the history, as 4.3 reads it.
    stored = client.get(f"/executions/{body['execution_id']}").json()
    assert stored["content"] == body["content"]
    assert stored["status"] == "completed"


def test_execute_is_deterministic_for_the_same_body(client: httpx.Client) -> None:
    first = post_raw(client, "/execute", EXECUTE_4_1).json()
    second = post_raw(client, "/execute", EXECUTE_4_1).json()
    assert first["execution_id"] != second["execution_id"]
    assert first["content"] == second["content"]


# --------------------------------------------------------------------------- section 3


def test_use_case_1_raw_http(server: ServerHandle) -> None:
    # The fetch example: POST with both headers and the JSON body.
    response = httpx.post(
        f"{server.base_url}/execute",
        headers={
            "Authorization": f"Bearer {server.local_key}",
            "Content-Type": "application/json",
        },
        content=json.dumps(USE_CASE_1),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    check_execution(body)
    assert body["template_id"].startswith("tmpl_")
    assert body["metadata"]["variables_used"] == USE_CASE_1["variables"]
    prompt = body["rendered_prompt"]
    assert "1500-word" in prompt and USE_CASE_1_TOPIC in prompt and "professional" in prompt
    assert ", ".join(USE_CASE_1_KEYWORDS) in prompt


class SupportAutomation:
    """Section 3, use case 2, "Raw HTTP Example", with httpx in place of requests."""

    def __init__(self, api_key: str, base_url: str) -> None:
        self.api_key = api_key
        self.base_url = base_url  # the spec's "https://api.promptexecution.com/v2"
        self.responses: list[httpx.Response] = []

    def classify_and_respond(self, customer_message: str, context: dict[str, str]) -> Any:
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

    def execute_prompt(self, payload: dict[str, Any]) -> Any:
        """Helper method for API calls"""
        response = httpx.post(
            f"{self.base_url}/execute",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json"
            },
            json=payload,
            timeout=30,
        )
        self.responses.append(response)
        return response.json()


def test_use_case_2_raw_http(server: ServerHandle) -> None:
    support = SupportAutomation(server.local_key, server.base_url)
    result = support.classify_and_respond(USE_CASE_2_MESSAGE, USE_CASE_2_CONTEXT)
    classify, respond = support.responses
    assert classify.status_code == 200, classify.text
    assert respond.status_code == 200, respond.text

    classification = result["classification"]
    check_execution(classification)
    # The example reads the classification's fields from the top level of the response.
    assert classification["category"] in SUPPORT_CATEGORIES
    assert classification["urgency"] in {"low", "medium", "high"}
    assert json.loads(classification["content"])["category"] == classification["category"]
    assert classification["metadata"]["variables_used"] == {
        "message": USE_CASE_2_MESSAGE, "customer_tier": "premium",
    }

    answer = respond.json()
    check_execution(answer)
    assert isinstance(result["response"], str) and result["response"] == answer["content"]
    assert result["escalate"] is (classification["urgency"] == "high")
    assert "Sarah Johnson" in answer["rendered_prompt"]
    assert f"Urgency: {classification['urgency']}" in answer["rendered_prompt"]
    assert classification["category"] in answer["rendered_prompt"]


@pytest.mark.parametrize("category", sorted(SUPPORT_CATEGORIES))
def test_use_case_2_every_response_template(client: httpx.Client, category: str) -> None:
    # Step 2's body for whichever category step 1 returns.
    response = client.post("/execute", json={
        "template_id": f"support_response_{category}",
        "variables": {
            "message": USE_CASE_2_MESSAGE,
            "urgency": "high",
            "customer_name": USE_CASE_2_CONTEXT.get("name", "valued customer"),
        },
    })
    assert response.status_code == 200, response.text
    check_execution(response.json())


def test_use_case_2_sdk_body_with_default_tier(client: httpx.Client) -> None:
    # The SDK example's step 1 when the context has no tier: "standard".
    response = client.post("/execute", json={
        "template_id": "support_classification_v3",
        "variables": {"message": USE_CASE_2_MESSAGE, "customer_tier": "standard"},
        "model_config": {"temperature": 0.1},
    })
    assert response.status_code == 200, response.text
    check_execution(response.json())


# --------------------------------------------------------------------------- section 8


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(SECTION_8_CUSTOMER_RESPONSE, id="8-caching-customer_response_template"),
        pytest.param(SECTION_8_ANALYSIS, id="8-monitoring-analysis_template"),
        pytest.param({"template_id": "sentiment_analysis",
                      "variables": {"text": CUSTOMER_REVIEWS[0]}}, id="8-async-sentiment"),
        pytest.param(QUICK_START, id="quick-start-greeting_template"),
    ],
)
def test_section_8_and_quick_start_bodies(client: httpx.Client, payload: dict[str, Any]) -> None:
    response = client.post("/execute", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    check_execution(body)
    assert body["metadata"]["variables_used"] == payload["variables"]
    for value in payload["variables"].values():
        assert value in body["rendered_prompt"]


class OptimizedAPIClient:
    """Section 8, "Connection Management", with an httpx.Client for the requests.Session:
    pooled keep-alive connections, transport retries, (connect 5 s, read 30 s) timeouts."""

    def __init__(self, api_key: str, base_url: str) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.session = httpx.Client(
            transport=httpx.HTTPTransport(
                retries=3, limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
            ),
            timeout=httpx.Timeout(30, connect=5),
        )
        self.session.headers.update({
            'Authorization': f'Bearer {api_key}',
            'Content-Type': 'application/json',
            'Connection': 'keep-alive'
        })

    def execute_prompt(self, payload: dict[str, Any]) -> Any:
        """Execute prompt with optimized connection handling"""
        response = self.session.post(f"{self.base_url}/execute", json=payload)
        response.raise_for_status()
        return response.json()


def test_section_8_connection_management(server: ServerHandle) -> None:
    api = OptimizedAPIClient(server.local_key, server.base_url)
    try:
        results = [api.execute_prompt(SECTION_8_CUSTOMER_RESPONSE) for _ in range(3)]
    finally:
        api.session.close()
    for result in results:
        check_execution(result)
    # The cache example keys on (template, variables): the same call gives the same content.
    assert len({r["content"] for r in results}) == 1
    assert len({r["execution_id"] for r in results}) == 3


def test_section_8_async_batch_processor(server: ServerHandle) -> None:
    """Section 8, "Asynchronous Processing Patterns": concurrent POST /execute with only the
    Authorization header, at most `max_concurrent` in flight (threads instead of aiohttp)."""
    semaphore = threading.Semaphore(10)

    def execute_single(payload: dict[str, Any]) -> dict[str, Any]:
        with semaphore:
            try:
                response = httpx.post(
                    f"{server.base_url}/execute",
                    json=payload,
                    headers={'Authorization': f'Bearer {server.local_key}'},
                    timeout=30,
                )
                result = response.json()
                return {'success': response.status_code == 200, 'payload': payload,
                        'result': result}
            except Exception as e:  # the spec's example turns every failure into a result
                return {'success': False, 'payload': payload, 'error': str(e)}

    payloads = [
        {
            'template_id': 'sentiment_analysis',
            'variables': {'text': review}
        }
        for review in CUSTOMER_REVIEWS * 6
    ]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(execute_single, payloads))
    successful = [r for r in results if r.get('success')]
    assert len(successful) / len(results) == 1.0, [r for r in results if not r["success"]]
    for r in successful:
        check_execution(r["result"])
        assert r["payload"]["variables"]["text"] in r["result"]["rendered_prompt"]


def test_section_8_monitoring_reads_cost(client: httpx.Client) -> None:
    # `this.metrics.costs += result.metadata?.cost || 0`: cost is a number on every result.
    total = 0.0
    for _ in range(2):
        result = client.post("/execute", json=SECTION_8_ANALYSIS).json()
        total += result["metadata"]["cost"]
    assert total > 0


# --------------------------------------------------------------------------- section 4.2


def test_create_template_section_4_2(server: ServerHandle) -> None:
    # The local account already has a seeded product_review_summary: use a new account.
    with server.client(server.make_key("professional")) as c:
        response = post_raw(c, "/templates", TEMPLATE_4_2)
        assert response.status_code in (200, 201), response.text
        body = response.json()
        assert isinstance(body["template_id"], str) and body["template_id"].startswith("tmpl_")
        assert body["name"] == "product_review_summary"
        assert body["version"] == "1.0"
        assert body["status"] == "active"
        check_iso(body["created_at"])
        assert body["url"] == f"{server.base_url}/templates/{body['template_id']}"
        check_rate_headers(response)

        # The stored template is the body as sent (the `\n` escapes became newlines).
        sent = json.loads(TEMPLATE_4_2)
        stored = c.get(body["url"]).json()
        assert stored["prompt"] == sent["prompt"] and "\n\n{{reviews}}\n\n" in stored["prompt"]
        assert stored["description"] == sent["description"]
        assert stored["tags"] == sent["tags"]
        assert stored["default_config"] == sent["default_config"]
        assert stored["variables"] == sent["variables"]

        # The name is unique: the same body again is a conflict.
        again = post_raw(c, "/templates", TEMPLATE_4_2)
        error = assert_error(again, 409, "conflict_error", "TEMPLATE_NAME_TAKEN")
        assert "product_review_summary" in error["message"]


# --------------------------------------------------------------------------- section 4.3


def test_get_execution_section_4_3(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        template = post_raw(c, "/templates", TEMPLATE_4_2).json()
        created = c.post("/execute", json={"template_id": template["template_id"],
                                           "variables": VARIABLES_4_3})
        assert created.status_code == 200, created.text
        execution_id = created.json()["execution_id"]

        # Section 4.3's request, as written.
        response = c.get(f"/executions/{execution_id}?include_content=true&include_metadata=true")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["execution_id"] == execution_id
        assert body["template_id"] == template["template_id"]
        assert body["status"] == "completed"
        assert isinstance(body["content"], str) and body["content"]
        json.loads(body["content"])  # the template's default_config asks for "structured"
        metadata = body["metadata"]
        assert isinstance(metadata["tokens_used"], int) and metadata["tokens_used"] > 0
        assert isinstance(metadata["execution_time"], int | float)
        assert isinstance(metadata["model"], str) and metadata["model"]
        assert isinstance(metadata["cost"], int | float) and metadata["cost"] > 0
        assert metadata["variables_used"] == VARIABLES_4_3
        created_at = check_iso(body["created_at"])
        completed_at = check_iso(body["completed_at"])
        assert created_at <= completed_at
        for field, value in created.json().items():  # what POST /execute returned, unchanged
            assert body[field] == value, field
        check_rate_headers(response)

        without_content = c.get(
            f"/executions/{execution_id}", params={"include_content": "false"}
        ).json()
        assert "content" not in without_content
        assert without_content["metadata"] == metadata
        without_metadata = c.get(
            f"/executions/{execution_id}?include_metadata=false"
        ).json()
        assert "metadata" not in without_metadata
        assert without_metadata["content"] == body["content"]
        neither = c.get(
            f"/executions/{execution_id}?include_content=false&include_metadata=false"
        ).json()
        assert "content" not in neither and "metadata" not in neither
        for field in ("execution_id", "template_id", "status", "created_at", "completed_at"):
            assert neither[field] == body[field], field

        # An id that does not exist (the spec's example id) is a 404 in the spec's shape.
        assert_error(c.get("/executions/exec_456def789"), 404, "not_found_error",
                     "EXECUTION_NOT_FOUND")


# --------------------------------------------------------------------------- section 4.4


def test_list_executions_section_4_4(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        template_id = post_raw(c, "/templates", TEMPLATE_4_2).json()["template_id"]
        created = []
        for i in range(12):
            response = c.post("/execute", json={
                "template_id": template_id,
                "variables": {**VARIABLES_4_3, "reviews": f"[{i} reviews processed]"},
            })
            assert response.status_code == 200, response.text
            created.append(response.json()["execution_id"])
        # Noise the filters must drop: a failed run of the template, and a raw prompt.
        failed = c.post("/execute", json={
            "template_id": template_id, "variables": VARIABLES_4_3,
            "model_config": {"simulate": {"fail": "content_policy"}},
        })
        assert failed.status_code == 400
        assert c.post("/execute", json={"prompt": "Not from a template"}).status_code == 200

        # Section 4.4's request, as written (with this account's template id).
        response = c.get(f"/executions?limit=10&status=completed&template_id={template_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) >= {"executions", "pagination"}
        spec_keys = ("total", "limit", "offset", "has_more")  # and our keyset cursors
        assert {k: body["pagination"][k] for k in spec_keys} == {
            "total": 12, "limit": 10, "offset": 0, "has_more": True}
        items = body["executions"]
        assert [i["execution_id"] for i in items] == created[::-1][:10]  # newest first
        for item in items:
            assert item["execution_id"].startswith("exec_")
            assert item["template_id"] == template_id
            assert item["status"] == "completed"
            assert isinstance(item["tokens_used"], int) and item["tokens_used"] > 0
            assert isinstance(item["cost"], int | float) and item["cost"] > 0
            check_iso(item["created_at"])
        check_rate_headers(response)

        rest = c.get("/executions", params={"limit": 10, "offset": 10, "status": "completed",
                                            "template_id": template_id}).json()
        assert {k: rest["pagination"][k] for k in spec_keys} == {
            "total": 12, "limit": 10, "offset": 10, "has_more": False}
        assert [i["execution_id"] for i in rest["executions"]] == created[::-1][10:]

        # The template's name works as its id, and the other filters count exactly.
        by_name = c.get("/executions", params={"template_id": "product_review_summary",
                                               "status": "completed", "limit": 100}).json()
        assert by_name["pagination"]["total"] == 12
        everything = c.get("/executions").json()["pagination"]
        assert {k: everything[k] for k in spec_keys} == {
            "total": 14, "limit": 20, "offset": 0, "has_more": False}
        failed_only = c.get("/executions", params={"status": "failed"}).json()
        assert failed_only["pagination"]["total"] == 1
        assert failed_only["executions"][0]["status"] == "failed"
        # date_from / date_to (ISO 8601), as the parameter table shows them.
        old = c.get("/executions", params={"date_from": "2024-01-01T00:00:00Z",
                                           "date_to": "2024-01-15T23:59:59Z"}).json()
        assert old["pagination"]["total"] == 0 and old["executions"] == []
        recent = c.get("/executions", params={"date_from": "2024-01-01T00:00:00Z"}).json()
        assert recent["pagination"]["total"] == 14


# --------------------------------------------------------------------------- section 6


def test_rate_limits_section_6(server: ServerHandle) -> None:
    wait_for_fresh_window(3)
    with server.client(server.make_key("professional")) as c:
        posted = c.post("/execute", json=RAW_PROMPT)
        assert posted.status_code == 200, posted.text
        # The section 6 header block: limit, remaining, reset, burst limit, burst remaining.
        check_rate_headers(posted)
        assert posted.headers["X-RateLimit-Limit"] == "10000"
        assert posted.headers["X-RateLimit-Remaining"] == "9999"
        assert posted.headers["X-RateLimit-Burst-Limit"] == "500"
        assert posted.headers["X-RateLimit-Burst-Remaining"] == "499"

        # Section 6, "Check Current Usage", as written.
        response = c.get("/rate-limits")
        assert response.status_code == 200, response.text
        body = response.json()
    assert set(body) >= {"hourly", "burst", "concurrent"}
    hourly = body["hourly"]
    assert {k: hourly[k] for k in ("limit", "used", "remaining")} == {
        "limit": 10000, "used": 1, "remaining": 9999,
    }
    reset = check_iso(hourly["reset_time"])
    assert hourly["reset_time"].endswith(":00:00Z")  # the top of the next hour
    assert int(reset.timestamp()) == int(posted.headers["X-RateLimit-Reset"])
    assert 0 < reset.timestamp() - time.time() <= 3600
    assert body["burst"] == {"limit": 500, "used": 1, "remaining": 499, "window": "1_minute"}
    assert body["concurrent"] == {"limit": 50, "active": 0, "available": 50}
    check_rate_headers(response)


def test_rate_limit_headers_on_every_authenticated_response(
    server: ServerHandle, client: httpx.Client
) -> None:
    responses = [
        client.get("/auth/verify"),
        client.get("/rate-limits"),
        client.get("/executions?limit=1"),
        client.get("/templates"),
        client.get("/executions/exec_does_not_exist"),  # an error
        client.post("/execute", json={}),  # a validation error
        client.post("/execute", json=QUICK_START),
    ]
    for response in responses:
        check_rate_headers(response)
    assert responses[0].headers["X-RateLimit-Limit"] == "unlimited"  # the enterprise plan
    assert responses[0].headers["X-RateLimit-Burst-Limit"] == "2000"


def test_rate_limits_count_concurrent_executions(server: ServerHandle) -> None:
    key = server.make_key("professional")
    slow = {"prompt": "Take your time", "model_config": {"simulate": {"latency_ms": 1500}}}
    with server.client(key) as c, ThreadPoolExecutor(1) as pool:
        running = pool.submit(c.post, "/execute", json=slow)
        seen = None
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            seen = c.get("/rate-limits").json()["concurrent"]
            if seen["active"]:
                break
            time.sleep(0.02)
        assert seen == {"limit": 50, "active": 1, "available": 49}
        assert running.result().status_code == 200
        assert c.get("/rate-limits").json()["concurrent"] == {
            "limit": 50, "active": 0, "available": 50,
        }


# --------------------------------------------------------------------------- section 5


def test_missing_template_id_or_prompt(client: httpx.Client) -> None:
    for body in ({}, {"variables": {"name": "Alice"}}, {"template_id": None, "prompt": None}):
        response = client.post("/execute", json=body)
        error = assert_error(response, 400, "validation_error", "MISSING_REQUIRED_FIELD")
        assert error["message"] == MISSING_FIELD_MESSAGE
        assert error["details"] == {
            "field": "template_id", "provided_value": None, "expected_type": "string",
        }
        assert set(error) == {"type", "code", "message", "details", "request_id", "timestamp"}


def test_invalid_api_key(server: ServerHandle) -> None:
    # The spec's example key: well-formed, but no such key here.
    response = httpx.get(f"{server.base_url}/auth/verify",
                         headers={"Authorization": f"Bearer {SPEC_KEY}",
                                  "Content-Type": "application/json"})
    error = assert_error(response, 401, "authentication_error", "INVALID_API_KEY")
    assert error["message"] == INVALID_KEY_MESSAGE
    response = httpx.post(f"{server.base_url}/execute", json=QUICK_START,
                          headers={"Authorization": "Bearer pe_sk_test_000000000000000000"})
    error = assert_error(response, 401, "authentication_error", "INVALID_API_KEY")
    assert error["message"] == INVALID_KEY_MESSAGE
    # A key of the wrong format: the same code, and the message starts the same way.
    response = httpx.get(f"{server.base_url}/auth/verify",
                         headers={"Authorization": "Bearer sk-not-ours"})
    error = assert_error(response, 401, "authentication_error", "INVALID_API_KEY")
    assert error["message"].startswith(INVALID_KEY_MESSAGE)


def test_template_variable_missing(client: httpx.Client) -> None:
    response = client.post("/execute", json={
        "template_id": "customer_email_response",
        "variables": {"message": "Where is my refund?", "tone": "friendly"},
    })
    error = assert_error(response, 400, "validation_error", "TEMPLATE_VARIABLE_MISSING")
    assert error["message"] == VARIABLE_MISSING_MESSAGE
    assert error["details"] == {
        "missing_variables": ["customer_name"],
        "provided_variables": ["message", "tone"],
    }


def test_variable_substitution_failed_seeded_template(client: httpx.Client) -> None:
    response = client.post("/execute", json={
        "template_id": "weekly_report",
        "variables": {"date_range": {"end": "2024-01-15"}},
    })
    error = assert_error(response, 400, "template_error", "VARIABLE_SUBSTITUTION_FAILED")
    assert error["message"].startswith("Template variable substitution failed")
    assert error["details"]["problematic_variables"] == ["date_range"]
    assert re.fullmatch(r"line \d+: \{\{ ?date_range\.start ?\}\}",
                        error["details"]["template_section"]), error["details"]


def test_variable_substitution_failed_on_line_15(server: ServerHandle) -> None:
    """The spec's example exactly: `{{date_range.start}}` on line 15 of a template."""
    prompt = "\n".join([f"Line {n} of the report header." for n in range(1, 15)]
                       + ["{{date_range.start}}", "Thanks."])
    with server.client(server.make_key("professional")) as c:
        created = c.post("/templates", json={
            "name": "report_with_dates",
            "prompt": prompt,
            "variables": [{"name": "date_range", "type": "object", "required": True}],
        })
        assert created.status_code in (200, 201), created.text
        response = c.post("/execute", json={
            "template_id": "report_with_dates",
            "variables": {"date_range": {"end": "2024-01-15T23:59:59Z"}},
        })
    error = assert_error(response, 400, "template_error", "VARIABLE_SUBSTITUTION_FAILED")
    assert error["details"] == {
        "problematic_variables": ["date_range"],
        "template_section": "line 15: {{date_range.start}}",
    }


def test_content_policy_violation(client: httpx.Client) -> None:
    response = client.post("/execute", json={
        "prompt": "Write something the policy forbids",
        "model_config": {"simulate": {"fail": "content_policy"}},
    })
    error = assert_error(response, 400, "execution_error", "CONTENT_POLICY_VIOLATION")
    assert error["message"] == CONTENT_POLICY["message"]
    assert error["details"]["violation_type"] == CONTENT_POLICY["violation_type"]
    assert error["details"]["suggestion"] == CONTENT_POLICY["suggestion"]
    # The failed execution is stored, with its error.
    execution_id = error["details"]["execution_id"]
    stored = client.get(f"/executions/{execution_id}").json()
    assert stored["status"] == "failed"
    assert stored["error"]["code"] == "CONTENT_POLICY_VIOLATION"


def _check_429(response: httpx.Response, code: str, limit: int) -> dict[str, Any]:
    error = assert_error(response, 429, "rate_limit_error", code)
    details = error["details"]
    assert details["limit"] == limit
    reset = check_iso(details["reset_time"])
    retry_after = details["retry_after"]
    assert isinstance(retry_after, int) and retry_after >= 1
    # The spec's retry code does int(response.headers.get('Retry-After', 60)).
    assert int(response.headers["Retry-After"]) == retry_after
    assert abs(reset.timestamp() - (time.time() + retry_after)) <= 2
    check_rate_headers(response)
    return error


def test_rate_limit_errors(tmp_path: Path) -> None:
    config = ServerConfig(plans={
        "basic": {"burst_per_minute": 2},
        "professional": {"requests_per_hour": 1000, "burst_per_minute": 5000},
    })
    with running_server(tmp_path / "limited", config=config) as limited:
        # Burst: two requests a minute on this basic plan; the third is refused.
        wait_for_fresh_window(3)
        with limited.client(limited.make_key("basic")) as c:
            first = [c.post("/execute", json=RAW_PROMPT) for _ in range(2)]
            assert [r.status_code for r in first] == [200, 200]
            assert first[1].headers["X-RateLimit-Burst-Remaining"] == "0"
            refused = c.post("/execute", json=RAW_PROMPT)
            error = _check_429(refused, "BURST_LIMIT_EXCEEDED", 2)
            assert error["details"]["retry_after"] <= 60
            assert refused.headers["X-RateLimit-Burst-Remaining"] == "0"
            # Reads still work while the burst window is full.
            assert c.get("/rate-limits").json()["burst"]["remaining"] == 0

        # Hourly: the spec's example (1,000 requests an hour) word for word.
        if 3600 - time.time() % 3600 < 15:  # not across the top of the hour
            time.sleep(3600 - time.time() % 3600 + 0.05)
        with limited.client(limited.make_key("professional")) as c:
            for _ in range(1000):
                assert c.post("/execute", json={}).status_code == 400  # counted all the same
            refused = c.post("/execute", json=RAW_PROMPT)
            error = _check_429(refused, "HOURLY_LIMIT_EXCEEDED", 1000)
            assert error["message"] == HOURLY_LIMIT_MESSAGE
            assert error["details"]["reset_time"].endswith(":00:00Z")
            assert error["details"]["retry_after"] <= 3600
            assert refused.headers["X-RateLimit-Remaining"] == "0"
            assert c.get("/rate-limits").json()["hourly"]["remaining"] == 0


def test_execute_with_backoff_section_6(server: ServerHandle) -> None:
    """Section 6, "Intelligent Retry Implementation": a POST with only the Authorization
    header; a success returns the JSON on the first attempt."""
    api_key = server.local_key

    def execute_with_backoff(payload: dict[str, Any], max_retries: int = 5) -> Any:
        for attempt in range(max_retries):
            try:
                response = httpx.post(
                    f"{server.base_url}/execute",
                    headers={"Authorization": f"Bearer {api_key}"},
                    json=payload,
                )
                if response.status_code == 429:
                    retry_after = int(response.headers.get('Retry-After', 60))
                    time.sleep(min(retry_after, 1))
                    continue
                response.raise_for_status()
                return response.json()
            except httpx.HTTPError:
                if attempt == max_retries - 1:
                    raise
        raise AssertionError("rate limited on every attempt")

    check_execution(execute_with_backoff(SECTION_8_CUSTOMER_RESPONSE))
    with pytest.raises(httpx.HTTPStatusError) as caught:
        execute_with_backoff({"template_id": "no_such_template_anywhere"}, max_retries=1)
    assert_error(caught.value.response, 404, "not_found_error", "TEMPLATE_NOT_FOUND")
