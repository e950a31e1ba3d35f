"""What an author needs beyond the spec: render preview, change notes, labels, per-version
figures."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerHandle, assert_error

GREETING = {
    "name": "greeting",
    "prompt": "Hello {{ name }}, welcome to {{ place }}!",
    "variables": [
        {"name": "name", "type": "string", "required": True},
        {"name": "place", "type": "string", "default": "pe"},
    ],
    "change_note": "first draft",
}


@pytest.fixture
def own(server: ServerHandle) -> httpx.Client:
    return server.client(server.make_key("professional"))


def _create(own: httpx.Client, **changes: object) -> str:
    response = own.post("/templates", json={**GREETING, **changes})
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


# ----------------------------------------------------------------------------- notes


def test_a_change_note_is_kept_with_its_version_and_alone_makes_no_version(
    own: httpx.Client,
) -> None:
    template_id = _create(own)
    assert own.get(f"/templates/{template_id}").json()["change_note"] == "first draft"
    second = own.put(f"/templates/{template_id}",
                     json={"prompt": "Hi {{ name }} at {{ place }}", "change_note": "shorter"})
    assert second.json()["version"] == "1.1" and second.json()["change_note"] == "shorter"
    again = own.put(f"/templates/{template_id}",
                    json={"prompt": "Hi {{ name }} at {{ place }}", "change_note": "other"})
    assert again.json()["version"] == "1.1" and again.json()["change_note"] == "shorter"
    versions = own.get(f"/templates/{template_id}/versions").json()["versions"]
    assert [(v["version"], v["change_note"]) for v in versions] == [
        ("1.0", "first draft"), ("1.1", "shorter")]
    old = own.get(f"/templates/{template_id}/versions/1.0").json()
    assert old["change_note"] == "first draft"
    too_long = own.put(f"/templates/{template_id}", json={"change_note": "x" * 1001})
    assert_error(too_long, 400, "validation_error", "INVALID_FIELD")


def test_an_edit_from_an_older_version_is_refused_not_saved_over_the_newer_one(
    own: httpx.Client,
) -> None:
    template_id = _create(own)
    own.put(f"/templates/{template_id}", json={"prompt": "A colleague's {{ name }}"})
    stale = own.put(f"/templates/{template_id}",
                    json={"tags": ["mine"], "base_version": "1.0"})
    assert_error(stale, 409, "conflict_error", "VERSION_CONFLICT")
    details = stale.json()["error"]["details"]
    assert details == {"current_version": "1.1", "base_version": "1.0"}
    assert own.get(f"/templates/{template_id}").json()["version"] == "1.1"
    fresh = own.put(f"/templates/{template_id}", json={"tags": ["mine"], "base_version": "1.1"})
    assert fresh.status_code == 200 and fresh.json()["version"] == "1.2"
    assert fresh.json()["prompt"] == "A colleague's {{ name }}"


def test_two_edits_at_once_make_two_versions(server: ServerHandle, own: httpx.Client) -> None:
    """Each PUT's Jinja check awaits a render worker; the current version was read before
    that await, so two at once both made 1.1."""
    import concurrent.futures

    template_id = _create(own)
    key = own.headers["Authorization"].split()[-1]

    def put(text: str) -> httpx.Response:
        with server.client(key) as client:
            return client.put(f"/templates/{template_id}",
                              json={"prompt": f"{{% if name %}}{text} {{{{ name }}}}{{% endif %}}"})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(put, ["one", "two", "three", "four"]))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    versions = [v["version"] for v in
                own.get(f"/templates/{template_id}/versions").json()["versions"]]
    assert versions == ["1.0", "1.1", "1.2", "1.3", "1.4"]


# ----------------------------------------------------------------------------- preview


def test_preview_renders_an_unsaved_body_with_defaults_and_sample_values(
    own: httpx.Client,
) -> None:
    body = {"prompt": GREETING["prompt"], "template_variables": GREETING["variables"],
            "variables": {"name": "Ada"}}
    answer = own.post("/preview", json=body)
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["valid"] is True and preview["problems"] == []
    assert preview["rendered_prompt"] == "Hello Ada, welcome to pe!"
    assert preview["variables_used"] == ["name", "place"]


def test_preview_reports_undeclared_unused_and_missing_names(own: httpx.Client) -> None:
    body = {"prompt": "{{ greeting }} {{ name }}",
            "template_variables": [{"name": "name", "required": True}, {"name": "spare"}]}
    preview = own.post("/preview", json=body).json()
    assert preview["undeclared_variables"] == ["greeting"]
    assert preview["unused_variables"] == ["spare"]
    assert preview["missing_variables"] == ["greeting", "name"]
    codes = [p["code"] for p in preview["problems"]]
    assert codes == ["UNDECLARED_VARIABLE", "UNUSED_VARIABLE", "TEMPLATE_VARIABLE_MISSING"]
    assert preview["valid"] is False and preview["rendered_prompt"] is None


@pytest.mark.parametrize(
    ("prompt", "line", "column"),
    [
        ("Hello {{ name }\nbye", 1, 15),
        ("line one\n{% if x %}\nno end", 2, 1),  # the block left open
        ("ok\n  {% frobnicate %}", 2, 6),
        ("{{ a }} and {{ b + }}", 1, 13),  # no literal token named: the block's start
    ],
)
def test_preview_gives_a_syntax_error_its_line_and_column(
    own: httpx.Client, prompt: str, line: int, column: int
) -> None:
    preview = own.post("/preview", json={"prompt": prompt}).json()
    assert preview["valid"] is False
    [problem] = preview["problems"]
    assert problem["code"] == "TEMPLATE_SYNTAX_ERROR"
    assert (problem["line"], problem["column"]) == (line, column), problem


def test_preview_of_a_stored_version_and_label(own: httpx.Client) -> None:
    template_id = _create(own)
    own.put(f"/templates/{template_id}", json={"prompt": "v2 {{ name }}"})
    own.put(f"/templates/{template_id}/labels/production", json={"version": "1.0"})
    values = {"variables": {"name": "Bo"}}
    current = own.post("/preview", json={"template_id": template_id, **values})
    assert current.json()["rendered_prompt"] == "v2 Bo"
    pinned = own.post("/preview",
                      json={"template_id": template_id, "template_version": "1.0", **values})
    assert pinned.json()["rendered_prompt"] == "Hello Bo, welcome to pe!"
    labelled = own.post("/preview",
                        json={"template_id": template_id, "template_label": "production",
                              **values})
    assert labelled.json()["rendered_prompt"] == "Hello Bo, welcome to pe!"
    edited = own.post("/preview",
                      json={"template_id": template_id, "prompt": "draft {{ name }}", **values})
    assert edited.json()["rendered_prompt"] == "draft Bo"


def test_preview_refuses_what_execute_refuses(own: httpx.Client, server: ServerHandle) -> None:
    assert_error(own.post("/preview", json={}), 400, "validation_error",
                 "MISSING_REQUIRED_FIELD")
    assert_error(own.post("/preview", json={"template_id": "nope"}), 404,
                 "not_found_error", "TEMPLATE_NOT_FOUND")
    assert_error(own.post("/preview", json={"prompt": "x", "template_label": "a"}),
                 400, "validation_error", "INVALID_FIELD")
    # The sandbox and its limits are execute's: no attribute escapes, no runaway loops.
    escape = own.post("/preview",
                      json={"prompt": "{{ ''.__class__.__mro__ }}"}).json()
    assert escape["valid"] is False
    assert escape["problems"][0]["code"] == "TEMPLATE_SECURITY_VIOLATION"
    runaway = own.post("/preview", json={
        "prompt": "{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}"
                  "{% endfor %}"}).json()
    assert runaway["valid"] is False
    assert runaway["problems"][0]["code"] in ("TEMPLATE_RENDER_LIMIT",
                                              "TEMPLATE_SECURITY_VIOLATION")


def test_preview_spends_no_quota(server: ServerHandle) -> None:
    client = server.client(server.make_key("basic"))
    first = client.post("/preview", json={"prompt": "hi {{ x }}",
                                                    "variables": {"x": 1}})
    for _ in range(30):  # beyond the basic plan's burst
        answer = client.post("/preview", json={"prompt": "hi {{ x }}",
                                                         "variables": {"x": 1}})
        assert answer.status_code == 200, answer.text
    assert answer.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]


def test_busy_render_workers_are_a_503_not_an_invalid_template(
    server: ServerHandle, own: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptexecution.server.core.errors import ApiError

    async def busy(source: str, account_id: str) -> object:
        raise ApiError("service_unavailable", "RENDERER_BUSY", "The template could not be "
                       "rendered now: every worker is busy; retry shortly",
                       headers={"Retry-After": "1"})

    monkeypatch.setattr(server.ctx.renderer, "referenced", busy)
    answer = own.post("/preview", json={"prompt": "{% if a %}{{ a }}{% endif %}"})
    assert_error(answer, 503, "service_unavailable", "RENDERER_BUSY")
    assert answer.headers["retry-after"] == "1"


def test_an_account_renders_at_most_two_previews_at_once(
    server: ServerHandle, own: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Previews spend no quota: six looping ones from one basic key slowed every other
    account's Jinja executes by seconds (an attacker's find). A third at once is a 429."""
    import asyncio
    import concurrent.futures

    referenced = server.ctx.renderer.referenced

    async def slow(source: str, account_id: str) -> object:
        await asyncio.sleep(0.5)
        return await referenced(source, account_id)

    monkeypatch.setattr(server.ctx.renderer, "referenced", slow)
    key = own.headers["Authorization"].split()[-1]

    def preview(_: int) -> httpx.Response:
        with server.client(key) as client:
            return client.post("/preview", json={"prompt": "hi {{ x }}"})

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(preview, range(3)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 429], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 429)
    assert_error(refused, 429, "rate_limit_error", "CONCURRENT_LIMIT_EXCEEDED")
    assert refused.headers["retry-after"] == "1" and "x-ratelimit-limit" in refused.headers
    other = server.client(server.make_key("professional"))
    assert other.post("/preview", json={"prompt": "hi {{ x }}"}).status_code == 200


