"""The spec's request bodies, sent as written (only the key and base URL differ), and every
field of the spec's example responses checked."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.conftest import ServerHandle, assert_error

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Section 4.1, "Complete Request Example".
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

# Section 4.2.
TEMPLATE_4_2 = """{
    "name": "product_review_summary",
    "description": "Summarizes product reviews with sentiment analysis",
    "prompt": "Analyze these product reviews for {{product_name}}:\\n\\n{{reviews}}\\n\\nProvide:\\n1. Overall sentiment (positive/negative/neutral)\\n2. Key themes\\n3. Improvement suggestions\\n4. Rating prediction (1-5 stars)",
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

# Section 3, use case 1 (raw HTTP body).
USE_CASE_1 = {
    "template_id": "blog_post_seo_v2",
    "variables": {
        "topic": "AI in Healthcare",
        "keywords": ["artificial intelligence", "medical diagnosis", "patient care"],
        "tone": "professional",
        "word_count": 1500,
    },
    "model_config": {"temperature": 0.7, "max_tokens": 2000},
}

# Section 3, use case 2 (raw HTTP bodies, step 1 and step 2).
USE_CASE_2_CLASSIFY = {
    "template_id": "support_classification_v3",
    "variables": {
        "message": "My order hasn't arrived and I need it urgently for tomorrow",
        "customer_tier": "premium",
    },
    "model_config": {"temperature": 0.1},
}


def _post(c: httpx.Client, path: str, raw: str) -> httpx.Response:
    return c.post(path, content=raw, headers={"Content-Type": "application/json"})


def _check_execution(body: dict[str, object]) -> None:
    assert str(body["execution_id"]).startswith("exec_")
    assert body["status"] == "completed"
    assert isinstance(body["content"], str) and body["content"]
    metadata = body["metadata"]
    assert isinstance(metadata, dict)
    assert isinstance(metadata["tokens_used"], int) and metadata["tokens_used"] > 0
    assert isinstance(metadata["execution_time"], float | int)
    assert isinstance(metadata["model"], str) and metadata["model"]
    assert isinstance(metadata["cost"], float) and metadata["cost"] > 0
    assert ISO.match(str(body["created_at"]))


def test_auth_verify_section_2(client: httpx.Client) -> None:
    body = client.get("/auth/verify", headers={"Content-Type": "application/json"}).json()
    assert body["valid"] is True
    assert body["account_id"].startswith("acc_")
    assert body["plan"] in ("basic", "professional", "enterprise")
    assert set(body["permissions"]) == {"execute", "batch", "templates"}
    assert set(body["rate_limit"]) >= {"requests_per_hour", "remaining"}


def test_execute_section_4_1(client: httpx.Client) -> None:
    response = _post(client, "/execute", EXECUTE_4_1)
    assert response.status_code == 200, response.text
    body = response.json()
    _check_execution(body)
    assert isinstance(json.loads(body["content"]), dict)  # "structured" is valid JSON
    assert "X-RateLimit-Remaining" in response.headers


@pytest.mark.parametrize("body", [USE_CASE_1, USE_CASE_2_CLASSIFY])
def test_use_case_bodies(client: httpx.Client, body: dict[str, object]) -> None:
    response = client.post("/execute", json=body)
    assert response.status_code == 200, response.text
    _check_execution(response.json())


def test_use_case_2_second_step_uses_the_classification(client: httpx.Client) -> None:
    classification = client.post("/execute", json=USE_CASE_2_CLASSIFY).json()
    response = client.post("/execute", json={
        "template_id": f"support_response_{classification['category']}",
        "variables": {
            "message": "My order hasn't arrived and I need it urgently for tomorrow",
            "urgency": classification["urgency"],
            "customer_name": "Sarah Johnson",
        },
    })
    assert response.status_code == 200, response.text
    assert "Sarah Johnson" in response.json()["rendered_prompt"]


@pytest.mark.parametrize(
    "body",
    [
        {"template_id": "customer_response_template",
         "variables": {"message": "How do I reset my password?", "tone": "helpful"}},
        {"template_id": "sentiment_analysis", "variables": {"text": "Great product!"}},
        {"template_id": "analysis_template", "variables": {"data": "1, 2, 3"}},
    ],
)
def test_section_8_bodies(client: httpx.Client, body: dict[str, object]) -> None:
    response = client.post("/execute", json=body)
    assert response.status_code == 200, response.text


def test_create_template_section_4_2(server: ServerHandle) -> None:
    with server.client(server.make_key("professional")) as c:
        response = _post(c, "/templates", TEMPLATE_4_2)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["template_id"].startswith("tmpl_")
        assert body["name"] == "product_review_summary"
        assert body["version"] == "1.0"
        assert body["status"] == "active"
        assert ISO.match(body["created_at"])
        assert body["url"] == f"{server.base_url}/templates/{body['template_id']}"
        assert_error(_post(c, "/templates", TEMPLATE_4_2), 409, "conflict_error",
                     "TEMPLATE_NAME_TAKEN")


def test_get_execution_section_4_3(client: httpx.Client) -> None:
    done = client.post("/execute", json={
        "template_id": "product_review_summary",
        "variables": {"product_name": "Wireless Noise-Canceling Headphones",
                      "reviews": "[247 reviews processed]"},
    }).json()
    url = f"/executions/{done['execution_id']}?include_content=true&include_metadata=true"
    body = client.get(url).json()
    assert body["execution_id"] == done["execution_id"]
    assert body["template_id"].startswith("tmpl_")
    assert body["status"] == "completed"
    assert body["content"] == done["content"]
    metadata = body["metadata"]
    for field in ("tokens_used", "execution_time", "model", "cost"):
        assert field in metadata
    assert metadata["variables_used"] == {
        "product_name": "Wireless Noise-Canceling Headphones",
        "reviews": "[247 reviews processed]",
    }
    assert ISO.match(body["created_at"]) and ISO.match(body["completed_at"])
    bare = client.get(f"/executions/{done['execution_id']}",
                      params={"include_content": "false", "include_metadata": "false"}).json()
    assert "content" not in bare and "metadata" not in bare


def test_list_executions_section_4_4(server: ServerHandle) -> None:
    with server.client(server.make_key("enterprise")) as c:
        template_id = c.post("/templates", json={"name": "t", "prompt": "Say {{ x }}"}).json()[
            "template_id"]
        for i in range(12):
            c.post("/execute", json={"template_id": template_id, "variables": {"x": i}})
        c.post("/execute", json={"prompt": "not this template"})
        body = c.get(f"/executions?limit=10&status=completed&template_id={template_id}").json()
    assert len(body["executions"]) == 10
    for item in body["executions"]:
        assert set(item) >= {"execution_id", "template_id", "status", "tokens_used", "cost",
                             "created_at"}
        assert item["template_id"] == template_id and item["status"] == "completed"
    assert body["pagination"] == {"total": 12, "limit": 10, "offset": 0, "has_more": True}


def test_rate_limits_section_6(client: httpx.Client) -> None:
    response = client.get("/rate-limits")
    body = response.json()
    assert set(body["hourly"]) == {"limit", "used", "remaining", "reset_time"}
    assert set(body["burst"]) == {"limit", "used", "remaining", "window"}
    assert set(body["concurrent"]) == {"limit", "active", "available"}
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                   "X-RateLimit-Burst-Limit", "X-RateLimit-Burst-Remaining"):
        assert header in response.headers


