"""Property-based fuzzing of the live server over real HTTP.

The property, for every request hypothesis can think of: the status is never 5xx, every response
carries an `X-Request-ID`, and every non-2xx answer is exactly the spec's error shape
(`{"error": {type, code, message, details?, request_id, timestamp}}`, with `request_id` equal to
the header and a status that matches the type). The one non-2xx answer that is not an error is
a redirect of a trailing-slash path to the same path without it (Starlette's redirect_slashes):
it must point back into the API and carry no body.

Every test writes on a scratch account of its own (`make_key`), so the seeded templates and the
local account's history are never touched. The simulator's knobs are kept fast (latency_ms <= 50,
no slow token rates) and its deliberate 5xx failures (`server_error`, `timeout`) are left out of
the random bodies: they are tested on their own below.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerHandle

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(FUZZ, max_examples=120)

# Error type -> the statuses it may come with (DESIGN.md section 3; 405, 413 and 415 are
# validation errors about the request itself).
STATUS_BY_TYPE = {
    "validation_error": {400, 405, 413, 415},
    "template_error": {400},
    "authentication_error": {401},
    "permission_error": {403},
    "not_found_error": {404},
    "conflict_error": {409},
    "payload_too_large_error": {413},
    "rate_limit_error": {429},
    "execution_error": {400},
}
ERROR_REQUIRED = {"type", "code", "message", "request_id", "timestamp"}
ERROR_ALLOWED = ERROR_REQUIRED | {"details"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def check(response: httpx.Response) -> None:
    """The property every response must have."""
    status = response.status_code
    request = response.request
    where = f"{request.method} {request.url}"
    assert status < 500, (where, status, response.text[:500])
    assert response.headers.get("x-request-id", "").startswith("req_"), (where, response.headers)
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        assert status in (307, 308), (where, status, response.text[:300])
        location = urlsplit(response.headers["location"])
        assert location.netloc == request.url.netloc.decode(), (where, response.headers["location"])
        assert location.path.startswith("/v2/") or location.path == "/v2", (where, location)
        assert request.url.path.endswith("/") or "%2F" in request.url.raw_path.decode(), where
        assert response.content == b"", (where, response.content[:200])
        return
    if request.method == "HEAD":
        return  # no body on HEAD
    assert response.headers.get("content-type", "").startswith("application/json"), (
        where, response.headers.get("content-type"), response.text[:300])
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, (where, body)
    error = body["error"]
    assert isinstance(error, dict), (where, body)
    assert ERROR_REQUIRED <= set(error) <= ERROR_ALLOWED, (where, error)
    assert error["type"] in STATUS_BY_TYPE, (where, error)
    assert status in STATUS_BY_TYPE[error["type"]], (where, status, error)
    assert isinstance(error["code"], str) and CODE.match(error["code"]), (where, error)
    assert isinstance(error["message"], str) and error["message"].strip(), (where, error)
    assert error["request_id"] == response.headers["x-request-id"], (where, error)
    assert isinstance(error["timestamp"], str) and ISO_Z.match(error["timestamp"]), (where, error)
    if "details" in error:
        assert isinstance(error["details"], dict), (where, error)
    if status == 429:
        assert "retry-after" in response.headers, where
    if status == 401:
        assert error["type"] == "authentication_error", (where, error)


# --------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
VARIABLE_NAMES = ["name", "x", "items", "who", "date_range", "text", "n"]
prompts = (
    st.sampled_from([
        "Hello {{ name }}", "Hello {name}", "{{ date_range.start }} to {{ date_range.end }}",
        "{% for i in items %}{{ i }}, {% endfor %}", "{{ name | upper }} {{ n + 1 }}",
        "{{", "{% if %}", "{% for %}", "}}{{", "{{ x.y.z }}", "{{ items[0] }}", "{{ n / 0 }}",
        "{{ name * 3 }}", "{{ x | tojson }}", "{{ undefined_thing }}", "{# comment #}",
        "{% raw %}{{ x }}{% endraw %}", "{{ range(5) | list }}", "{{ who }}\n\n{{ text }}",
    ])
    | st.text(max_size=60)
    | json_values
)
variables = (
    st.dictionaries(st.sampled_from(VARIABLE_NAMES) | st.text(max_size=8), json_values,
                    max_size=5)
    | json_values
)
simulate = st.fixed_dictionaries(
    {},
    optional={
        "latency_ms": st.integers(-5, 50) | st.text(max_size=5) | st.none(),
        # content_policy is a 400; server_error/timeout are deliberate 5xx, tested separately.
        "fail": st.sampled_from(["content_policy", "nope", "", None]) | st.integers(),
        "output_tokens": st.integers(-2, 300) | st.text(max_size=4),
        "tokens_per_second": st.sampled_from([None, 0, -1, 1e6, "fast"]),
    },
) | json_scalars
model_config = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["simulator", "gpt-4-turbo", "", "x" * 300]) | json_scalars,
        "temperature": st.floats(-1, 3, allow_nan=False) | json_scalars,
        "max_tokens": st.integers(-5, 3000) | json_scalars,
        "top_p": st.floats(-0.5, 1.5, allow_nan=False) | json_scalars,
        "frequency_penalty": st.floats(-3, 3, allow_nan=False) | json_scalars,
        "stop": st.lists(st.text(max_size=5), max_size=6) | json_scalars,
        "seed": st.integers() | json_scalars,
        "response_format": st.sampled_from(["text", "json", "structured", "xml"]) | json_scalars,
        "simulate": simulate,
        "unknown_knob": json_values,
    },
) | json_values
response_formats = st.sampled_from(["text", "json", "structured", "xml", ""]) | json_values
template_refs = st.sampled_from(["fuzz_target", "fuzz_json", "tmpl_0000", "nope"]) | json_values
execute_bodies = st.fixed_dictionaries(
    {},
    optional={
        "template_id": template_refs,
        "template_version": st.sampled_from(["1.0", "1.1", "9.9", ""]) | json_values,
        "prompt": prompts,
        "variables": variables,
        "model_config": model_config,
        "response_format": response_formats,
        "stream": st.booleans() | json_scalars,
    },
)
# The same field names mixed with random values of random types, and random extra keys.
mixed_bodies = st.dictionaries(
    st.sampled_from(["template_id", "prompt", "variables", "model_config", "response_format",
                     "stream", "name", "tags", "default_config", "description"])
    | st.text(max_size=12),
    json_values,
    max_size=6,
)
variable_specs = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(VARIABLE_NAMES) | st.text(max_size=10) | json_scalars},
        optional={
            "type": st.sampled_from(["string", "number", "integer", "boolean", "array",
                                     "object", "date"]) | json_scalars,
            "required": st.booleans() | json_scalars,
            "default": json_values,
            "description": st.text(max_size=20) | json_scalars,
        },
    ),
    max_size=4,
) | json_values
output_schemas = st.fixed_dictionaries(
    {},
    optional={
        "properties": st.dictionaries(
            st.text(max_size=6),
            st.fixed_dictionaries({}, optional={
                "type": st.sampled_from(["string", "number", "integer", "boolean", "array",
                                         "object"]) | json_scalars,
                "enum": st.lists(json_scalars, max_size=3) | json_values,
                "properties": st.dictionaries(st.text(max_size=4), json_values, max_size=2)
                | json_values,
            }) | json_values,
            max_size=3,
        ) | json_values,
    },
) | json_values
template_names = st.from_regex(r"[A-Za-z0-9_.\-]{1,24}", fullmatch=True) | json_scalars
template_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": template_names,
        "description": st.text(max_size=40) | json_scalars,
        "prompt": prompts,
        "variables": variable_specs,
        "default_config": model_config,
        "tags": st.lists(st.text(max_size=60) | json_scalars, max_size=4) | json_scalars,
        "output_schema": output_schemas,
    },
)
# Templates the server accepts (a fresh valid name, a valid prompt, well-typed fields) with
# random defaults, configs and output schemas, so those reach rendering and the model.
VARIABLE_TYPES = ["string", "number", "integer", "boolean", "array", "object"]
accepted_templates = st.fixed_dictionaries(
    {
        "name": st.just("fuzz_accepted"),  # made unique in the test
        "prompt": st.sampled_from(["Hello {{ name }}", "Classify {{ text }}", "Plain prompt",
                                   "{% for i in items %}{{ i }}{% endfor %}", "Hi {name}"]),
    },
    optional={
        "description": st.text(max_size=40),
        "variables": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(VARIABLE_NAMES)},
                optional={"type": st.sampled_from(VARIABLE_TYPES), "required": st.booleans(),
                          "default": json_values, "description": st.text(max_size=20)},
            ),
            max_size=3, unique_by=lambda v: v["name"],
        ),
        "default_config": st.fixed_dictionaries({}, optional={
            "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 2000),
            "response_format": st.sampled_from(["text", "json", "structured"]),
            "simulate": st.fixed_dictionaries({}, optional={
                "output_tokens": st.integers(1, 300),
                "fail": st.sampled_from(["content_policy"]),
            }),
        }),
        "tags": st.lists(st.text(min_size=1, max_size=50), max_size=4),
        "output_schema": output_schemas,
    },
)
any_body = execute_bodies | template_bodies | mixed_bodies | json_values


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def scratch(server: ServerHandle) -> Iterator[httpx.Client]:
    """A new enterprise account with two templates and three executions of its own."""
    with server.client(server.make_key("enterprise")) as c:
        made = c.post("/templates", json={
            "name": "fuzz_target", "prompt": "Hi {{ who }}, about {{ text }}",
            "variables": [{"name": "who", "type": "string", "required": True},
                          {"name": "text", "type": "string", "default": "things"}],
        })
        assert made.status_code == 201, made.text
        made = c.post("/templates", json={
            "name": "fuzz_json", "prompt": "Classify {{ text }}",
            "default_config": {"response_format": "json"},
            "output_schema": {"properties": {"label": {"enum": ["a", "b"]},
                                             "score": {"type": "number"}}},
        })
        assert made.status_code == 201, made.text
        for who in ("Ann", "Bob", "Cy"):  # some history for the list queries to page through
            ran = c.post("/execute", json={"template_id": "fuzz_target",
                                           "variables": {"who": who}})
            assert ran.status_code == 200, ran.text
        yield c


def _send(c: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = c.request(method, path, **kwargs)
    check(response)
    return response


# --------------------------------------------------------------------------- POST /execute


@FUZZ
@given(body=execute_bodies | mixed_bodies | json_values)
def test_execute_random_json_bodies(scratch: httpx.Client, body: Any) -> None:
    response = _send(scratch, "POST", "/execute", json=body)
    if response.status_code == 200 and response.headers["content-type"].startswith(
        "application/json"
    ):
        record = response.json()
        assert record["execution_id"].startswith("exec_")
        assert record["status"] == "completed"
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        assert "event: completed" in response.text or "event: error" in response.text


invalid_json = st.one_of(
    st.binary(max_size=120),
    json_values.map(lambda v: json.dumps(v)[:-1] if json.dumps(v)[:-1] else "{"),
    st.sampled_from([
        "{'prompt': 'single quotes'}", '{"prompt": "x",}', '{"prompt": NaN}', "[1, 2",
        '{"prompt": "x"} trailing', '{"variables": {"x": Infinity}, "prompt": "{{ x }}"}',
        '{"prompt": "\\ud800"}', '{"prompt": "\\u0000 {{ x }}", "variables": {"x": -0.0}}',
        "\ufeff{}", "", " ", "null", "true", "0", '"a string"', "[]", "[{}]", "1e999",
        '{"prompt": "x", "prompt": 5}', '{"model_config": {"seed": 1e400}, "prompt": "x"}',
        "[" * 3000 + "]" * 3000, '{"prompt": "' + "a" * 5000 + '"}',
    ]),
    json_scalars.map(json.dumps),
    st.lists(json_values, max_size=3).map(json.dumps),
)
content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "text/plain", None,
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
])


@FEW
@given(raw=invalid_json, content_type=content_types,
       target=st.sampled_from(["/execute", "/templates", "/templates/fuzz_target"]))
@example(raw="{" + " " * (1024 * 1024) + "}", content_type="application/json",
         target="/execute")  # over the 1 MiB body limit
def test_raw_and_invalid_bodies(scratch: httpx.Client, raw: str | bytes, content_type: str | None,
                                target: str) -> None:
    content = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    headers = {"Content-Type": content_type} if content_type else {}
    method = "PUT" if target.count("/") == 2 else "POST"
    response = _send(scratch, method, target, content=content, headers=headers)
    if len(content) > 1024 * 1024:
        assert response.status_code == 413


# --------------------------------------------------------------------------- templates


@FUZZ
@given(body=st.one_of(accepted_templates, accepted_templates, template_bodies, mixed_bodies),
       run_as=response_formats,
       run_with=variables)
# Output schemas whose `enum` is not a list, or whose nested `properties` is not an object.
@example(body={"name": "schema_enum_number", "prompt": "hi",
               "output_schema": {"properties": {"label": {"enum": 5}}}},
         run_as="json", run_with={})
@example(body={"name": "schema_properties_list", "prompt": "hi",
               "output_schema": {"properties": {"a": {"type": "object", "properties": [1]}}}},
         run_as="structured", run_with={})
def test_template_writes_then_execute(scratch: httpx.Client, body: Any, run_as: Any,
                                      run_with: Any) -> None:
    """Random templates are created, and whatever was accepted is executed (as JSON too, so
    random output schemas reach the simulator), then updated and read back."""
    if isinstance(body, dict) and body.get("name") == "fuzz_accepted":
        body = {**body, "name": f"fuzz_{uuid.uuid4().hex}"}
    response = _send(scratch, "POST", "/templates", json=body)
    if response.status_code != 201:
        return
    template = response.json()
    assert template["template_id"].startswith("tmpl_") and template["version"] == "1.0"
    template_id = template["template_id"]
    _send(scratch, "POST", "/execute", json={"template_id": template_id, "variables": run_with,
                                             "response_format": run_as})
    # With the variables the prompts above use, so most runs get as far as the model.
    _send(scratch, "POST", "/execute", json={
        "template_id": template_id, "response_format": "json",
        "variables": {"name": "Ann", "text": "a review", "items": [1, 2]},
    })
    _send(scratch, "PUT", f"/templates/{template_id}", json=body)
    _send(scratch, "GET", f"/templates/{template_id}/versions")
    _send(scratch, "GET", f"/templates/{template_id}")


# --------------------------------------------------------------------------- queries

query_values = (
    st.integers(-(10**12), 10**12).map(str)
    | st.text(max_size=25)
    | st.sampled_from(["", "0", "1", "100", "101", "-1", "1e3", "true", "null", "NaN"])
)
offsets = [timezone(timedelta(hours=h)) for h in (-12, -5, 0, 5, 14)] + [UTC]
iso_dates = st.datetimes(timezones=st.none() | st.sampled_from(offsets)).map(
    lambda d: d.isoformat()
) | st.dates().map(lambda d: d.isoformat()) | st.sampled_from([
    "2024-01-15T09:15:30Z", "2024-13-01", "2024-01-15T25:00:00Z", "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00", "yesterday", "2024-01-15T09:15:30.123456789Z",
])
execution_queries = st.fixed_dictionaries(
    {},
    optional={
        "limit": query_values, "offset": query_values,
        "status": st.sampled_from(["completed", "failed", "processing", "cancelled", "done"])
        | query_values,
        "template_id": st.sampled_from(["fuzz_target", "tmpl_x", ""]) | query_values,
        "date_from": iso_dates | query_values, "date_to": iso_dates | query_values,
        "include_content": query_values,
    },
)
template_queries = st.fixed_dictionaries(
    {},
    optional={
        "q": query_values, "tag": query_values,
        "limit": query_values, "offset": query_values,
        "status": st.sampled_from(["active", "archived", "all", "deleted"]) | query_values,
    },
)


@FUZZ
@given(params=execution_queries, extra=st.dictionaries(st.text(max_size=6), query_values,
                                                       max_size=2))
def test_list_executions_random_queries(scratch: httpx.Client, params: dict[str, str],
                                        extra: dict[str, str]) -> None:
    response = _send(scratch, "GET", "/executions", params={**extra, **params})
    if response.status_code == 200:
        body = response.json()
        page = body["pagination"]
        assert len(body["executions"]) <= page["limit"] <= 100
        assert page["has_more"] == (page["offset"] + len(body["executions"]) < page["total"])


@FUZZ
@given(params=template_queries, raw_query=st.text(max_size=40))
def test_list_templates_random_queries(scratch: httpx.Client, params: dict[str, str],
                                       raw_query: str) -> None:
    response = _send(scratch, "GET", "/templates", params=params)
    if response.status_code == 200:
        body = response.json()
        assert len(body["templates"]) <= body["pagination"]["limit"]
    _send(scratch, "GET", "/templates?" + quote(raw_query, safe="=&"))


# --------------------------------------------------------------------------- path ids

path_ids = st.text(max_size=30) | st.sampled_from([
    "fuzz_target", "fuzz_json", "exec_0000000000000000", "tmpl_0000000000000000", ".", "..",
    "%", "%00", "a/b", "a?b=c", "a#b", " ", "\x00", "\u2028", "x" * 5000,
])


@FUZZ
@given(ident=path_ids, version=st.text(max_size=8),
       action=st.sampled_from(["GET exec", "GET", "PUT", "DELETE", "versions", "version"]),
       body=template_bodies | json_values)
def test_random_path_ids(scratch: httpx.Client, ident: str, version: str, action: str,
                         body: Any) -> None:
    quoted = quote(ident, safe="")
    if action == "GET exec":
        _send(scratch, "GET", f"/executions/{quoted}")
    elif action == "versions":
        _send(scratch, "GET", f"/templates/{quoted}/versions")
    elif action == "version":
        _send(scratch, "GET", f"/templates/{quoted}/versions/{quote(version, safe='')}")
    elif action == "PUT":
        _send(scratch, "PUT", f"/templates/{quoted}", json=body)
    else:
        _send(scratch, action, f"/templates/{quoted}")


KNOWN_PATHS = [
    "/execute", "/executions", "/executions/exec_0000", "/templates", "/templates/fuzz_target",
    "/templates/fuzz_target/versions", "/templates/fuzz_target/versions/1.0", "/auth/verify",
    "/rate-limits", "/models", "/openapi.json", "/batch", "/nowhere",
]


# Methods the HTTP parser knows (standard and WebDAV); any of them reaches the application.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND",
           "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "PURGE"]


@FEW
@given(method=st.sampled_from(METHODS), path=st.sampled_from(KNOWN_PATHS),
       body=st.none() | any_body)
def test_random_methods_on_known_paths(scratch: httpx.Client, method: str, path: str,
                                       body: Any) -> None:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    _send(scratch, method, path, **kwargs)


@pytest.mark.parametrize("method", [
    "QUERY",
    # uvicorn's httptools parser answers methods it does not know itself, in plain text,
    # before the app sees the request: a known limitation, kept visible (strict xfail).
    pytest.param("FETCH", marks=pytest.mark.xfail(strict=True, reason="rejected by uvicorn "
                                                   "before the app: plain-text 400")),
])
def test_extension_methods_get_the_error_shape(scratch: httpx.Client, method: str) -> None:
    """RFC 9110 allows extension methods; the answer must still be the spec's error (405),
    not the HTTP layer's plain-text 400 with no request id."""
    _send(scratch, method, "/execute")


