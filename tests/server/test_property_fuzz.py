"""Property-based fuzzing over real HTTP: whatever a client sends, the server never answers
5xx and every error has the spec's shape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerHandle

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(
    allow_nan=False, allow_infinity=False
) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=4),
    max_leaves=12,
)
EXECUTE_FIELDS = ["template_id", "template_version", "prompt", "variables", "model_config",
                  "response_format", "stream"]
TEMPLATE_FIELDS = ["name", "description", "prompt", "variables", "default_config", "tags",
                   "output_schema"]
MODEL_CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["simulator", "nope", ""]) | st.integers(),
        "temperature": json_scalars,
        "max_tokens": st.integers(-5, 50) | json_scalars,
        "top_p": json_scalars,
        "response_format": st.sampled_from(["text", "json", "structured", "xml"]),
        # Small latencies only: the property is about shapes, not patience.
        "simulate": st.fixed_dictionaries({}, optional={
            "latency_ms": st.integers(-1, 20),
            "fail": st.sampled_from(["content_policy", "server_error", "timeout", "nope"]),
            "output_tokens": st.integers(-1, 50),
        }) | json_scalars,
    },
)


def _bodies(fields: list[str], extra: dict[str, st.SearchStrategy[Any]]) -> Any:
    known = {name: extra.get(name, json_values) for name in fields}
    structured = st.fixed_dictionaries({}, optional=known)
    return structured | json_values


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["x-request-id"].startswith("req_")
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert {"type", "code", "message", "request_id", "timestamp"} <= set(error), error
        assert error["request_id"] == response.headers["x-request-id"]
        assert isinstance(error["message"], str) and error["message"]


@pytest.fixture(scope="module")
def scratch(server: ServerHandle) -> Iterator[httpx.Client]:
    """An account of its own, so fuzzing never touches the seeded templates."""
    with server.client(server.make_key("enterprise")) as c:
        c.post("/templates", json={"name": "fuzz_target", "prompt": "Hi {{ who }}",
                                   "variables": [{"name": "who", "type": "string",
                                                  "required": True}]})
        yield c


@SETTINGS
@given(body=_bodies(EXECUTE_FIELDS, {
    "model_config": MODEL_CONFIG | json_values,
    "template_id": st.sampled_from(["fuzz_target", "nope", ""]) | json_values,
    "stream": st.booleans() | json_values,
    "variables": st.dictionaries(st.sampled_from(["who", "x", ""]), json_values, max_size=3)
    | json_values,
}))
def test_execute_never_5xx(scratch: httpx.Client, body: Any) -> None:
    check(scratch.post("/execute", json=body))


@SETTINGS
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_raw_bytes_never_5xx(scratch: httpx.Client, raw: bytes) -> None:
    for path in ("/execute", "/templates"):
        check(scratch.post(path, content=raw, headers={"Content-Type": "application/json"}))


@SETTINGS
@given(body=_bodies(TEMPLATE_FIELDS, {
    "name": st.from_regex(r"\A[a-z_]{1,12}\Z") | json_values,
    "prompt": st.text(max_size=80) | st.sampled_from(
        ["{{ x }}", "{% for i in range(3) %}{{ i }}{% endfor %}", "{{", "{% if %}"]),
    "variables": st.lists(st.fixed_dictionaries({"name": st.text(max_size=8)}, optional={
        "type": st.sampled_from(["string", "number", "integer", "boolean", "array", "object",
                                 "date"]),
        "required": json_scalars, "default": json_values}), max_size=3) | json_values,
}))
def test_template_writes_never_5xx(scratch: httpx.Client, body: Any) -> None:
    response = scratch.post("/templates", json=body)
    check(response)
    if response.status_code == 201:
        template_id = response.json()["template_id"]
        check(scratch.put(f"/templates/{template_id}", json=body))
        check(scratch.post("/execute", json={"template_id": template_id, "variables": {}}))
        check(scratch.delete(f"/templates/{template_id}"))


query_values = st.text(max_size=30) | st.integers(-10**12, 10**12).map(str) | st.sampled_from(
    ["", "completed", "failed", "2024-01-15T09:15:30Z", "2024-13-45", "1e9", "-0", "nan"])


@SETTINGS
@given(params=st.dictionaries(
    st.sampled_from(["limit", "offset", "status", "template_id", "date_from", "date_to", "q",
                     "tag", "include_content", "include_metadata", "x"]),
    query_values, max_size=5))
def test_queries_never_5xx(scratch: httpx.Client, params: dict[str, str]) -> None:
    for path in ("/executions", "/templates", "/executions/exec_nope", "/rate-limits"):
        check(scratch.get(path, params=params))


@SETTINGS
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
       path=st.sampled_from(["/execute", "/executions", "/templates", "/templates/x/versions",
                             "/templates/x/versions/1.0", "/models", "/auth/verify", "/nope"])
       | st.text(alphabet="abc/%._-~", max_size=20).map(lambda p: "/" + p.lstrip("/")))
def test_any_method_and_path_never_5xx(scratch: httpx.Client, method: str, path: str) -> None:
    response = scratch.request(method, path, content=b"{}" if method != "GET" else None)
    assert response.status_code < 500, (method, path, response.text[:300])
    if method != "HEAD" and response.status_code >= 400:
        check(response)


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{% for i in range(10**9) %}{{ i }}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ 2 ** 99999999 }}",
    "{{ [1] * 10**9 }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
]


@pytest.mark.parametrize("prompt", SANDBOX_ESCAPES)
def test_sandbox_escapes_are_400_fast(server: ServerHandle, scratch: httpx.Client,
                                      prompt: str) -> None:
    started = time.monotonic()
    response = scratch.post("/execute", json={"prompt": prompt, "variables": {"x": 1}})
    assert time.monotonic() - started < 5
    check(response)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "template_error"
    assert httpx.get(f"{server.url}/health").status_code == 200
    created = scratch.post("/templates", json={"name": f"esc_{abs(hash(prompt))}",
                                               "prompt": prompt})
    check(created)
    if created.status_code == 201:
        run = scratch.post("/execute", json={"template_id": created.json()["template_id"]})
        check(run)
        assert run.status_code == 400
