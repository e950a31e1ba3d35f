"""Health, readiness, key verification, rate-limit status, models and the OpenAPI document."""

from __future__ import annotations

import httpx

from tests.conftest import ServerHandle, assert_error

RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-burst-limit",
    "x-ratelimit-burst-remaining",
)


def test_health_and_ready_need_no_key(server: ServerHandle) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert ready.headers["x-request-id"].startswith("req_")


def test_verify_matches_spec_example_fields(server: ServerHandle) -> None:
    key = server.make_key("professional")
    with server.client(key) as c:
        response = c.get("/auth/verify", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["account_id"].startswith("acc_")
    assert body["plan"] == "professional"
    assert body["permissions"] == ["execute", "batch", "templates"]
    assert body["rate_limit"]["requests_per_hour"] == 10000
    assert body["rate_limit"]["remaining"] == 10000
    assert body["key"]["prefix"].startswith("pe_sk_test_")
    assert key not in response.text  # the secret is never echoed
    for header in RATE_HEADERS:
        assert header in response.headers


def test_local_key_is_enterprise_and_unlimited(client: httpx.Client) -> None:
    response = client.get("/auth/verify")
    assert response.json()["plan"] == "enterprise"
    assert response.json()["rate_limit"] == {"requests_per_hour": None, "remaining": None}
    assert response.headers["x-ratelimit-limit"] == "unlimited"
    assert response.headers["x-ratelimit-burst-limit"] == "2000"


def test_rate_limits_shape(server: ServerHandle) -> None:
    with server.client(server.make_key("basic")) as c:
        c.post("/execute", json={"prompt": "count me"})
        body = c.get("/rate-limits").json()
    assert body["hourly"]["limit"] == 1000
    assert body["hourly"]["used"] == 1
    assert body["hourly"]["remaining"] == 999
    assert body["hourly"]["reset_time"].endswith(":00:00Z")
    assert body["burst"] == {"limit": 100, "used": 1, "remaining": 99, "window": "1_minute"}
    assert body["concurrent"] == {"limit": 5, "active": 0, "available": 5}


def test_models_lists_simulator_with_prices(client: httpx.Client) -> None:
    body = client.get("/models").json()
    assert body["default_model"] == "simulator"
    simulator = next(m for m in body["models"] if m["id"] == "simulator")
    assert simulator["provider"] == "simulator"
    assert simulator["streaming"] is True
    assert simulator["input_price_per_million"] > 0
    assert simulator["default"] is True


def test_openapi_document_is_public_and_lists_endpoints(server: ServerHandle) -> None:
    doc = httpx.get(f"{server.base_url}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/v2/execute", "/v2/executions", "/v2/executions/{execution_id}",
                 "/v2/templates", "/v2/templates/{template_id}",
                 "/v2/templates/{template_id}/versions", "/v2/auth/verify",
                 "/v2/rate-limits", "/v2/models"):
        assert path in paths, path
    schema = paths["/v2/execute"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "template_id" in schema["properties"]
    history = paths["/v2/executions"]["get"]
    assert {p["name"] for p in history["parameters"]} >= {
        "before", "after", "order", "model", "template_version", "q", "min_cost", "max_cost",
        "min_execution_time", "max_execution_time", "batch_id"}
    listed = history["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"$ref": "#/components/schemas/ExecutionList"}
    summary = doc["components"]["schemas"]["ExecutionSummary"]["properties"]
    assert {"cursor", "output_preview", "template_version", "error_code"} <= set(summary)
    export = paths["/v2/executions/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"application/x-ndjson", "text/csv"}


def test_unknown_route_and_wrong_method(client: httpx.Client, server: ServerHandle) -> None:
    assert_error(client.get("/no/such/thing"), 404, "not_found_error", "ROUTE_NOT_FOUND")
    response = client.delete("/executions")
    error = assert_error(response, 405, "validation_error", "METHOD_NOT_ALLOWED")
    assert "DELETE" in error["message"]
    assert "GET" in response.headers["allow"]
    assert_error(httpx.get(f"{server.url}/nowhere"), 404, "not_found_error", "ROUTE_NOT_FOUND")
