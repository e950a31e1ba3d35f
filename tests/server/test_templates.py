"""Templates: create, list (q, tag), read by id or name, versions, update, archive."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerHandle, assert_error

BASE = {
    "name": "release_notes",
    "description": "Release notes from a change list",
    "prompt": (
        "Write release notes for {{ product }}:\n{% for c in changes %}- {{ c }}\n{% endfor %}"
    ),
    "variables": [
        {"name": "product", "type": "string", "required": True},
        {"name": "changes", "type": "array", "required": True},
        {"name": "tone", "type": "string", "default": "friendly"},
    ],
    "default_config": {"temperature": 0.4, "max_tokens": 300},
    "tags": ["docs", "release"],
}


@pytest.fixture
def own(server: ServerHandle) -> httpx.Client:
    return server.client(server.make_key("professional"))


def test_create_read_and_run(own: httpx.Client) -> None:
    created = own.post("/templates", json=BASE)
    assert created.status_code == 201
    body = created.json()
    assert body["template_id"].startswith("tmpl_")
    assert body["version"] == "1.0" and body["status"] == "active"
    assert body["url"].endswith(f"/v2/templates/{body['template_id']}")
    assert own.get(f"/templates/{body['template_id']}").json() == body
    assert own.get("/templates/release_notes").json() == body
    run = own.post("/execute", json={"template_id": "release_notes",
                                     "variables": {"product": "pe", "changes": ["a", "b"]}})
    assert run.json()["rendered_prompt"] == "Write release notes for pe:\n- a\n- b\n"
    assert run.json()["metadata"]["variables_used"]["tone"] == "friendly"


def test_versions_are_immutable_and_pinnable(own: httpx.Client) -> None:
    template_id = own.post("/templates", json=BASE).json()["template_id"]
    updated = own.put(f"/templates/{template_id}", json={"prompt": "v2 for {{ product }}"})
    assert updated.status_code == 200 and updated.json()["version"] == "1.1"
    assert updated.json()["tags"] == BASE["tags"]  # what a PUT leaves out is carried over
    same = own.put(f"/templates/{template_id}", json={"prompt": "v2 for {{ product }}"})
    assert same.json()["version"] == "1.1"  # an identical PUT stores nothing new
    versions = own.get(f"/templates/{template_id}/versions").json()
    assert versions["current_version"] == "1.1"
    assert [v["version"] for v in versions["versions"]] == ["1.0", "1.1"]
    old = own.get(f"/templates/{template_id}/versions/1.0").json()
    assert old["prompt"] == BASE["prompt"] and old["version"] == "1.0"
    variables = {"product": "pe", "changes": ["x"]}
    pinned = own.post("/execute", json={"template_id": template_id, "template_version": "1.0",
                                        "variables": variables}).json()
    latest = own.post("/execute", json={"template_id": template_id,
                                        "variables": variables}).json()
    assert pinned["rendered_prompt"].startswith("Write release notes")
    assert pinned["template_version"] == "1.0"
    assert latest["rendered_prompt"] == "v2 for pe"
    assert_error(own.get(f"/templates/{template_id}/versions/7.0"), 404, "not_found_error",
                 "TEMPLATE_VERSION_NOT_FOUND")


def test_archive_keeps_history_but_stops_runs(own: httpx.Client) -> None:
    template_id = own.post("/templates", json=BASE).json()["template_id"]
    execution = own.post("/execute", json={"template_id": template_id,
                                           "variables": {"product": "p", "changes": []}}).json()
    archived = own.delete(f"/templates/{template_id}")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert own.get(f"/templates/{template_id}").json()["status"] == "archived"
    assert own.get(f"/executions/{execution['execution_id']}").status_code == 200
    assert own.get(f"/templates/{template_id}/versions").status_code == 200
    response = own.post("/execute", json={"template_id": template_id,
                                          "variables": {"product": "p", "changes": []}})
    assert_error(response, 404, "not_found_error", "TEMPLATE_ARCHIVED")
    assert_error(own.put(f"/templates/{template_id}", json={"prompt": "x"}), 404,
                 "not_found_error", "TEMPLATE_ARCHIVED")
    assert own.post("/templates", json=BASE).status_code == 201  # the name is free again
    listed = own.get("/templates", params={"status": "archived"}).json()
    assert [t["template_id"] for t in listed["templates"]] == [template_id]


def test_list_filters_and_pagination(own: httpx.Client) -> None:
    for i in range(5):
        own.post("/templates", json={**BASE, "name": f"notes_{i}",
                                     "tags": ["even" if i % 2 == 0 else "odd"]})
    own.post("/templates", json={**BASE, "name": "other", "description": "100% special_x"})
    page = own.get("/templates", params={"limit": 2}).json()
    assert page["pagination"] == {"total": 6, "limit": 2, "offset": 0, "has_more": True}
    assert own.get("/templates", params={"tag": "even"}).json()["pagination"]["total"] == 3
    assert own.get("/templates", params={"q": "notes_3"}).json()["templates"][0]["name"] == (
        "notes_3"
    )
    assert own.get("/templates", params={"q": "100%"}).json()["pagination"]["total"] == 1
    assert own.get("/templates", params={"q": "_x"}).json()["pagination"]["total"] == 1


def test_list_sorted_by_newest_change(own: httpx.Client) -> None:
    """sort=updated puts the most recent change first: the console polls one row of it to
    notice templates made or changed elsewhere."""
    ids = [own.post("/templates", json={**BASE, "name": f"t_{i}"}).json()["template_id"]
           for i in range(3)]
    own.put(f"/templates/{ids[0]}", json={"description": "touched"})
    newest = own.get("/templates", params={"sort": "updated", "limit": 1}).json()["templates"]
    assert newest[0]["template_id"] == ids[0]
    by_name = own.get("/templates").json()["templates"]
    assert [t["name"] for t in by_name] == ["t_0", "t_1", "t_2"]
    assert own.get("/templates", params={"sort": "size"}).status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "type_", "code"),
    [
        ({**BASE, "prompt": "{% if %}"}, 400, "template_error", "TEMPLATE_SYNTAX_ERROR"),
        ({**BASE, "variables": [{"name": "a"}, {"name": "a"}]}, 400, "validation_error",
         "DUPLICATE_VARIABLE"),
        ({**BASE, "variables": [{"name": "n", "type": "integer", "default": "x"}]}, 400,
         "validation_error", "INVALID_VARIABLE_DEFAULT"),
        ({**BASE, "variables": [{"name": "1bad"}]}, 400, "validation_error", "INVALID_FIELD"),
        ({**BASE, "variables": [{"name": "v", "type": "date"}]}, 400, "validation_error",
         "INVALID_FIELD"),
        ({"prompt": "no name"}, 400, "validation_error", "MISSING_REQUIRED_FIELD"),
        ({**BASE, "default_config": {"model": "nope"}}, 400, "validation_error",
         "MODEL_NOT_FOUND"),
    ],
)
def test_bad_templates(own: httpx.Client, body: dict[str, object], status: int, type_: str,
                       code: str) -> None:
    assert_error(own.post("/templates", json=body), status, type_, code)


def test_name_conflicts(own: httpx.Client) -> None:
    first = own.post("/templates", json=BASE).json()
    assert_error(own.post("/templates", json=BASE), 409, "conflict_error", "TEMPLATE_NAME_TAKEN")
    second = own.post("/templates", json={**BASE, "name": "second"}).json()
    assert_error(own.put(f"/templates/{second['template_id']}", json={"name": BASE["name"]}),
                 409, "conflict_error", "TEMPLATE_NAME_TAKEN")
    renamed = own.put(f"/templates/{first['template_id']}", json={"name": "renamed"}).json()
    assert renamed["name"] == "renamed" and renamed["version"] == "1.1"


def test_unknown_template(own: httpx.Client) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = own.request(method, "/templates/tmpl_missing",
                               json={"prompt": "x"} if method == "PUT" else None)
        assert_error(response, 404, "not_found_error", "TEMPLATE_NOT_FOUND")


def test_seeded_templates_exist(client: httpx.Client) -> None:
    names = {t["name"] for t in client.get("/templates", params={"limit": 100}).json()["templates"]}
    for name in ("greeting_template", "blog_post_seo_v2", "product_description_v3",
                 "support_classification_v3", "sentiment_analysis_detailed_v1",
                 "customer_sentiment_analysis", "product_review_summary",
                 "customer_email_response", "support_response_shipping"):
        assert name in names


def test_create_with_an_idempotency_key_replays(own: httpx.Client) -> None:
    headers = {"Idempotency-Key": "tmpl-once"}
    first = own.post("/templates", json=BASE, headers=headers)
    again = own.post("/templates", json=BASE, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert own.get("/templates").json()["pagination"]["total"] == 1
