"""POST /v2/execute: templates and raw prompts, rendering, formats, failures, idempotency."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import httpx
import pytest

from promptexecution.server.app import DB_NAME
from tests.conftest import ServerHandle, assert_error


def test_template_by_name_and_by_id_give_the_same_answer(client: httpx.Client) -> None:
    by_name = client.post("/execute", json={"template_id": "greeting_template",
                                            "variables": {"name": "Alice"}}).json()
    template_id = client.get("/templates/greeting_template").json()["template_id"]
    by_id = client.post("/execute", json={"template_id": template_id,
                                          "variables": {"name": "Alice"}}).json()
    assert by_name["status"] == by_id["status"] == "completed"
    assert by_name["content"] == by_id["content"]  # the simulator is deterministic
    assert by_name["template_id"] == by_id["template_id"] == template_id
    assert by_name["template_version"] == "1.0"
    assert by_name["rendered_prompt"] == "Write a warm, two-sentence greeting for Alice."
    assert by_name["metadata"]["variables_used"] == {"name": "Alice"}
    assert by_name["execution_id"] != by_id["execution_id"]


def test_tokens_and_cost_follow_the_spec_estimate(client: httpx.Client) -> None:
    body = client.post("/execute", json={"prompt": "x" * 41}).json()
    meta = body["metadata"]
    assert meta["input_tokens"] == 11  # ceil(41 / 4)
    assert meta["output_tokens"] == -(-len(body["content"]) // 4)
    assert meta["tokens_used"] == meta["input_tokens"] + meta["output_tokens"]
    prices = {m["id"]: m for m in client.get("/models").json()["models"]}["simulator"]
    expected = (meta["input_tokens"] * prices["input_price_per_million"]
                + meta["output_tokens"] * prices["output_price_per_million"]) / 1e6
    assert meta["cost"] == pytest.approx(expected)
    assert meta["model"] == "simulator"


def test_raw_prompt_single_brace_and_jinja_placeholders(client: httpx.Client) -> None:
    body = client.post("/execute", json={
        "prompt": "Summarize this article: {content} ({{ words }} words) {not_given}",
        "variables": {"content": "Cats sleep a lot.", "words": 4},
    }).json()
    assert body["rendered_prompt"] == (
        "Summarize this article: Cats sleep a lot. (4 words) {not_given}"
    )
    literal = client.post("/execute", json={"prompt": "Keep {{ braces }} as written"}).json()
    assert literal["rendered_prompt"] == "Keep {{ braces }} as written"


def test_dotted_variables_and_defaults(client: httpx.Client) -> None:
    body = client.post("/execute", json={
        "template_id": "weekly_report",
        "variables": {"date_range": {"start": "2024-01-01", "end": "2024-01-07"}},
    }).json()
    assert body["rendered_prompt"] == (
        "Write a weekly report from 2024-01-01 to 2024-01-07 covering: revenue, signups."
    )
    assert body["metadata"]["variables_used"]["metrics"] == ["revenue", "signups"]


@pytest.mark.parametrize("fmt", ["json", "structured"])
def test_json_formats_give_valid_json(client: httpx.Client, fmt: str) -> None:
    body = client.post("/execute", json={"prompt": "Rate this product", "response_format": fmt})
    parsed = json.loads(body.json()["content"])
    assert isinstance(parsed, dict) and parsed
    assert body.json()["metadata"]["response_format"] == fmt


def test_output_schema_shapes_simulated_json(client: httpx.Client) -> None:
    body = client.post("/execute", json={
        "template_id": "support_classification_v3",
        "variables": {"message": "My order never arrived"},
    }).json()
    parsed = json.loads(body["content"])
    assert parsed["category"] in {"billing", "shipping", "technical", "general"}
    assert parsed["urgency"] in {"low", "medium", "high"}


def test_max_tokens_truncates_with_length_reason(client: httpx.Client) -> None:
    body = client.post("/execute", json={
        "prompt": "Write at length", "model_config": {"max_tokens": 5,
                                                     "simulate": {"output_tokens": 500}},
    }).json()
    assert body["metadata"]["output_tokens"] == 5
    assert body["metadata"]["finish_reason"] == "length"


def test_missing_variables_listed_sorted(client: httpx.Client) -> None:
    response = client.post("/execute", json={"template_id": "product_description_v3",
                                             "variables": {"tone": "fun", "zeta": 1}})
    error = assert_error(response, 400, "validation_error", "TEMPLATE_VARIABLE_MISSING")
    assert error["details"] == {
        "missing_variables": ["key_features", "product_name", "target_audience"],
        "provided_variables": ["tone", "zeta"],
    }


def test_wrong_variable_type(client: httpx.Client) -> None:
    response = client.post("/execute", json={"template_id": "blog_post_seo_v2", "variables": {
        "topic": "AI", "keywords": "not-a-list", "word_count": "many"}})
    error = assert_error(response, 400, "validation_error", "INVALID_VARIABLE_TYPE")
    bad = {e["variable"]: e for e in error["details"]["invalid_variables"]}
    assert bad["keywords"]["expected_type"] == "array"
    assert bad["keywords"]["provided_type"] == "string"
    assert bad["word_count"]["expected_type"] == "integer"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "MISSING_REQUIRED_FIELD", "template_id"),
        ({"prompt": 5}, "INVALID_FIELD_TYPE", "prompt"),
        ({"prompt": "x", "stream": "yes"}, "INVALID_FIELD_TYPE", "stream"),
        ({"prompt": "x", "variables": []}, "INVALID_FIELD_TYPE", "variables"),
        ({"prompt": "x", "model_config": {"temperature": 7}}, "INVALID_FIELD",
         "model_config.temperature"),
        ({"prompt": "x", "model_config": {"max_tokens": "10"}}, "INVALID_FIELD_TYPE",
         "model_config.max_tokens"),
        ({"prompt": "x", "response_format": "xml"}, "INVALID_FIELD", "response_format"),
        ({"prompt": "x", "tempalte_id": "y"}, "UNKNOWN_FIELD", "tempalte_id"),
    ],
)
def test_bad_bodies_are_400_with_the_field(
    client: httpx.Client, body: dict[str, object], code: str, field: str
) -> None:
    error = assert_error(client.post("/execute", json=body), 400, "validation_error", code)
    assert error["details"]["field"] == field


@pytest.mark.parametrize("raw", [b"{bad", b"[1, 2]", b"", b"null", b"\xff\xfe"])
def test_malformed_json_is_400(client: httpx.Client, raw: bytes) -> None:
    response = client.post("/execute", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "validation_error", "INVALID_JSON")


def test_unknown_template_version_and_model(client: httpx.Client) -> None:
    assert_error(client.post("/execute", json={"template_id": "no_such_template"}), 404,
                 "not_found_error", "TEMPLATE_NOT_FOUND")
    assert_error(client.post("/execute", json={"template_id": "greeting_template",
                                               "template_version": "9.9",
                                               "variables": {"name": "x"}}),
                 404, "not_found_error", "TEMPLATE_VERSION_NOT_FOUND")
    assert_error(client.post("/execute", json={"prompt": "x",
                                               "model_config": {"model": "gpt-nope"}}),
                 400, "validation_error", "MODEL_NOT_FOUND")


def test_unsafe_template_is_a_400_and_runs_nothing(client: httpx.Client) -> None:
    for prompt in ("{{ ''.__class__.__mro__[1].__subclasses__() }}",
                   "{{ cycler.__init__.__globals__.os.system('touch /tmp/pwned') }}",
                   "{{ 'a' * 100000000 }}"):
        response = client.post("/execute", json={"prompt": prompt, "variables": {"x": 1}})
        assert_error(response, 400, "template_error", "TEMPLATE_SECURITY_VIOLATION")


@pytest.mark.parametrize(
    ("fail", "status", "type_", "code", "retry_eligible"),
    [
        ("content_policy", 400, "execution_error", "CONTENT_POLICY_VIOLATION", False),
        ("server_error", 500, "execution_error", "MODEL_PROVIDER_ERROR", True),
        ("timeout", 500, "execution_error", "MODEL_TIMEOUT", True),
    ],
)
def test_simulated_failures_are_stored_failed(
    client: httpx.Client, fail: str, status: int, type_: str, code: str, retry_eligible: bool
) -> None:
    response = client.post("/execute", json={"prompt": "x",
                                             "model_config": {"simulate": {"fail": fail}}})
    error = assert_error(response, status, type_, code)
    assert error["details"]["retry_eligible"] is retry_eligible
    stored = client.get(f"/executions/{error['details']['execution_id']}").json()
    assert stored["status"] == "failed"
    assert stored["error"]["code"] == code


def test_body_over_the_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/execute", json={"prompt": "x" * (1024 * 1024 + 10)})
    error = assert_error(response, 413, "validation_error", "PAYLOAD_TOO_LARGE")
    assert error["details"]["limit_bytes"] == 1024 * 1024


def test_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks():  # no Content-Length: the server must count what it reads
        for _ in range(20):
            yield b"x" * 100_000

    response = client.post("/execute", content=chunks())
    assert_error(response, 413, "validation_error", "PAYLOAD_TOO_LARGE")


def test_unexpected_exception_is_a_500_and_the_server_keeps_serving(
    server: ServerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(server.ctx.executions, "prepare", explode)
    with caplog.at_level("ERROR", logger="promptexecution.server"):
        response = client.post("/execute", json={"prompt": "x"})
    error = assert_error(response, 500, "server_error", "INTERNAL_ERROR")
    assert "injected fault" not in response.text
    assert any(error["request_id"] in r.getMessage() and r.exc_info for r in caplog.records)
    monkeypatch.undo()
    assert client.post("/execute", json={"prompt": "x"}).status_code == 200


def test_result_is_committed_before_the_response(server: ServerHandle,
                                                 client: httpx.Client) -> None:
    execution_id = client.post("/execute", json={"prompt": "durable"}).json()["execution_id"]
    db = sqlite3.connect(server.data_dir / DB_NAME)
    try:
        row = db.execute("SELECT status FROM executions WHERE id=?", (execution_id,)).fetchone()
    finally:
        db.close()
    assert row == ("completed",)


class TestIdempotency:
    def _count(self, c: httpx.Client) -> int:
        return int(c.get("/executions").json()["pagination"]["total"])

    def test_repeat_returns_the_first_response_and_does_no_work(
        self, server: ServerHandle
    ) -> None:
        with server.client(server.make_key("professional")) as c:
            headers = {"Idempotency-Key": "order-42"}
            first = c.post("/execute", json={"prompt": "once"}, headers=headers)
            second = c.post("/execute", json={"prompt": "once"}, headers=headers)
            assert first.json() == second.json()
            assert second.headers["idempotent-replayed"] == "true"
            assert self._count(c) == 1
            reused = c.post("/execute", json={"prompt": "different"}, headers=headers)
            assert_error(reused, 400, "validation_error", "IDEMPOTENCY_KEY_REUSED")

    def test_concurrent_duplicate_gets_409_while_the_first_runs(
        self, server: ServerHandle
    ) -> None:
        body = {"prompt": "slow", "model_config": {"simulate": {"latency_ms": 600}}}
        headers = {"Idempotency-Key": "slow-1"}
        with server.client(server.make_key("professional")) as c:
            results: list[httpx.Response] = []
            first = threading.Thread(
                target=lambda: results.append(c.post("/execute", json=body, headers=headers))
            )
            first.start()
            time.sleep(0.2)
            assert_error(c.post("/execute", json=body, headers=headers), 409,
                         "conflict_error", "IDEMPOTENCY_KEY_IN_USE")
            first.join()
            assert results[0].status_code == 200
            assert self._count(c) == 1

    def test_server_errors_are_not_remembered(self, server: ServerHandle) -> None:
        with server.client(server.make_key("professional")) as c:
            headers = {"Idempotency-Key": "retry-me"}
            failing = {"prompt": "x", "model_config": {"simulate": {"fail": "server_error"}}}
            assert c.post("/execute", json=failing, headers=headers).status_code == 500
            again = c.post("/execute", json=failing, headers=headers)
            assert "idempotent-replayed" not in again.headers


def test_json_output_fields_also_appear_at_the_top_level(client: httpx.Client) -> None:
    body = client.post("/execute", json={
        "template_id": "support_classification_v3",
        "variables": {"message": "Where is my parcel?"},
    }).json()
    parsed = json.loads(body["content"])
    assert body["category"] == parsed["category"]  # the spec's raw-HTTP use case 2 reads this
    assert body["urgency"] == parsed["urgency"]
    assert body["status"] == "completed"  # a JSON key never replaces a standard field
    text = client.post("/execute", json={"prompt": "plain"}).json()
    assert "category" not in text