@FEW
@given(authorization=st.none()
       | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).filter(
           lambda s: s == s.strip())
       | st.sampled_from(["Bearer", "bearer pe_sk_live_", "Basic abc", "Bearer  pe_sk_live_x",
                          "Bearer pe_sk_live_abc123def456ghi789",
                          "Bearer pe_sk_test_" + "0" * 40]),
       path=st.sampled_from(["/execute", "/executions", "/templates", "/auth/verify"]))
def test_random_authorization_headers(server: ServerHandle, authorization: str | None,
                                      path: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        response = c.request("POST" if path == "/execute" else "GET", path, headers=headers,
                             json={"prompt": "hi"} if path == "/execute" else None)
    check(response)
    assert response.status_code == 401


# --------------------------------------------------------------------------- simulated failures


def test_simulated_model_failures_keep_the_error_shape(scratch: httpx.Client) -> None:
    """The simulator's deliberate model failures: the only 5xx the server means to send, still
    in the spec's shape, and stored as failed executions."""
    for fail, code in (("server_error", "MODEL_PROVIDER_ERROR"), ("timeout", "MODEL_TIMEOUT")):
        response = scratch.post("/execute", json={
            "prompt": "fail please", "model_config": {"simulate": {"fail": fail}},
        })
        assert response.status_code == 500, response.text
        error = response.json()["error"]
        assert set(response.json()) == {"error"}
        assert error["type"] == "execution_error" and error["code"] == code
        assert error["request_id"] == response.headers["x-request-id"]
        stored = scratch.get(f"/executions/{error['details']['execution_id']}").json()
        assert stored["status"] == "failed"


# --------------------------------------------------------------------------- the sandbox

SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ 9**(9**9) }}",  # what `9**9**9` means in Python
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ 'x'.format.__self__ }}",
    "{{ '{0.__class__}'.format('') }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
]