def test_a_long_stats_scan_leaves_the_server_answering(
    server: ServerHandle, own: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan ran on the event loop: with 40,000 runs a call held /health up 227 ms."""
    import threading
    import time

    from promptexecution.server.executions import stats

    template_id = _create(own)
    scanning, release = threading.Event(), threading.Event()
    figures = stats._figures

    def slow(*args: object) -> object:
        scanning.set()
        release.wait(5)
        return figures(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(stats, "_figures", slow)
    answers: list[httpx.Response] = []
    key = own.headers["Authorization"].split()[-1]
    caller = threading.Thread(target=lambda: answers.append(
        server.client(key).get(f"/templates/{template_id}/stats")))
    caller.start()
    assert scanning.wait(5)
    started = time.monotonic()
    assert own.get(server.url + "/health").status_code == 200
    assert time.monotonic() - started < 1  # answered while the scan still runs
    release.set()
    caller.join(5)
    assert answers and answers[0].status_code == 200


# ----------------------------------------------------------------------------- labels


def test_labels_set_move_back_and_remove(own: httpx.Client) -> None:
    template_id = _create(own)
    own.put(f"/templates/{template_id}", json={"prompt": "v2 {{ name }}"})
    set_ = own.put(f"/templates/{template_id}/labels/production", json={"version": "1.0"})
    assert set_.status_code == 200, set_.text
    assert set_.json()["version"] == "1.0" and set_.json()["previous_version"] is None
    moved = own.put(f"/templates/{template_id}/labels/production", json={"version": "1.1"})
    assert (moved.json()["version"], moved.json()["previous_version"]) == ("1.1", "1.0")
    same = own.put(f"/templates/{template_id}/labels/production", json={"version": "1.1"})
    assert same.json()["previous_version"] == "1.0"  # setting it again keeps where it was
    template = own.get(f"/templates/{template_id}").json()
    assert template["labels"] == {"production": "1.1"}
    versions = own.get(f"/templates/{template_id}/versions").json()["versions"]
    assert [v["labels"] for v in versions] == [[], ["production"]]
    listed = own.get(f"/templates/{template_id}/labels").json()["labels"]
    assert [(x["label"], x["version"]) for x in listed] == [("production", "1.1")]
    removed = own.delete(f"/templates/{template_id}/labels/production")
    assert removed.json()["label"] == "production"
    assert_error(own.delete(f"/templates/{template_id}/labels/production"), 404,
                 "not_found_error", "TEMPLATE_LABEL_NOT_FOUND")


def test_labels_refuse_bad_names_versions_and_latest(own: httpx.Client) -> None:
    template_id = _create(own)
    assert_error(own.put(f"/templates/{template_id}/labels/Prod!", json={"version": "1.0"}),
                 400, "validation_error", "INVALID_LABEL")
    assert_error(own.put(f"/templates/{template_id}/labels/latest", json={"version": "1.0"}),
                 400, "validation_error", "LABEL_RESERVED")
    assert_error(own.put(f"/templates/{template_id}/labels/prod", json={"version": "9.9"}),
                 404, "not_found_error", "TEMPLATE_VERSION_NOT_FOUND")
    assert_error(own.put("/templates/nope/labels/prod", json={"version": "1.0"}),
                 404, "not_found_error", "TEMPLATE_NOT_FOUND")


def test_execute_and_batch_run_the_labelled_version(own: httpx.Client) -> None:
    template_id = _create(own)
    own.put(f"/templates/{template_id}", json={"prompt": "v2 {{ name }}"})
    own.put(f"/templates/{template_id}/labels/stable", json={"version": "1.0"})
    run = own.post("/execute", json={"template_id": template_id, "template_label": "stable",
                                     "variables": {"name": "Cy"}}).json()
    assert run["template_version"] == "1.0" and run["rendered_prompt"].startswith("Hello Cy")
    latest = own.post("/execute", json={"template_id": template_id, "template_label": "latest",
                                        "variables": {"name": "Cy"}}).json()
    assert latest["template_version"] == "1.1"
    # Moving the label is seen by the very next run (no stale cache).
    own.put(f"/templates/{template_id}/labels/stable", json={"version": "1.1"})
    moved = own.post("/execute", json={"template_id": template_id, "template_label": "stable",
                                       "variables": {"name": "Cy"}}).json()
    assert moved["template_version"] == "1.1"
    unknown = own.post("/execute", json={"template_id": template_id, "template_label": "gone",
                                         "variables": {"name": "Cy"}})
    assert_error(unknown, 404, "not_found_error", "TEMPLATE_LABEL_NOT_FOUND")
    both = own.post("/execute", json={"template_id": template_id, "template_label": "stable",
                                      "template_version": "1.0", "variables": {"name": "Cy"}})
    assert_error(both, 400, "validation_error", "CONFLICTING_FIELDS")
    raw = own.post("/execute", json={"prompt": "x", "template_label": "stable"})
    assert_error(raw, 400, "validation_error", "INVALID_FIELD")
    own.put(f"/templates/{template_id}/labels/stable", json={"version": "1.0"})
    batch = own.post("/batch", json={"template_id": template_id, "template_label": "stable",
                                     "inputs": [{"variables": {"name": "Di"}}]})
    assert batch.status_code in (200, 202), batch.text
    own.put(f"/templates/{template_id}/labels/stable", json={"version": "1.1"})
    batch_id = batch.json()["batch_id"]
    results = _batch_results(own, batch_id)
    execution = own.get(f"/executions/{results[0]['execution_id']}").json()
    assert execution["template_version"] == "1.0"  # the label was read at submit
    assert_error(own.post("/batch", json={"template_id": template_id, "template_label": "gone",
                                          "inputs": [{"variables": {"name": "Di"}}]}),
                 404, "not_found_error", "TEMPLATE_LABEL_NOT_FOUND")


def test_a_label_moved_while_a_batch_is_checked_does_not_change_what_it_runs(
    server: ServerHandle, own: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submit read the label twice, before and after awaiting a render worker: moved in
    between, the batch was checked against 1.0 and stored to run 1.1 (an attacker's find)."""
    template_id = _create(own, prompt="{% if name %}Hello {{ name }}{% endif %}")
    own.put(f"/templates/{template_id}", json={
        "prompt": "Hi {{ other }}", "variables": [{"name": "other", "required": True}]})
    own.put(f"/templates/{template_id}/labels/prod", json={"version": "1.0"})
    renderer = server.ctx.renderer
    referenced = renderer.referenced

    async def moved_meanwhile(source: str, account_id: str) -> object:
        found = await referenced(source, account_id)
        server.ctx.templates.set_label(template_id, "prod", "1.1", 1)
        return found

    monkeypatch.setattr(renderer, "referenced", moved_meanwhile)
    batch = own.post("/batch", json={"template_id": template_id, "template_label": "prod",
                                     "inputs": [{"variables": {"name": "Di"}}]})
    assert batch.status_code == 202, batch.text
    monkeypatch.undo()
    results = _batch_results(own, batch.json()["batch_id"])
    assert results[0]["status"] == "completed", results
    execution = own.get(f"/executions/{results[0]['execution_id']}").json()
    assert execution["template_version"] == "1.0"


def _batch_results(own: httpx.Client, batch_id: str) -> list[dict[str, object]]:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = own.get(f"/batch/{batch_id}").json()["status"]
        if status in ("completed", "failed"):
            break
        time.sleep(0.05)
    results: list[dict[str, object]] = own.get(f"/batch/{batch_id}/results").json()["results"]
    return results


# ----------------------------------------------------------------------------- stats


def test_stats_per_version(own: httpx.Client) -> None:
    template_id = _create(own)
    for _ in range(3):
        own.post("/execute", json={"template_id": template_id, "variables": {"name": "E"}})
    own.put(f"/templates/{template_id}", json={"prompt": "v2 {{ name }}"})
    own.post("/execute", json={"template_id": template_id, "variables": {"name": "E"},
                               "model_config": {"simulate": {"fail": "server_error"}}})
    own.post("/execute", json={"template_id": template_id, "variables": {"name": "E"}})
    answer = own.get(f"/templates/{template_id}/stats")
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["versions"]
    assert (first["version"], first["executions"], first["failed"]) == ("1.0", 3, 0)
    assert first["failure_rate"] == 0.0 and first["latency_p50"] is not None
    assert first["average_cost"] > 0
    assert (second["version"], second["executions"], second["failed"]) == ("1.1", 2, 1)
    assert second["failure_rate"] == 0.5
    assert first["latency_p50"] <= first["latency_p95"]
    assert first["completed"] + first["failed"] + first["cancelled"] == first["executions"]
    empty = own.get(f"/templates/{_create(own, name='unused')}/stats").json()["versions"]
    assert empty == [{"version": "1.0", "executions": 0, "completed": 0, "failed": 0,
                      "cancelled": 0, "failure_rate": None, "latency_p50": None,
                      "latency_p95": None, "average_cost": None}]


def test_an_archived_template_keeps_its_labels_as_they_were(own: httpx.Client) -> None:
    template_id = _create(own)
    own.put(f"/templates/{template_id}/labels/prod", json={"version": "1.0"})
    own.delete(f"/templates/{template_id}")
    assert_error(own.put(f"/templates/{template_id}/labels/prod", json={"version": "1.0"}),
                 404, "not_found_error", "TEMPLATE_ARCHIVED")
    assert_error(own.delete(f"/templates/{template_id}/labels/prod"),
                 404, "not_found_error", "TEMPLATE_ARCHIVED")
    assert own.get(f"/templates/{template_id}/labels").json()["labels"][0]["version"] == "1.0"


def test_a_template_holds_at_most_a_hundred_labels(own: httpx.Client) -> None:
    template_id = _create(own)
    for i in range(100):
        assert own.put(f"/templates/{template_id}/labels/l{i}",
                       json={"version": "1.0"}).status_code == 200
    assert_error(own.put(f"/templates/{template_id}/labels/one-more", json={"version": "1.0"}),
                 400, "validation_error", "TOO_MANY_LABELS")
    assert own.put(f"/templates/{template_id}/labels/l5", json={"version": "1.0"}
                   ).status_code == 200  # moving one that exists is fine


def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_header(
    server: ServerHandle, own: httpx.Client
) -> None:
    template_id = _create(own)
    answer = own.put(f"/templates/{template_id}/labels/", json={"version": "1.0"},
                     headers={"Host": "evil.example"})
    assert "location" not in answer.headers
    assert_error(answer, 404, "not_found_error", "ROUTE_NOT_FOUND")
    health = httpx.get(server.url + "/health/", headers={"Host": "evil.example"})
    assert health.status_code == 404 and "location" not in health.headers