def test_section_5_error_examples(server: ServerHandle, client: httpx.Client) -> None:
    error = assert_error(client.post("/execute", json={"variables": {}}), 400,
                         "validation_error", "MISSING_REQUIRED_FIELD")
    assert error["message"] == "The 'template_id' or 'prompt' field is required"
    assert error["details"] == {"field": "template_id", "provided_value": None,
                                "expected_type": "string"}

    with server.client("pe_sk_live_abc123def456ghi789") as bad:
        error = assert_error(bad.get("/auth/verify"), 401, "authentication_error",
                             "INVALID_API_KEY")
    assert error["message"] == "The provided API key is invalid or expired"

    error = assert_error(
        client.post("/execute", json={"template_id": "customer_email_response",
                                      "variables": {"message": "Hi", "tone": "warm"}}),
        400, "validation_error", "TEMPLATE_VARIABLE_MISSING")
    assert error["message"] == "Required template variable 'customer_name' not provided"
    assert error["details"] == {"missing_variables": ["customer_name"],
                                "provided_variables": ["message", "tone"]}

    error = assert_error(
        client.post("/execute", json={"template_id": "weekly_report",
                                      "variables": {"date_range": {"end": "2024-01-07"}}}),
        400, "template_error", "VARIABLE_SUBSTITUTION_FAILED")
    assert error["message"].startswith("Template variable substitution failed")
    assert error["details"]["problematic_variables"] == ["date_range"]
    assert error["details"]["template_section"] == "line 1: {{ date_range.start }}"

    error = assert_error(
        client.post("/execute", json={"prompt": "x",
                                      "model_config": {"simulate": {"fail": "content_policy"}}}),
        400, "execution_error", "CONTENT_POLICY_VIOLATION")
    assert error["message"] == "The prompt violates content policy guidelines"
    assert error["details"]["violation_type"] == "harmful_content"
    assert error["details"]["suggestion"]