def _timed(c: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    started = time.monotonic()
    response = c.request(method, path, timeout=10, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < 3, (path, kwargs, f"took {elapsed:.1f}s")
    check(response)
    return response


def _assert_sandboxed(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["type"] == "template_error", response.text[:500]


@pytest.mark.parametrize("payload", SANDBOX_ESCAPES)
def test_sandbox_escapes_are_400s(server: ServerHandle, scratch: httpx.Client,
                                  payload: str) -> None:
    # As a stored template, then executed.
    created = _timed(scratch, "POST", "/templates",
                     json={"name": f"sandbox_{SANDBOX_ESCAPES.index(payload)}",
                           "prompt": payload})
    if created.status_code == 201:
        _assert_sandboxed(_timed(scratch, "POST", "/execute",
                                 json={"template_id": created.json()["template_id"]}))
    else:
        _assert_sandboxed(created)
    # As an inline prompt with variables (which renders it), streamed and not.
    _assert_sandboxed(_timed(scratch, "POST", "/execute",
                             json={"prompt": payload, "variables": {"x": 1}}))
    _assert_sandboxed(_timed(scratch, "POST", "/execute",
                             json={"prompt": payload, "variables": {"x": 1}, "stream": True}))
    # Without variables an inline prompt is sent as written: never evaluated.
    plain = _timed(scratch, "POST", "/execute", json={"prompt": payload})
    if plain.status_code == 200:
        assert plain.json()["rendered_prompt"] == payload
    else:
        _assert_sandboxed(plain)
    # And the server keeps serving.
    assert httpx.get(f"{server.url}/health", timeout=3).json() == {"status": "ok"}
    assert _timed(scratch, "POST", "/execute",
                  json={"template_id": "fuzz_target", "variables": {"who": "Ann"}}
                  ).status_code == 200


def test_nine_to_the_nine_to_the_nine(scratch: httpx.Client) -> None:
    """`{{ 9**9**9 }}`: Jinja's `**` is left-associative, so this is (9**9)**9, a 78-digit
    number, not Python's 9**(9**9) (asserted a 400 above). Either the sandbox refuses it, or it
    renders exactly that number; it never hangs and never 5xx."""
    for body in ({"prompt": "{{ 9**9**9 }}", "variables": {"x": 1}},
                 {"prompt": "{{ x**9**9 }}", "variables": {"x": 9}}):
        response = _timed(scratch, "POST", "/execute", json=body)
        if response.status_code == 200:
            assert response.json()["rendered_prompt"] == str((9**9) ** 9)
        else:
            _assert_sandboxed(response)


# Templates that pass every sandbox check yet make one render run for minutes or take
# gigabytes. Rendering runs on the event loop, so while one renders the whole server stops
# answering. Each runs on a server process of its own, killed afterwards, so a hang here
# cannot stall or starve the rest of the suite.
RESOURCE_BOMBS = [
    pytest.param("{{ lipsum(999999) }}", id="lipsum"),
    pytest.param("{{ (10**10000)**10000 }}", id="huge-base-power"),
    pytest.param("{{ 'ab'|center(999999999) }}", id="center-1e9"),
    pytest.param("{% for a in 'a' * 1000000 %}{% for b in 'a' * 1000000 %}{% endfor %}"
                 "{% endfor %}", id="nested-loops-over-strings"),
]
SERVER_SCRIPT = """
import socket, sys
from pathlib import Path
import uvicorn
from promptexecution.server.app import create_app
app = create_app(Path(sys.argv[1]))
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
sock.listen(64)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False)).run(sockets=[sock])
"""


@pytest.fixture
def isolated_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base_url, key) of a server in a child process of this test, killed at the end."""
    data_dir = tmp_path / "isolated"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v2", (data_dir / "local.key").read_text().strip()
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("payload", RESOURCE_BOMBS)
def test_resource_bombs_are_refused_quickly(isolated_server: tuple[str, str],
                                            payload: str) -> None:
    base_url, key = isolated_server
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.get("/auth/verify", timeout=5).status_code == 200
        try:
            response = c.post("/execute", json={"prompt": payload, "variables": {"x": 1}},
                              timeout=3)
        except httpx.TimeoutException:
            try:
                httpx.get(base_url.removesuffix("/v2") + "/health", timeout=1)
                others = "other requests were still answered"
            except httpx.TimeoutException:
                others = "and meanwhile GET /health got no answer either"
            pytest.fail(f"no answer within 3 s to a template rendering {payload!r}; {others}")
        check(response)
        _assert_sandboxed(response)
        assert c.get("/auth/verify", timeout=3).status_code == 200
